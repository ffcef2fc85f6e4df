import { execFile } from 'node:child_process';
import { existsSync, renameSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { ErrorCode } from '../../protocol/index.js';
import { connect, type CfgClient } from '../../src/client/index.js';
import { Mirror, snapshotOf } from '../helpers/mirror.js';
import { freePort, killed, startCli, startMasterProcess, startProxyProcess } from '../helpers/processes.js';
import { scenarioHooks } from '../helpers/scenario.js';

const { toClose, tempDir } = scenarioHooks('backup');

const run = promisify(execFile);
const CLI = new URL('../../bin/cfgproxy.js', import.meta.url).pathname;
const PASSWORD = 'backup-scenario';


function cli(args: string[], input?: string): Promise<{ stdout: string; stderr: string }> {
  const pending = run(process.execPath, [CLI, ...args], { env: { ...process.env, CFGPROXY_USER: 'admin', CFGPROXY_PASSWORD: PASSWORD } });
  if (input !== undefined) pending.child.stdin!.end(input);
  return pending;
}

async function client(port: number, user = 'admin', password = PASSWORD): Promise<CfgClient> {
  const c = await connect({ endpoints: `127.0.0.1:${port}`, user, password, standby: false, reconnect: user === 'admin' });
  toClose.push(() => c.close());
  return c;
}

describe('backups', () => {
  it('backup - a copy taken online, restored with --restore-from: a new generation that proxies and clients notice; dbids, seq and passwords survive', async () => {
    const dir = tempDir();
    const port = await freePort();
    const dbPath = join(dir, 'master.db');
    let master = await startMasterProcess(dbPath, PASSWORD, port);
    const writer = await client(port);
    const agent = await writer.create({ type: 'Person', name: 'agent7', props: { password: 'agent7-secret', isAgent: true } });
    let lastWrite = 0;
    for (let i = 0; i < 10; i += 1) lastWrite = (await writer.create({ type: 'Skill', name: `kept-${i}` })).seq;
    const proxy = await startProxyProcess(['--master', `127.0.0.1:${port}`, '-u', 'admin', '-p', PASSWORD, '--history-db', join(dir, 'proxy.db'), '--master-addp', '1']);
    const mirror = await Mirror.follow(await client(proxy.port));

    const backupFile = join(dir, 'copy.db');
    const { stdout } = await cli(['backup', backupFile, '--json', '--server', `127.0.0.1:${port}`]);
    const report = JSON.parse(stdout) as { bytes: number; seq: number; lineage: { id: string; generation: number } };
    expect(report.seq).toBe(lastWrite);
    expect(report.lineage).toEqual(writer.lineage);
    expect(statSync(backupFile).size).toBe(report.bytes);
    expect(statSync(backupFile).mode & 0o077).toBe(0); // it holds password hashes
    await expect(cli(['backup', backupFile, '--server', `127.0.0.1:${port}`])).rejects.toMatchObject({ code: 2 }); // never overwritten by accident
    // A non-administrator may not take one.
    const agentClient = await client(port, 'agent7', 'agent7-secret');
    await expect(agentClient.backup(() => undefined)).rejects.toMatchObject({ code: ErrorCode.PERMISSION_DENIED });
    await agentClient.close();

    // Changes after the backup are lost by the restore; the proxy's clients must not keep them.
    for (let i = 0; i < 5; i += 1) await writer.create({ type: 'Skill', name: `lost-${i}` });
    const reset = new Promise<void>((resolve) => mirror.client.once('reset', () => void mirror.settled().then(resolve)));
    await killed(master.child);
    renameSync(dbPath, join(dir, 'broken.db'));
    for (const suffix of ['-wal', '-shm']) if (existsSync(dbPath + suffix)) rmSync(dbPath + suffix);
    master = await startCli(['master', '--db', dbPath, '--port', String(port), '--restore-from', backupFile], 'master listening').then((m) => ({ child: m.child, port, lines: m.lines }));
    const started = (master as unknown as { lines: Array<Record<string, unknown>> }).lines.find((line) => line.event === 'MASTER-001')!;
    expect(started.backupSeq).toBe(report.seq);
    await reset;

    const restored = await client(port);
    expect(restored.lineage!.id).toBe(report.lineage.id);
    expect(restored.lineage!.generation).toBeGreaterThan(report.lineage.generation);
    expect(restored.lastSeq).toBe(report.seq); // seq continues from the copy
    expect(mirror.sorted()).toEqual(await snapshotOf(restored));
    expect([...mirror.objects.values()].some((o) => o.name.startsWith('lost-'))).toBe(false);
    expect((await restored.readAll('Person', { name: 'agent7' }))[0].dbid).toBe(agent.dbid); // dbids kept
    // Passwords work, at the master and through the proxy (which reloaded them).
    await (await client(port, 'agent7', 'agent7-secret')).close();
    await (await client(proxy.port, 'agent7', 'agent7-secret')).close();
    // Restoring over an existing database is refused.
    await expect(cli(['master', '--db', dbPath, '--port', '0', '--restore-from', backupFile])).rejects.toMatchObject({ code: 2 });
  }, 60_000);

  it('backup - export --with-credentials, then import into a new master: logins keep working; a non-administrator cannot plant a hash', async () => {
    const dir = tempDir();
    const source = await startMasterProcess(join(dir, 'a.db'), PASSWORD);
    const target = await startMasterProcess(join(dir, 'b.db'), PASSWORD);
    const writer = await client(source.port);
    await writer.create({ type: 'Person', name: 'agent8', props: { password: 'agent8-secret', isAgent: true } });
    const { stdout: plain } = await cli(['export', '--server', `127.0.0.1:${source.port}`]);
    expect(plain).not.toMatch(/passwordHash|scrypt\$|scram\$/);
    const { stdout: document } = await cli(['export', '--with-credentials', '--server', `127.0.0.1:${source.port}`]);
    expect(document).toMatch(/"passwordHash": "scram\$/);
    const imported = JSON.parse((await cli(['import', '-', '--json', '--server', `127.0.0.1:${target.port}`], document)).stdout) as { failed: unknown[] };
    expect(imported.failed).toEqual([]);
    await (await client(target.port, 'agent8', 'agent8-secret')).close();
    await expect(client(target.port, 'agent8', 'wrong')).rejects.toMatchObject({ code: ErrorCode.AUTH_FAILED });

    // Only administrators set a ready-made hash, or another person's password.
    const adminDbid = (await writer.readAll('Person', { name: 'admin' }))[0].dbid;
    const clerk = await writer.create({ type: 'Person', name: 'clerk', props: { password: 'clerk-secret', grants: [{ on: 'type', target: 'Person', access: 'change' }] } });
    const asClerk = await client(source.port, 'clerk', 'clerk-secret');
    const hash = (JSON.parse(document) as { objects: Array<{ name: string; props: { passwordHash?: string } }> }).objects.find((o) => o.name === 'agent8')!.props.passwordHash!;
    await expect(asClerk.update('Person', adminDbid, { props: { passwordHash: hash } })).rejects.toMatchObject({ code: ErrorCode.PERMISSION_DENIED });
    await expect(asClerk.update('Person', adminDbid, { props: { password: 'taken-over' } })).rejects.toMatchObject({ code: ErrorCode.PERMISSION_DENIED });
    await expect(asClerk.update('Person', clerk.dbid, { props: { password: 'clerk-new' } })).rejects.toMatchObject({ code: ErrorCode.PERMISSION_DENIED }); // its own, without the current one
    await expect(asClerk.update('Person', clerk.dbid, { props: { password: 'clerk-new', oldPassword: 'wrong' } })).rejects.toMatchObject({ code: ErrorCode.PERMISSION_DENIED });
    await asClerk.update('Person', clerk.dbid, { props: { password: 'clerk-new', oldPassword: 'clerk-secret' } }); // its own, with it: allowed
    await (await client(source.port, 'clerk', 'clerk-new')).close();
    await (await client(source.port)).close(); // the admin's password is untouched
  }, 60_000);
});
