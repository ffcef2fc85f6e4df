import { execFile, spawn } from 'node:child_process';
import { promisify } from 'node:util';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterEach, describe, expect, it } from 'vitest';
import { connect } from '../../src/client/index.js';
import { startTestMaster } from '../helpers/master.js';
import { readmeBlock } from '../helpers/readme.js';

const run = promisify(execFile);
const CLI = new URL('../../bin/cfgproxy.js', import.meta.url).pathname;
const toClose: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const close of toClose.splice(0).reverse()) await close();
});

describe('the README\'s CLI examples', () => {
  it('readme - every CLI example runs as written against the demo\'s data (sample configuration, password demo) and prints what its comment says', async () => {
    const { master, cleanup } = await startTestMaster({ adminPassword: 'demo' });
    toClose.push(cleanup);
    const dir = mkdtempSync(join(tmpdir(), 'cfgproxy-readme-'));
    toClose.push(async () => rmSync(dir, { recursive: true, force: true }));
    writeFileSync(join(dir, 'dn.yaml'), `${readmeBlock('dn.yaml').join('\n')}\n`);
    writeFileSync(join(dir, 'delta.yaml'), `${readmeBlock('delta.yaml').join('\n')}\n`);
    const lines = readmeBlock('cli');
    const env = { ...process.env, CFGPROXY_SERVER: `127.0.0.1:${master.port}` }; // the demo's master, here on a free port
    const cfgproxy = (line: string): string => line.replace(/(^|\$\(|\| |exec )npx cfgproxy /g, `$1"${process.execPath}" "${CLI}" `);
    const shell = (line: string): string => [...lines.filter((l) => l.startsWith('export ')), cfgproxy(line)].join('\n');
    // The block as one script, as a person pastes it (watch, which runs until Ctrl-C, apart).
    const script = lines.filter((line) => !line.includes('cfgproxy watch')).map(cfgproxy).join('\n');
    const { stdout } = await run('sh', ['-ec', script], { cwd: dir, env, encoding: 'utf8' });
    const output = stdout.split('\n');
    expect(output[0]).toMatch(/^DN\t\d+\t5001\t/);
    expect(output[1]).toMatch(/^ok: dbid \d+, seq \d+$/); // the update: the create printed only its dbid, into $dn
    const made = Number(/^ok: dbid (\d+)/.exec(output[1]!)![1]);
    expect(output[2]).toMatch(/^deleted: seq \d+/);
    expect(master.source.store.get('DN', made)).toBeUndefined(); // created, updated, then removed by the examples
    expect(existsSync(join(dir, 'config.yaml')) && existsSync(join(dir, 'backups', 'master.db'))).toBe(true);

    // Changing one's own password, as the README shows it.
    await run('sh', ['-ec', shell(readmeBlock('own-password')[0]!)], { cwd: dir, env });
    const relogged = await connect({ endpoints: `127.0.0.1:${master.port}`, user: 'admin', password: 'a-new-one', reconnect: false, standby: false });
    await relogged.update('Person', (await relogged.readAll('Person', { name: 'admin' }))[0]!.dbid, { props: { password: 'demo', oldPassword: 'a-new-one' } });
    await relogged.close();

    // The proxy account of "Running a proxy", then a proxy logged in with it.
    const [accountLine] = readmeBlock('proxy-account');
    await run('sh', ['-ec', shell(accountLine!)], { cwd: dir, env });
    const proxyAccount = await connect({ endpoints: `127.0.0.1:${master.port}`, user: 'proxy', password: 'choose-one', clientType: 'proxy', reconnect: false });
    await proxyAccount.close();

    // watch runs until Ctrl-C: it says it is watching, then prints a change.
    const watchLine = lines.find((l) => l.startsWith('npx cfgproxy watch'))!;
    // exec: the shell becomes the CLI, so killing it ends the CLI too.
    const watch = spawn('sh', ['-ec', shell(`exec ${watchLine.split('#')[0]!}`)], { cwd: dir, env });
    toClose.push(async () => void watch.kill('SIGKILL'));
    await new Promise<void>((resolve) => createInterface({ input: watch.stderr! }).on('line', (line) => line.startsWith('watching from seq') && resolve()));
    const printed = new Promise<string>((resolve) => createInterface({ input: watch.stdout! }).once('line', resolve));
    await run('sh', ['-ec', shell('npx cfgproxy put dn.yaml')], { cwd: dir, env });
    expect(JSON.parse(await printed)).toMatchObject({ kind: 'ObjectCreated', object: { type: 'DN', name: '5099' } });
  });
});
