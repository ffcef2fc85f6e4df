import net from 'node:net';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { encodeFrame, ErrorCode, FrameDecoder, HaKind, Kind, validateHaMessage, type HaMessage } from '../../protocol/index.js';
import { connect, type CfgClient, type Notification } from '../../src/client/index.js';
import { HA_DEFAULTS, type HaOptions } from '../../src/ha/ha-options.js';
import { helloProof, newNonce, welcomeProof } from '../../src/ha/handshake.js';
import type { PairEvent as RoleEvent } from '../../src/ha/pair-machine.js';
import type { ProxyOptions, ProxyServer } from '../../src/proxy/proxy-server.js';
import { ADMIN_PASSWORD, startTestMaster } from '../helpers/master.js';
import { startTestProxy } from '../helpers/proxy.js';
import { freePort } from '../helpers/processes.js';
import { RawPeer } from '../helpers/raw-peer.js';
import { Relay } from '../helpers/relay.js';
import { until } from '../helpers/until.js';

const toClose: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const close of toClose.splice(0).reverse()) await close();
});

function haOptions(role: 'primary' | 'backup', extra: Partial<HaOptions> = {}): HaOptions {
  return { ...HA_DEFAULTS, role, secret: 's3cret', addpTimeoutMs: 300, heartbeatIntervalMs: 100, failuresToSwitch: 3, acceptClientsInBackupMode: false, readyAfterMs: 0, ...extra };
}

async function member(dir: string, masterPort: number, name: string, ha: HaOptions, extra: Partial<ProxyOptions> = {}): Promise<ProxyServer> {
  const proxy = await startTestProxy(dir, [masterPort], { ha, serverName: name, historyDb: join(dir, `${name}.db`), adminPort: 0, ...extra });
  toClose.push(() => proxy.stop());
  return proxy;
}

async function client(port: number): Promise<CfgClient> {
  const c = await connect({ endpoints: `127.0.0.1:${port}`, user: 'admin', password: ADMIN_PASSWORD, reconnect: false });
  toClose.push(() => c.close());
  return c;
}

/** Resolves when the backup's link to its primary is up (again). */
function linkUp(proxy: ProxyServer): Promise<void> {
  if (proxy.ha!.linkUp) return Promise.resolve();
  return new Promise((resolve) => proxy.ha!.on('role-event', (event: RoleEvent) => event.id === 'HA-001' && resolve()));
}

/** Resolves once the primary would defer a reload (protected mode's conditions hold). */
function armed(primary: ProxyServer): Promise<void> {
  return until(() => primary.ha!.status().protectedMode === 'armed', 5000, 'protected mode armed');
}

function roleEvent(proxy: ProxyServer, id: RoleEvent['id']): Promise<RoleEvent> {
  return new Promise((resolve) => proxy.ha!.on('role-event', (event: RoleEvent) => event.id === id && resolve(event)));
}

async function setup(backupExtra: Partial<HaOptions> = {}, primaryExtra: Partial<HaOptions> = {}) {
  const { master, dir, cleanup } = await startTestMaster();
  toClose.push(cleanup);
  const primary = await member(dir, master.port, 'primary', haOptions('primary', { haPort: 0, ...primaryExtra }));
  const relay = await Relay.start(primary.ha!.server!.port);
  toClose.push(() => relay.close());
  const backup = await member(dir, master.port, 'backup', haOptions('backup', { peer: `127.0.0.1:${relay.port}`, ...backupExtra }));
  await linkUp(backup);
  return { master, dir, primary, backup, relay };
}

/** A pair whose primary was stopped and whose backup was promoted; the HA port is free for a restart. */
async function failedOver() {
  const { master, dir, cleanup } = await startTestMaster();
  toClose.push(cleanup);
  const haPort = await freePort();
  const first = await member(dir, master.port, 'primary', haOptions('primary', { haPort }));
  const backup = await member(dir, master.port, 'backup', haOptions('backup', { peer: `127.0.0.1:${haPort}` }));
  await linkUp(backup);
  const promoted = roleEvent(backup, 'HA-004');
  await first.stop();
  await promoted;
  return { master, dir, haPort, backup };
}

