import { execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { connect } from '../../src/client/index.js';
import { freePort, killed, startCli } from '../helpers/processes.js';
import { scenarioHooks } from '../helpers/scenario.js';

const { tempDir, toClose } = scenarioHooks('first-start');
const run = promisify(execFile);
const CLI = new URL('../../bin/cfgproxy.js', import.meta.url).pathname;

/** Runs `cfgproxy master` until it prints the generated password (or exits); resolves with stderr. */
function masterPrintingPassword(args: string[]): Promise<{ password: string; stop(): Promise<void> }> {
  const env = { ...process.env };
  delete env.CFGPROXY_ADMIN_PASSWORD;
  const child = spawn(process.execPath, [CLI, 'master', ...args], { env, stdio: ['ignore', 'ignore', 'pipe'] });
  let text = '';
  return new Promise((resolve, reject) => {
    child.stderr.on('data', (chunk: Buffer) => {
      text += chunk.toString();
      const password = /user: admin {2}password: (\S+)/.exec(text)?.[1];
      if (password) resolve({ password, stop: () => killed(child) });
    });
    child.once('exit', (code) => reject(new Error(`master exited (${code}) without printing a password: ${text}`)));
  });
}

async function logsIn(port: number, password: string): Promise<boolean> {
  try {
    await (await connect({ endpoints: `127.0.0.1:${port}`, user: 'admin', password, reconnect: false, standby: false })).close();
    return true;
  } catch {
    return false;
  }
}

describe('a first start cannot lock anyone out', () => {
  it('first start - a master whose port is busy leaves no database behind; the next start prints the generated password, which logs in', async () => {
    const dir = tempDir();
    const db = join(dir, 'data', 'master.db');
    const busy = net.createServer();
    await new Promise<void>((resolve) => busy.listen(0, '127.0.0.1', resolve));
    toClose.push(() => new Promise((resolve) => busy.close(() => resolve())));
    const busyPort = (busy.address() as net.AddressInfo).port;
    const failed = await run(process.execPath, [CLI, 'master', '--db', db, '--port', String(busyPort)]).then(() => undefined, (error: { code: number; stderr: string }) => error);
    expect(failed?.code).toBe(2);
    expect(failed?.stderr).toMatch(new RegExp(`--port ${busyPort}.*in use`));
    expect(['', '-wal', '-shm', '.head'].filter((suffix) => existsSync(db + suffix))).toEqual([]);

    const port = await freePort();
    const master = await masterPrintingPassword(['--db', db, '--port', String(port)]);
    toClose.push(master.stop);
    expect(await logsIn(port, master.password)).toBe(true);
  });

  it('first start - a database where no administrator can log in: CFGPROXY_ADMIN_PASSWORD on a later start sets the admin password again', async () => {
    const dir = tempDir();
    const db = join(dir, 'master.db');
    const port = await freePort();
    let master = await startCli(['master', '--db', db, '--port', String(port)], 'master listening', { CFGPROXY_ADMIN_PASSWORD: 'first-password' });
    const admin = await connect({ endpoints: `127.0.0.1:${port}`, user: 'admin', password: 'first-password', reconnect: false, standby: false });
    const [me] = await admin.readAll('Person', { name: 'admin' });
    await admin.update('Person', me.dbid, { state: 'disabled' }); // the last administrator locks itself out
    await admin.close();
    await killed(master.child);
    expect(await logsIn(port, 'first-password')).toBe(false);

    master = await startCli(['master', '--db', db, '--port', String(port)], 'master listening', { CFGPROXY_ADMIN_PASSWORD: 'chosen-password' });
    expect(master.lines.some((line) => line.event === 'MASTER-003')).toBe(true);
    expect(await logsIn(port, 'chosen-password')).toBe(true);
    await killed(master.child);
    // Now an administrator can log in: a start with another password changes nothing.
    master = await startCli(['master', '--db', db, '--port', String(port)], 'master listening', { CFGPROXY_ADMIN_PASSWORD: 'ignored-now' });
    expect(master.lines.some((line) => line.event === 'MASTER-003')).toBe(false);
    expect(await logsIn(port, 'chosen-password')).toBe(true);
  });
});
