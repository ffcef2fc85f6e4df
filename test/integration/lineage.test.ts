import { afterEach, describe, expect, it } from 'vitest';
import { ErrorCode, Kind, type Message } from '../../protocol/index.js';
import { ClientCore } from '../../src/client/client-core.js';
import { connect } from '../../src/client/index.js';
import { ConfigState } from '../../src/store/config-state.js';
import { ADMIN_PASSWORD, adminClient, startTestMaster } from '../helpers/master.js';
import { Mirror, snapshotOf } from '../helpers/mirror.js';
import { startTestProxy } from '../helpers/proxy.js';
import { RawPeer } from '../helpers/raw-peer.js';
import { Relay } from '../helpers/relay.js';
import { until } from '../helpers/until.js';

const toClose: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const close of toClose.splice(0).reverse()) await close();
});

type Registered = Extract<Message, { kind: typeof Kind.Registered }>;

describe('lineage', () => {
  it('lineage - every server names its lineage; a session of another lineage is answered history-expired, never replayed', async () => {
    const a = await startTestMaster();
    toClose.push(a.cleanup);
    const b = await startTestMaster();
    toClose.push(b.cleanup);
    const atA = await adminClient(a.master.port);
    toClose.push(() => atA.close());
    const info = await atA.serverInfo();
    expect(info).toMatchObject({ kind: Kind.ServerInfo, lineage: a.master.db.lineage });
    expect(a.master.db.lineage.id).not.toBe(b.master.db.lineage.id);
    await atA.create({ type: 'Skill', name: 'only-at-a' });

    const peer = await RawPeer.connect(b.master.port);
    toClose.push(() => peer.close());
    const lastSeq = atA.lastSeq - 1; // a position B's own log would cover
    const registered = (await peer.register(ADMIN_PASSWORD, { session: { id: 'moved', lastSeq, lineage: atA.lineage, subscriptions: [{}] } })) as Registered;
    expect(registered).toMatchObject({ kind: Kind.Registered, restored: false, lineage: b.master.db.lineage });
    const expired = await peer.waitFor((m) => m.kind === Kind.HistoryLogExpired);
    expect(expired).toMatchObject({ lastSeq, lineage: b.master.db.lineage, seq: b.master.source.appliedSeq() });
    expect(peer.received.some((m) => m.kind === Kind.ObjectCreated || m.kind === Kind.ObjectUpdated)).toBe(false);
  });

  it('lineage - a write made against another lineage is refused with LINEAGE_MISMATCH and changes nothing', async () => {
    const { master, cleanup } = await startTestMaster();
    toClose.push(cleanup);
    // A write that names its lineage is what a proxy forwards: the package's own connection core, not the SDK.
    const writer = await ClientCore.connect({ endpoints: `127.0.0.1:${master.port}`, user: 'admin', password: ADMIN_PASSWORD });
    toClose.push(() => writer.close());
    const { dbid, seq } = await writer.create({ type: 'Skill', name: 'target' });
    const foreign = { id: 'another-database', generation: 1 };
    await expect(writer.update('Skill', dbid, { name: 'renamed' }, { lineage: foreign })).rejects.toMatchObject({ code: ErrorCode.LINEAGE_MISMATCH });
    await expect(writer.delete('Skill', dbid, { lineage: { ...master.db.lineage, generation: master.db.lineage.generation + 1 } })).rejects.toMatchObject({ code: ErrorCode.LINEAGE_MISMATCH });
    await expect(writer.create({ type: 'Skill', name: 'other' }, { lineage: foreign })).rejects.toMatchObject({ code: ErrorCode.LINEAGE_MISMATCH });
    expect(master.source.appliedSeq()).toBe(seq);
    expect((await writer.readAll('Skill', { dbid }))[0].name).toBe('target');
    // The same write against the right lineage goes through.
    await writer.update('Skill', dbid, { name: 'renamed' }, { lineage: master.db.lineage });
    expect((await writer.readAll('Skill', { dbid }))[0].name).toBe('renamed');
  });

  it('lineage - a client whose session moves between proxies of two different masters is reset once and ends equal to the new one', async () => {
    const a = await startTestMaster();
    toClose.push(a.cleanup);
    const b = await startTestMaster();
    toClose.push(b.cleanup);
    const writerB = await adminClient(b.master.port);
    toClose.push(() => writerB.close());
    for (let i = 0; i < 5; i += 1) await writerB.create({ type: 'Skill', name: `b-${i}` });
    const proxyA = await startTestProxy(a.dir, [a.master.port]);
    let proxyAStopped = false;
    toClose.push(async () => void (proxyAStopped || (await proxyA.stop())));
    const proxyB = await startTestProxy(b.dir, [b.master.port]);
    toClose.push(() => proxyB.stop());

    const roaming = await connect({ endpoints: [`127.0.0.1:${proxyA.port}`, `127.0.0.1:${proxyB.port}`], user: 'admin', password: ADMIN_PASSWORD, standby: false });
    toClose.push(() => roaming.close());
    const mirror = await Mirror.follow(roaming);
    const reset = new Promise<void>((resolve) => roaming.once('reset', () => void mirror.settled().then(resolve)));
    proxyAStopped = true;
    await proxyA.stop();
    await reset;
    expect(roaming.lineage).toEqual(b.master.db.lineage);
    expect(mirror.sorted()).toEqual(await snapshotOf(writerB));
    expect(mirror.resets).toBe(1);
    expect(mirror.misfits).toEqual([]);
  });

  it('lineage - ConfigState refuses a change that does not follow its seq: two histories are never merged', () => {
    const state = new ConfigState();
    state.reset(10, { id: 'x', generation: 1 }, [], undefined);
    const change = { seq: 10, at: 0, op: 'deleted' as const, type: 'Skill' as const, dbid: 1, tenant: 0, folder: 0, frame: Buffer.alloc(0) };
    expect(() => state.land(change, undefined, undefined)).toThrow(/does not follow seq 10/);
    expect(state.appliedSeq).toBe(10);
    state.land({ ...change, seq: 11 }, undefined, undefined);
    expect(state.appliedSeq).toBe(11);
  });
});