describe('pair', () => {
  it('pair - the backup refuses clients, naming the primary; with accept-clients-in-backup-mode it serves reads but no writes', async () => {
    const { primary, backup, master, dir } = await setup();
    const refused = await client(backup.port).then(
      () => undefined,
      (error: { code: string; details?: { primary?: string } }) => error,
    );
    expect(refused?.code).toBe(ErrorCode.BACKUP_MODE);
    expect(refused?.details?.primary).toBe(`127.0.0.1:${primary.port}`);
    expect((await client(primary.port)).server?.serverRole).toBe('primary');

    // A pair has one backup: the first leaves before another links (a live one is never displaced).
    await backup.stop();
    const relay2 = await Relay.start(primary.ha!.server!.port);
    toClose.push(() => relay2.close());
    const reading = await member(dir, master.port, 'reading-backup', haOptions('backup', { peer: `127.0.0.1:${relay2.port}`, acceptClientsInBackupMode: true }));
    await linkUp(reading);
    const reader = await client(reading.port);
    expect(reader.server?.serverRole).toBe('backup');
    expect((await reader.readAll('Switch')).length).toBe(2);
    await expect(reader.create({ type: 'Skill', name: 'no', tenant: 1 })).rejects.toMatchObject({ code: ErrorCode.BACKUP_MODE });
  });

  it('pair - members of different pairs, or with a wrong secret, are refused with a clear code', async () => {
    const { master, dir, primary } = await setup();
    const strangers: Array<[Partial<HaOptions>, string]> = [
      [{ pairName: 'other-pair' }, ErrorCode.HA_MISMATCH],
      [{ secret: 'wrong' }, ErrorCode.HA_AUTH_FAILED],
    ];
    for (const [extra, code] of strangers) {
      const refusedBefore = primary.ha!.server!.refusals;
      const stranger = await member(dir, master.port, `stranger-${code}`, haOptions('backup', { peer: `127.0.0.1:${primary.ha!.server!.port}`, ...extra }));
      const refusal = await new Promise<{ code: string }>((resolve) => stranger.ha!.once('refused', resolve));
      expect(refusal.code).toBe(code);
      expect(primary.ha!.server!.refusals).toBeGreaterThan(refusedBefore);
      expect(stranger.ha!.linkUp).toBe(false);
      expect(stranger.ha!.role()).toBe('backup'); // the primary answers its probes: no promotion
    }
  });

  it('pair - the HA link goes silent while both live: no promotion; healed, the backup gets only what it missed', async () => {
    const { primary, backup, relay } = await setup();
    const snapshotsBefore = primary.ha!.traffic.snapshots;
    const c1 = await client(primary.port);
    await c1.subscribe({ type: 'DN' });
    while (!backup.ha!.mirroredSessions.has(sessionIdOf(primary, 'cfgproxy-sdk'))) await roleOrRecords(backup);

    const down = roleEvent(backup, 'HA-002');
    relay.stall();
    await down; // ADDP noticed the silence
    const primaryAnswers = roleEvent(backup, 'HA-005');
    await primaryAnswers;
    // Many heartbeats later (more than failuresToSwitch), still the backup.
    await probes(backup, 6);
    expect(backup.ha!.role()).toBe('backup');

    // While the link is down a client subscribes to more and a second one comes.
    await c1.subscribe({ type: 'Skill' });
    const c2 = await client(primary.port);
    await c2.subscribe({ type: 'Person' });
    const up = linkUp(backup);
    relay.heal();
    await up;
    const ids = [...primary.service.sessions.values()].map((s) => s.id);
    while (!ids.every((id) => backup.ha!.mirroredSessions.get(id)?.subscriptions.length)) await roleOrRecords(backup);
    expect(primary.ha!.traffic.snapshots).toBe(snapshotsBefore); // resumed, not re-sent
    expect(backup.ha!.mirroredSessions.get(ids[0])?.subscriptions).toEqual([{ type: 'DN' }, { type: 'Skill' }]);
    expect(backup.ha!.role()).toBe('backup');
    expect(primary.ha!.role()).toBe('primary');
  });

  it('pair - a restarted backup rebuilds its journal from a sessions snapshot, paced per second', async () => {
    const { master, dir, primary, backup } = await setup({}, { maxSessionsSyncAtOnce: 20 });
    const clients = await Promise.all(Array.from({ length: 50 }, () => client(primary.port)));
    await Promise.all(clients.map((c, i) => c.subscribe({ type: 'DN', tenant: i })));
    await backup.stop();
    const snapshotsBefore = primary.ha!.traffic.snapshots;

    const startedAt = performance.now();
    const restarted = await member(dir, master.port, 'backup-again', haOptions('backup', { peer: `127.0.0.1:${primary.ha!.server!.port}` }));
    const ids = [...primary.service.sessions.values()].map((s) => s.id);
    while (ids.some((id) => !restarted.ha!.mirroredSessions.has(id))) await roleOrRecords(restarted);

    expect(primary.ha!.traffic.snapshots).toBe(snapshotsBefore + 1);
    // 50 sessions at 20 per second (the primary's setting): the last part goes out two seconds after the first.
    expect(performance.now() - startedAt).toBeGreaterThanOrEqual(1900);
    const mirrored = restarted.ha!.mirroredSessions.get(ids[7])!;
    const original = [...primary.service.sessions.values()].find((s) => s.id === ids[7])!;
    expect(mirrored.subscriptions).toEqual([...original.subscriptions.values()]);
    expect(restarted.history.sessions().filter((s) => !s.closed).length).toBe(50);
  });

  it('pair - manual switchover under load: clients move to the new primary with zero notifications lost or duplicated, the journal turns around', async () => {
    const { master, primary, backup } = await setup();
    const endpoints = [`127.0.0.1:${primary.port}`, `127.0.0.1:${backup.port}`];
    const clients = await Promise.all(Array.from({ length: 30 }, () => connect({ endpoints, user: 'admin', password: ADMIN_PASSWORD })));
    toClose.push(async () => void (await Promise.all(clients.map((c) => c.close()))));
    await Promise.all(clients.map((c) => c.subscribe({ type: 'Skill' })));
    const received = clients.map(() => [] as number[]);
    let resets = 0;
    clients.forEach((c, i) => {
      c.on('notification', (n: Notification) => received[i].push(n.seq));
      c.on('reset', () => (resets += 1));
    });
    const writer = await connect({ endpoints: `127.0.0.1:${master.port}`, user: 'admin', password: ADMIN_PASSWORD });
    toClose.push(() => writer.close());
    await writer.subscribe({ type: 'Skill' }); // its own notifications pace the test's waits
    const committed: number[] = [];
    let writing = true;
    const stream = (async () => {
      for (let i = 0; writing; i += 1) {
        committed.push((await writer.create({ type: 'Skill', name: `load-${i}`, tenant: 1 })).seq);
        await new Promise((resolve) => setImmediate(resolve));
      }
    })();
    while (committed.length < 30) await new Promise((resolve) => writer.once('notification', resolve));

    // Through the admin port, as `cfgproxy ha switchover --wait-ready 10` does: the primary itself
    // waits for the pair to be ready and switches in that same step (no "ready, then 409").
    const response = await fetch(`http://127.0.0.1:${primary.admin!.port}/ha/switchover?waitReady=10000`, { method: 'POST' });
    expect(await response.json()).toMatchObject({ ok: true });
    expect(response.status).toBe(200);
    expect(primary.ha!.role()).toBe('backup');
    expect(backup.ha!.role()).toBe('primary');
    await Promise.all(clients.map((c) => (c.server?.serverName === 'backup' && c.connected ? Promise.resolve() : new Promise((resolve) => c.once('connected', resolve)))));
    const reached = committed.length + 30;
    while (committed.length < reached) await new Promise((resolve) => writer.once('notification', resolve));
    writing = false;
    await stream;
    const last = committed.at(-1)!;
    await Promise.all(clients.map((c, i) => (received[i].at(-1) === last ? Promise.resolve() : new Promise<void>((resolve) => c.on('notification', (n: Notification) => n.seq === last && resolve())))));

    expect(resets).toBe(0);
    for (const seqs of received) expect(seqs).toEqual(committed);
    expect(clients.every((c) => c.server?.serverName === 'backup' && c.server.serverRole === 'primary')).toBe(true);
    // The journal now flows from the new primary to the former one.
    const ids = [...backup.service.sessions.values()].map((s) => s.id);
    while (ids.some((id) => !primary.ha!.mirroredSessions.has(id))) await roleOrRecords(primary);
    expect((await fetch(`http://127.0.0.1:${backup.admin!.port}/health/active`)).status).toBe(200);
    expect((await fetch(`http://127.0.0.1:${primary.admin!.port}/health/active`)).status).toBe(503);
  });

  it('pair - a partition makes two primaries; healed, the lower term (the configured primary, which never promoted) steps down and exactly one primary remains', async () => {
    const { master, dir, cleanup } = await startTestMaster();
    toClose.push(cleanup);
    // The backup sees the primary only through relays: one for the HA port, one for the client port.
    const primaryPort = await freePort();
    const clientRelay = await Relay.start(primaryPort);
    toClose.push(() => clientRelay.close());
    const primary = await member(dir, master.port, 'primary', haOptions('primary', { haPort: 0 }), { port: primaryPort, advertise: `127.0.0.1:${clientRelay.port}` });
    const haRelay = await Relay.start(primary.ha!.server!.port);
    toClose.push(() => haRelay.close());
    const backup = await member(dir, master.port, 'backup', haOptions('backup', { peer: `127.0.0.1:${haRelay.port}` }));
    await linkUp(backup);

    const promoted = roleEvent(backup, 'HA-004');
    haRelay.cut();
    clientRelay.cut(); // accepts and drops: the probe gets no answer
    await promoted;
    expect([primary.ha!.role(), backup.ha!.role()]).toEqual(['primary', 'primary']);
    expect([primary.ha!.term, backup.ha!.term]).toEqual([0, 1]);
    const someoneOnPrimary = await client(primary.port);
    const disconnected = new Promise<void>((resolve) => someoneOnPrimary.once('closed', () => resolve()).once('disconnected', () => resolve()));

    const steppedDown = roleEvent(primary, 'HA-006');
    clientRelay.heal();
    haRelay.heal();
    await steppedDown;
    expect(primary.ha!.role()).toBe('backup');
    expect(backup.ha!.role()).toBe('primary');
    expect([primary.ha!.term, backup.ha!.term]).toEqual([1, 1]);
    await disconnected; // its clients were sent to the new primary
    // The term survives a restart of the history log: a member restarted later starts from it.
    expect(primary.history.pairTerm()).toBe(1);
  });

  it('pair - a client stands by at the backup; when the primary dies it registers there on that connection: restored, no new connection, nothing missed', async () => {
    const { master, primary, backup } = await setup();
    const c = await connect({ endpoints: [`127.0.0.1:${primary.port}`, `127.0.0.1:${backup.port}`], user: 'admin', password: ADMIN_PASSWORD });
    toClose.push(() => c.close());
    await c.subscribe({ type: 'Skill' });
    await new Promise((resolve) => c.once('standby', resolve));
    const metrics = await (await fetch(`http://127.0.0.1:${backup.admin!.port}/metrics`)).text();
    expect(metrics).toContain('# TYPE cfgproxy_standby_connections gauge\ncfgproxy_standby_connections 1\n');
    expect(metrics).toContain('# TYPE cfgproxy_connections_accepted_total counter\n');
    const acceptedBefore = backup.service.acceptedTotal;
    const received: number[] = [];
    c.on('notification', (n: Notification) => received.push(n.seq));

    const restored = new Promise<{ restored: boolean }>((resolve) => c.once('connected', resolve));
    await primary.stop();
    const writer = await connect({ endpoints: `127.0.0.1:${master.port}`, user: 'admin', password: ADMIN_PASSWORD });
    toClose.push(() => writer.close());
    const { seq } = await writer.create({ type: 'Skill', name: 'while-failing-over', tenant: 1 });
    expect((await restored).restored).toBe(true);
    expect(c.server?.serverName).toBe('backup');
    expect(backup.service.acceptedTotal).toBe(acceptedBefore);
    if (received.at(-1) !== seq) await new Promise<void>((resolve) => c.on('notification', (n: Notification) => n.seq === seq && resolve()));
    expect(received).toEqual([seq]);
  });

  it('pair - a restarted backup gets its clients\' standby connections back', async () => {
    const { master, dir, primary, backup, relay } = await setup();
    const c = await connect({ endpoints: [`127.0.0.1:${primary.port}`, `127.0.0.1:${backup.port}`], user: 'admin', password: ADMIN_PASSWORD });
    toClose.push(() => c.close());
    await new Promise((resolve) => c.once('standby', resolve));
    const backupPort = backup.port;
    await backup.stop();
    const standingByAgain = new Promise((resolve) => c.once('standby', resolve));
    const restarted = await member(dir, master.port, 'backup-again', haOptions('backup', { peer: `127.0.0.1:${relay.port}` }), { port: backupPort });
    await standingByAgain;
    expect(restarted.service.standbyCount).toBe(1);
  });

  it('pair - a configured primary restarted after a failover joins as backup; the promoted one stays primary', async () => {
    const { master, dir, haPort, backup } = await failedOver();
    const restarted = await member(dir, master.port, 'primary-again', haOptions('primary', { haPort }));
    // It may have linked while it was still loading: then the event is past.
    if (restarted.ha!.role() !== 'backup') await roleEvent(restarted, 'HA-010');
    expect(restarted.ha!.role()).toBe('backup');
    expect(backup.ha!.role()).toBe('primary');
    expect((await client(backup.port)).server?.serverRole).toBe('primary');
  });

  it('pair - with auto-restore-primary, the restarted configured primary takes the role back once healthy', async () => {
    const { master, dir, haPort, backup } = await failedOver();
    const handedBack = roleEvent(backup, 'HA-007');
    const restarted = await member(dir, master.port, 'primary-again', haOptions('primary', { haPort, autoRestorePrimary: true }));
    await handedBack;
    if (restarted.ha!.role() !== 'primary') await roleEvent(restarted, 'HA-008');
    expect(restarted.ha!.role()).toBe('primary');
    expect(backup.ha!.role()).toBe('backup');
  });

  it('pair - protected mode: history expired for the pair; the backup reloads first, they switch over, the former primary reloads as backup', async () => {
    const { master, dir, cleanup } = await startTestMaster();
    toClose.push(cleanup);
    const [toMasterP, toMasterB] = [await Relay.start(master.port), await Relay.start(master.port)];
    toClose.push(() => toMasterP.close(), () => toMasterB.close());
    const upstreamAddp = { localTimeoutMs: 300, remoteTimeoutMs: 300 };
    // Both list the same masters (a pair must): each reaches the master through its own relay first.
    const protectedMode = { configReloadDelayIfPrimary: true };
    const primary = await member(dir, toMasterP.port, 'primary', haOptions('primary', { haPort: 0, ...protectedMode }), { upstreamAddp, masters: [`127.0.0.1:${toMasterP.port}`, `127.0.0.1:${toMasterB.port}`] });
    const backup = await member(dir, toMasterB.port, 'backup', haOptions('backup', { peer: `127.0.0.1:${primary.ha!.server!.port}`, ...protectedMode, acceptClientsInBackupMode: true }), { upstreamAddp, masters: [`127.0.0.1:${toMasterB.port}`, `127.0.0.1:${toMasterP.port}`] });
    await linkUp(backup);
    await armed(primary);

    // Who serves at each step: [what happened, primary's role, backup's role].
    const timeline: Array<[string, string, string]> = [];
    const note = (what: string): void => void timeline.push([what, primary.ha!.role(), backup.ha!.role()]);
    backup.upstream.on('loaded', ({ first }: { first: boolean }) => !first && note('backup reloaded'));
    primary.upstream.on('reload-deferred', () => note('primary deferred its reload'));
    const primaryReloaded = new Promise<void>((resolve) => primary.upstream.on('loaded', ({ first }: { first: boolean }) => !first && (note('former primary reloaded'), resolve())));

    const lost = Promise.all([primary, backup].map((p) => new Promise((resolve) => p.upstream.once('disconnected', resolve))));
    toMasterP.cut();
    toMasterB.cut();
    await lost;
    const writer = await client(master.port);
    for (let i = 0; i < 5; i += 1) await writer.create({ type: 'Skill', name: `while-away-${i}`, tenant: 1 });
    master.prune(1, 24 * 3600_000);
    toMasterP.heal();
    toMasterB.heal();
    await primaryReloaded;

    const order = timeline.map(([what]) => what);
    expect(order.sort()).toEqual(['backup reloaded', 'former primary reloaded', 'primary deferred its reload']);
    // The backup reloads while the primary still serves; the former primary reloads once the other serves.
    // (In between, the hand-over itself takes a few milliseconds in which neither takes new sessions.)
    expect(timeline.find(([what]) => what === 'backup reloaded')).toEqual(['backup reloaded', 'primary', 'backup']);
    expect(timeline.find(([what]) => what === 'former primary reloaded')).toEqual(['former primary reloaded', 'backup', 'primary']);
    expect(timeline.findIndex(([what]) => what === 'backup reloaded')).toBeLessThan(timeline.findIndex(([what]) => what === 'former primary reloaded'));
    expect(backup.source.appliedSeq()).toBe(master.source.appliedSeq());
    expect(primary.source.appliedSeq()).toBe(master.source.appliedSeq());
  });
});

