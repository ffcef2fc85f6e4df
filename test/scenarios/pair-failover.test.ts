import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { connect, type CfgClient, type Notification } from '../../src/client/index.js';
import { ADMIN_PASSWORD, adminClient, startTestMaster } from '../helpers/master.js';
import { freePort, killed, startCli } from '../helpers/processes.js';
import { scenarioHooks } from '../helpers/scenario.js';

const { toClose, tempDir } = scenarioHooks('pair');


const SECRET = 'pair-secret';
const CLI = new URL('../../bin/cfgproxy.js', import.meta.url).pathname;
const run = promisify(execFile);

/** A master (in this process) and a primary and a backup proxy (real processes) paired on an HA port. */
async function pair() {
  const dir = tempDir();
  const { master, cleanup } = await startTestMaster();
  toClose.push(cleanup);
  const masterPort = master.port;
  const [primaryPort, haPort] = [await freePort(), await freePort()];
  const common = ['--master', `127.0.0.1:${masterPort}`, '--user', 'admin', '--ha-addp', '1', '--heartbeat-interval', '0.2', '--failures-to-switch', '3', '--master-addp', '1', '--admin-port', '0', '--ready-after', '0'];
  const env = { CFGPROXY_PROXY_PASSWORD: ADMIN_PASSWORD, CFGPROXY_HA_SECRET: SECRET };
  const primary = await startCli(['proxy', ...common, '--role', 'primary', '--port', String(primaryPort), '--ha-port', String(haPort), '--history-db', join(dir, 'primary.db')], 'configuration loaded', env);
  const backup = await startCli(['proxy', ...common, '--role', 'backup', '--port', '0', '--peer', `127.0.0.1:${haPort}`, '--history-db', join(dir, 'backup.db')], 'configuration loaded', env);
  await backup.waitForLog((line) => line.msg === 'HA link up');
  const backupPort = backup.lines.find((line) => line.msg === 'proxy listening (loading)')!.port as number;
  return { master, primary, backup, primaryPort, backupPort };
}

/** SDK clients of the pair subscribed to Skill changes, with what each receives and how it reconnects. */
async function subscribedClients(count: number, ports: number[]) {
  const clients: CfgClient[] = [];
  for (let i = 0; i < count; i += 1) {
    clients.push(await connect({ endpoints: ports.map((port) => `127.0.0.1:${port}`), user: 'admin', password: ADMIN_PASSWORD, clientName: `client-${i}` }));
  }
  toClose.push(async () => void (await Promise.all(clients.map((c) => c.close()))));
  await Promise.all(clients.map((c) => c.subscribe({ type: 'Skill' })));
  const received = clients.map(() => [] as number[]);
  const resets = clients.map(() => 0);
  const restoredAt = clients.map(() => [] as boolean[]);
  clients.forEach((c, i) => {
    c.on('notification', (n: Notification) => received[i].push(n.seq));
    c.on('reset', () => (resets[i] += 1));
    c.on('connected', (info: { restored: boolean }) => restoredAt[i].push(info.restored));
  });
  return { clients, received, resets, restoredAt };
}