describe('snapshot loads', () => {
  it('proxy - a snapshot that takes far longer than the request timeout loads: the timeout is renewed by every chunk', async () => {
    const { master, dir, cleanup } = await startTestMaster({ limits: { readChunkObjects: 100 } });
    toClose.push(cleanup);
    const writer = await adminClient(master.port);
    toClose.push(() => writer.close());
    const before = master.source.store.countOf('Skill');
    const filler = 'x'.repeat(300);
    for (let i = 0; i < 3000; i += 1) await writer.create({ type: 'Skill', name: `skill-${i}`, options: { pad: { filler } } });
    const relay = await Relay.start(master.port, { downstreamBytesPerSecond: 400_000 });
    toClose.push(() => relay.close());
    const startedAt = performance.now();
    const proxy = await startTestProxy(dir, [relay.port], { upstreamRequestTimeoutMs: 1000 });
    toClose.push(() => proxy.stop());
    expect(performance.now() - startedAt).toBeGreaterThan(1500); // the load outlived the timeout…
    expect(proxy.source.store.countOf('Skill')).toBe(before + 3000); // …and completed
  });

  it('proxy - a load the proxy withdraws (Cancel) frees its place at the master, so the next proxy loads', async () => {
    const { master, dir, cleanup } = await startTestMaster({ limits: { maxSnapshotLoads: 1 } });
    toClose.push(cleanup);
    const writer = await adminClient(master.port);
    toClose.push(() => writer.close());
    const filler = 'y'.repeat(4000);
    for (let i = 0; i < 2500; i += 1) await writer.create({ type: 'Skill', name: `big-${i}`, options: { pad: { filler } } });

    // A proxy that asks for a snapshot and stops reading: it holds the only load slot.
    const stuck = await RawPeer.connect(master.port);
    toClose.push(() => stuck.close());
    await stuck.register(ADMIN_PASSWORD, { clientType: 'proxy' });
    stuck.socket.pause();
    stuck.send({ kind: Kind.LoadSnapshot, id: 7 });
    await until(() => master.service.snapshotLoads.available === 0, 5000, 'the stuck load taking the slot');
    stuck.send({ kind: Kind.Cancel, id: 7 });
    await until(() => master.service.snapshotLoads.available === 1, 5000, 'the cancelled load freeing the slot');
    const next = await startTestProxy(dir, [master.port]);
    toClose.push(() => next.stop());
    expect(next.source.store.countOf('Skill')).toBe(master.source.store.countOf('Skill'));
  });
});