function sessionIdOf(proxy: ProxyServer, clientName: string): string {
  return [...proxy.service.sessions.values()].find((s) => s.clientName === clientName)?.id ?? '';
}

/** Waits for the next journal chunk the backup stores. */
function roleOrRecords(backup: ProxyServer): Promise<void> {
  return new Promise((resolve) => backup.ha!.once('records', () => resolve()));
}

/** Waits for `count` heartbeat probes of the primary. */
function probes(backup: ProxyServer, count: number): Promise<void> {
  let seen = 0;
  return new Promise((resolve) => {
    const on = (): void => {
      if (++seen < count) return;
      backup.ha!.off('probe', on);
      resolve();
    };
    backup.ha!.on('probe', on);
  });
}

describe('pair admin port', () => {
  it('admin - actions need the token when one is set (401), a foreign Origin is refused (403), reads stay open; the port binds 127.0.0.1', async () => {
    const { master, dir, cleanup } = await startTestMaster();
    toClose.push(cleanup);
    const primary = await member(dir, master.port, 'guarded', haOptions('primary', { haPort: 0 }), { adminToken: 'admin-secret' });
    const address = primary.admin!.address;
    expect(address.address).toBe('127.0.0.1');
    const url = `http://127.0.0.1:${address.port}`;
    expect((await fetch(`${url}/health`)).status).toBe(200);
    expect((await fetch(`${url}/ha/switchover`, { method: 'POST' })).status).toBe(401);
    expect((await fetch(`${url}/ha/switchover`, { method: 'POST', headers: { authorization: 'Bearer wrong' } })).status).toBe(401);
    expect((await fetch(`${url}/ha/switchover`, { method: 'POST', headers: { authorization: 'Bearer admin-secret', origin: 'http://evil.example' } })).status).toBe(403);
    // With the token the action runs (and says why it cannot: no backup is linked).
    const allowed = await fetch(`${url}/ha/switchover`, { method: 'POST', headers: { authorization: 'Bearer admin-secret' } });
    expect(allowed.status).toBe(409);
    expect(((await allowed.json()) as { message: string }).message).toMatch(/no backup/);
  });

  it('pair - a primary applies no journal records: a fake backup that knows the secret cannot write sessions into it', async () => {
    const { master, dir, cleanup } = await startTestMaster();
    toClose.push(cleanup);
    const primary = await member(dir, master.port, 'target', haOptions('primary', { haPort: 0 }));
    const fake = await RawPeer.connect(primary.ha!.server!.port, { ha: true });
    toClose.push(() => fake.close());
    const challenge = (await fake.waitFor((m) => (m.kind as number) === HaKind.Challenge)) as unknown as { nonce: string };
    const nonce = newNonce();
    fake.send({ kind: HaKind.Hello, versions: [1], pairName: 'cfgproxy', masters: [`127.0.0.1:${master.port}`], nonce, proof: helloProof('s3cret', 'cfgproxy', challenge.nonce, nonce), role: 'backup', clientEndpoint: '127.0.0.1:1' });
    const welcome = (await fake.waitFor((m) => (m.kind as number) === HaKind.Welcome)) as unknown as { proof: string };
    expect(welcome.proof).toBe(welcomeProof('s3cret', 'cfgproxy', nonce, challenge.nonce)); // it authenticated
    fake.send({ kind: 102, records: [{ r: 1, k: 'open', id: 'forged', person: 1, clientName: 'x', clientType: 'x', subs: [{}], pos: 0 }] });
    fake.send({ kind: Kind.AddpPoll, n: 42 });
    await fake.waitFor((m) => m.kind === Kind.AddpReply && m.n === 42); // everything before it was handled
    expect(primary.ha!.role()).toBe('primary');
    expect(primary.ha!.mirroredSessions.has('forged')).toBe(false);
    expect(primary.history.sessions().some((s) => s.id === 'forged')).toBe(false);
  });
});