describe('warm-standby pair', () => {
  it('pair - SIGKILL of the primary: 200 SDK clients are restored at the backup, none re-reads, each gets every committed seq once, in order', async () => {
    const { master, primary, backup, primaryPort, backupPort } = await pair();

    const { clients, received, resets, restoredAt } = await subscribedClients(200, [primaryPort, backupPort]);
    expect(clients.every((c) => c.server?.serverRole === 'primary')).toBe(true);

    // Changes stream from the master before, during and after the failover.
    const writer = await adminClient(master.port);
    toClose.push(() => writer.close());
    const committed: number[] = [];
    const onCommit = new Set<() => void>();
    const committedAtLeast = (n: number): Promise<void> =>
      new Promise((resolve) => {
        const check = (): void => void (committed.length >= n && (onCommit.delete(check), resolve()));
        onCommit.add(check);
        check();
      });
    let writing = true;
    const stream = (async () => {
      for (let i = 0; writing; i += 1) {
        committed.push((await writer.create({ type: 'Skill', name: `stream-${i}`, tenant: 1 })).seq);
        for (const check of [...onCommit]) check();
        await new Promise((resolve) => setTimeout(resolve, 5)); // a steady stream, not a burst
      }
    })();
    await committedAtLeast(20);

    const promoted = backup.waitForLog((line) => line.event === 'HA-004');
    await killed(primary.child);
    await promoted;
    // Every client comes back (restored, not re-read) before the stream stops.
    await Promise.all(clients.map((c, i) => (restoredAt[i].length > 0 ? Promise.resolve() : new Promise((resolve) => c.once('connected', resolve)))));
    await committedAtLeast(committed.length + 20);
    writing = false;
    await stream;
    const last = committed.at(-1)!;
    await Promise.all(
      clients.map((c, i) =>
        received[i].at(-1) === last ? Promise.resolve() : new Promise<void>((resolve) => c.on('notification', (n: Notification) => n.seq === last && resolve())),
      ),
    );

    for (let i = 0; i < clients.length; i += 1) {
      expect(resets[i]).toBe(0);
      expect(restoredAt[i]).toEqual([true]);
      expect(received[i]).toEqual(committed);
      expect(clients[i].server?.serverRole).toBe('primary');
    }
  });

  it('pair - SIGTERM on the primary hands over to the backup before it exits: clients move with their sessions, nothing lost', async () => {
    const { master, primary, backup, primaryPort, backupPort } = await pair();
    const { clients, received, resets } = await subscribedClients(20, [primaryPort, backupPort]);
    const writer = await adminClient(master.port);
    toClose.push(() => writer.close());
    const committed = [(await writer.create({ type: 'Skill', name: 'before-term', tenant: 1 })).seq];

    // What an operator sees first: `cfgproxy status` on the primary's admin port, once the pair is ready.
    const adminPort = primary.lines.find((line) => line.msg === 'admin HTTP listening')!.adminPort as number;
    for (let tries = 0; ((await (await fetch(`http://127.0.0.1:${adminPort}/ha`)).json()) as { readyForSwitchover: number }).readyForSwitchover !== 1; tries += 1) {
      if (tries > 50) throw new Error('the pair never became ready');
      await new Promise((resolve) => setTimeout(resolve, 100)); // readiness emits no event: poll, as an operator would
    }
    const status = JSON.parse((await run(process.execPath, [CLI, 'status', '--admin', `127.0.0.1:${adminPort}`, '--json'])).stdout) as { serving: boolean; active: boolean; pair: { role: string; link: string; readyForSwitchover: number } };
    expect(status).toMatchObject({ serving: true, active: true, pair: { role: 'primary', link: 'up', readyForSwitchover: 1 } });

    const tookOver = backup.waitForLog((line) => line.event === 'HA-008');
    const exited = new Promise((resolve) => primary.child.once('exit', resolve));
    primary.child.kill('SIGTERM');
    await tookOver; // a hand-over, not a failure detection (that would be HA-004)
    await exited;
    expect(backup.lines.some((line) => line.event === 'HA-004')).toBe(false);
    committed.push((await writer.create({ type: 'Skill', name: 'after-term', tenant: 1 })).seq);
    await Promise.all(
      clients.map((c, i) =>
        received[i].at(-1) === committed.at(-1) ? Promise.resolve() : new Promise<void>((resolve) => c.on('notification', (n: Notification) => n.seq === committed.at(-1) && resolve())),
      ),
    );
    for (const seqs of received) expect(seqs).toEqual(committed);
    expect(resets.every((n) => n === 0)).toBe(true);
    expect(clients.every((c) => c.server?.serverRole === 'primary' && c.connected)).toBe(true);
  });
});