describe('pair protected mode', () => {
  it('pair - protected mode where only the primary\'s history expired: the backup never reloads, so the deadline releases the primary\'s reload; it buffered nothing meanwhile', async () => {
    const { master, dir, cleanup } = await startTestMaster();
    toClose.push(cleanup);
    const toMasterP = await Relay.start(master.port);
    toClose.push(() => toMasterP.close());
    const upstreamAddp = { localTimeoutMs: 300, remoteTimeoutMs: 300 };
    const protectedMode = { configReloadDelayIfPrimary: true, protectedModeTimeoutMs: 1500 };
    const masters = [`127.0.0.1:${toMasterP.port}`, `127.0.0.1:${master.port}`];
    const primary = await member(dir, toMasterP.port, 'primary', haOptions('primary', { haPort: 0, ...protectedMode }), { upstreamAddp, masters });
    const backup = await member(dir, master.port, 'backup', haOptions('backup', { peer: `127.0.0.1:${primary.ha!.server!.port}`, ...protectedMode, acceptClientsInBackupMode: true }), { upstreamAddp, masters: [`127.0.0.1:${master.port}`, `127.0.0.1:${toMasterP.port}`] });
    await linkUp(backup);
    await armed(primary);

    const lost = new Promise((resolve) => primary.upstream.once('disconnected', resolve));
    toMasterP.cut();
    await lost;
    const writer = await client(master.port);
    for (let i = 0; i < 5; i += 1) await writer.create({ type: 'Skill', name: `only-primary-missed-${i}`, tenant: 1 });
    master.prune(1, 24 * 3600_000);
    const deferred = new Promise<number>((resolve) => primary.upstream.once('reload-deferred', () => resolve(performance.now())));
    const reloaded = new Promise<number>((resolve) => primary.upstream.on('loaded', ({ first }: { first: boolean }) => !first && resolve(performance.now())));
    toMasterP.heal();
    const deferredAt = await deferred;
    const receivedWhenDeferred = primary.upstream.receivedSeq;
    for (let i = 0; i < 20; i += 1) await writer.create({ type: 'Skill', name: `during-protected-${i}`, tenant: 1 });
    // Nothing piles up while it waits: the stream is off until the reload's snapshot, which covers these.
    if (primary.upstream.hasDeferredReload) expect(primary.upstream.receivedSeq).toBe(receivedWhenDeferred);
    const reloadedAt = await reloaded;
    expect(reloadedAt - deferredAt).toBeGreaterThanOrEqual(1400); // it waited for the backup, up to the deadline…
    expect(reloadedAt - deferredAt).toBeLessThan(6000); // …and no longer
    await primary.source.waitForSeq(master.source.appliedSeq(), 5000);
    expect(primary.source.appliedSeq()).toBe(master.source.appliedSeq());
    expect(primary.ha!.role()).toBe('primary'); // no switchover: the backup never reloaded
  });
});

describe('pair protected mode conditions', () => {
  it('pair - protected mode is not entered when the backup takes no clients in backup mode: the primary reloads at once and /ha says why', async () => {
    const { master, dir, cleanup } = await startTestMaster();
    toClose.push(cleanup);
    const toMasterP = await Relay.start(master.port);
    toClose.push(() => toMasterP.close());
    const upstreamAddp = { localTimeoutMs: 300, remoteTimeoutMs: 300 };
    const protectedMode = { configReloadDelayIfPrimary: true, protectedModeTimeoutMs: 60_000 };
    const primary = await member(dir, toMasterP.port, 'primary', haOptions('primary', { haPort: 0, ...protectedMode }), { upstreamAddp, masters: [`127.0.0.1:${toMasterP.port}`, `127.0.0.1:${master.port}`] });
    const backup = await member(dir, master.port, 'backup', haOptions('backup', { peer: `127.0.0.1:${primary.ha!.server!.port}`, ...protectedMode }), { upstreamAddp, masters: [`127.0.0.1:${master.port}`, `127.0.0.1:${toMasterP.port}`] });
    await linkUp(backup);
    const url = `http://127.0.0.1:${primary.admin!.port}`;
    const protectedState = async (): Promise<string> => ((await (await fetch(`${url}/ha`)).json()) as { protectedMode: string }).protectedMode;
    await until(() => primary.ha!.status().protectedMode !== 'not armed: the backup has not reported its status', 5000, 'the first Status');
    expect(await protectedState()).toBe('not armed: the backup does not accept clients in backup mode');

    const lost = new Promise((resolve) => primary.upstream.once('disconnected', resolve));
    toMasterP.cut();
    await lost;
    const writer = await client(master.port);
    for (let i = 0; i < 5; i += 1) await writer.create({ type: 'Skill', name: `missed-${i}`, tenant: 1 });
    master.prune(1, 24 * 3600_000);
    let deferred = false;
    primary.upstream.once('reload-deferred', () => (deferred = true));
    const reloaded = new Promise<void>((resolve) => primary.upstream.on('loaded', ({ first }: { first: boolean }) => !first && resolve()));
    toMasterP.heal();
    await reloaded; // long before the 60 s deadline
    expect(deferred).toBe(false);
    await primary.source.waitForSeq(master.source.appliedSeq(), 5000);
    expect(primary.source.appliedSeq()).toBe(master.source.appliedSeq());
  });
});

describe('pair readiness', () => {
  it('readiness - not ready until the link has been up --ready-after and the backup caught up; a refused switchover (409, with the reason) leaves the primary serving; --force overrides', async () => {
    const { master, dir, cleanup } = await startTestMaster();
    toClose.push(cleanup);
    const primary = await member(dir, master.port, 'primary', haOptions('primary', { haPort: 0, readyAfterMs: 1500 }));
    const backup = await member(dir, master.port, 'backup', haOptions('backup', { peer: `127.0.0.1:${primary.ha!.server!.port}`, readyAfterMs: 1500 }));
    await linkUp(backup);
    const url = `http://127.0.0.1:${primary.admin!.port}`;
    const ha = async (): Promise<{ readyForSwitchover: number; notReadyBecause: string | null }> => (await (await fetch(`${url}/ha`)).json()) as { readyForSwitchover: number; notReadyBecause: string | null };
    expect(await ha()).toMatchObject({ readyForSwitchover: 0, notReadyBecause: expect.stringMatching(/ready-after/) });
    expect(await ha()).toMatchObject({ link: 'up', peer: `127.0.0.1:${backup.port}` }); // the primary names its backup too
    const refused = await fetch(`${url}/ha/switchover`, { method: 'POST' });
    expect(refused.status).toBe(409);
    expect(((await refused.json()) as { message: string }).message).toMatch(/not ready/);
    // Waiting less than the link needs: refused with the reason once the wait is over, nothing changed.
    const waited = await fetch(`${url}/ha/switchover?waitReady=200`, { method: 'POST' });
    expect(waited.status).toBe(409);
    expect(((await waited.json()) as { message: string }).message).toMatch(/ready-after.*after waiting 0\.2 s/);
    expect(primary.ha!.role()).toBe('primary');
    expect((await client(primary.port)).server?.serverRole).toBe('primary'); // still takes new sessions

    // Force overrides: the roles turn even though the link is young.
    expect((await fetch(`${url}/ha/switchover?force=1`, { method: 'POST' })).status).toBe(200);
    expect(backup.ha!.role()).toBe('primary');

    // A switchover asked at once, waiting for readiness (the young link): it turns them back the moment the pair is ready.
    const backUrl = `http://127.0.0.1:${backup.admin!.port}`;
    expect(backup.ha!.readiness().ready).toBe(false);
    await until(() => primary.ha!.readiness().ready, 6000, 'the backup side being ready: linked, loaded, caught up');
    const [second, concurrent] = await Promise.all([
      fetch(`${backUrl}/ha/switchover?waitReady=6000`, { method: 'POST' }),
      new Promise((resolve) => setTimeout(resolve, 50)).then(() => fetch(`${backUrl}/ha/switchover?waitReady=6000`, { method: 'POST' })),
    ]);
    expect(((await concurrent.json()) as { message: string }).message).toMatch(/already waiting/);
    expect(second.status).toBe(200);
    expect(primary.ha!.role()).toBe('primary');
  });
});

describe('pair journal check', () => {
  it("pair - a fake primary that knows the secret forwards a forged change: the backup applies only its own master's change and reports the disagreement", async () => {
    const { master, dir, cleanup } = await startTestMaster();
    toClose.push(cleanup);
    // The fake primary: the HA listener side, built on the project's codec.
    const sockets: net.Socket[] = [];
    let linked!: (socket: net.Socket) => void;
    const forged = new Promise<net.Socket>((resolve) => (linked = resolve));
    const fake = net.createServer((socket) => {
      sockets.push(socket);
      const challenge = newNonce();
      const decoder = new FrameDecoder<HaMessage>({
        onMessage: (message) => {
          if (message.kind !== HaKind.Hello) return;
          socket.write(encodeFrame({ kind: HaKind.Welcome, version: 1, proof: welcomeProof('s3cret', 'cfgproxy', message.nonce, challenge), role: 'primary', clientEndpoint: '127.0.0.1:1' }));
          socket.write(encodeFrame({ kind: HaKind.StreamStart, journalId: 'fake', resumed: false }));
          linked(socket);
        },
        onInvalidMessage: () => undefined,
        onProtocolError: () => undefined,
      }, undefined, validateHaMessage);
      socket.on('data', (chunk: Buffer) => decoder.push(chunk));
      socket.on('error', () => undefined);
      socket.write(encodeFrame({ kind: HaKind.Challenge, nonce: challenge }));
    });
    await new Promise<void>((resolve) => fake.listen(0, '127.0.0.1', resolve));
    toClose.push(() => new Promise<void>((resolve) => { for (const s of sockets) s.destroy(); fake.close(() => resolve()); }));

    const backup = await member(dir, master.port, 'backup', haOptions('backup', { peer: `127.0.0.1:${(fake.address() as net.AddressInfo).port}` }));
    const socket = await forged;

    const writer = await client(master.port);
    const next = master.source.appliedSeq() + 1;
    const at = Date.now();
    // The next seq, forged: a Skill the master never created.
    socket.write(encodeFrame({ kind: HaKind.Records, records: [{ r: 1, k: 'change', change: { kind: Kind.ObjectCreated, seq: next, at, object: { type: 'Skill', dbid: 9999, name: 'forged', tenant: 1, folder: 0, state: 'enabled', props: {}, options: {}, annex: {} } } }] }));
    const real = await writer.create({ type: 'Skill', name: 'real', tenant: 1 });
    expect(real.seq).toBe(next);
    await backup.source.waitForSeq(next, 5000);
    await until(() => backup.ha!.journalDisagreements === 1, 5000, 'the disagreement being reported');
    expect(backup.source.store.get('Skill', 9999)).toBeUndefined();
    expect(backup.source.store.get('Skill', real.dbid)?.name).toBe('real');
  });
});

describe('pair switchover window', () => {
  it('switchover - at most 1 s passes in which neither member takes a new session', async () => {
    const { primary, backup } = await setup();
    await until(() => primary.ha!.readiness().ready, 5000, 'the pair being ready');
    const sessionsTakenAt: number[] = [];
    let trying = true;
    const login = async (port: number): Promise<void> => {
      const c = await connect({ endpoints: `127.0.0.1:${port}`, user: 'admin', password: ADMIN_PASSWORD, reconnect: false, standby: false }).catch(() => undefined);
      if (c?.server?.serverRole === 'primary') sessionsTakenAt.push(performance.now());
      await c?.close();
    };
    const attempts = (async () => {
      while (trying) await Promise.all([login(primary.port), login(backup.port)]);
    })();
    await until(() => sessionsTakenAt.length >= 5, 5000, 'logins before the switchover');
    const response = await fetch(`http://127.0.0.1:${primary.admin!.port}/ha/switchover`, { method: 'POST' });
    expect(response.status).toBe(200);
    const switchedAt = performance.now();
    await until(() => sessionsTakenAt.some((t) => t > switchedAt + 200), 5000, 'logins after the switchover');
    trying = false;
    await attempts;
    const gaps = sessionsTakenAt.slice(1).map((t, i) => t - sessionsTakenAt[i]);
    expect(Math.max(...gaps)).toBeLessThan(1000);
    expect(backup.ha!.role()).toBe('primary');
  });
});
