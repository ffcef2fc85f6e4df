import { afterEach, describe, expect, it } from 'vitest';
import { ErrorCode, Kind, type ErrorMessage, type Message } from '../../protocol/index.js';
import { connect, type CfgClient, type Notification } from '../../src/client/index.js';
import { approximateBytes } from '../../src/util/approximate-bytes.js';
import { Ring } from '../../src/util/ring.js';
import { ADMIN_PASSWORD, startTestMaster } from '../helpers/master.js';
import { startTestProxy } from '../helpers/proxy.js';
import { RawPeer } from '../helpers/raw-peer.js';
import { until } from '../helpers/until.js';

const toClose: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const close of toClose.splice(0).reverse()) await close();
});

async function peer(port: number): Promise<RawPeer> {
  const p = await RawPeer.connect(port);
  toClose.push(() => p.close());
  return p;
}

/** A section of `keys` keys with values of 15,000 characters (the value limit is 16 KiB). */
function bulky(keys: number, fill = 'x'): Record<string, string> {
  return Object.fromEntries(Array.from({ length: keys }, (_, i) => [`k${i}`, fill.repeat(15_000)]));
}

async function client(port: number, user = 'admin', password = ADMIN_PASSWORD): Promise<CfgClient> {
  const c = await connect({ endpoints: `127.0.0.1:${port}`, user, password, reconnect: false });
  toClose.push(() => c.close());
  return c;
}

describe('limits', () => {
  it('limits - an object larger than --max-object-bytes is refused at the master and at a writable proxy; nothing is committed', async () => {
    const { master, dir, cleanup } = await startTestMaster({ maxObjectBytes: 64 * 1024 });
    toClose.push(cleanup);
    const proxy = await startTestProxy(dir, [master.port], { writable: true, maxObjectBytes: 64 * 1024 });
    toClose.push(() => proxy.stop());
    const writer = await client(master.port);
    const { dbid, seq } = await writer.create({ type: 'Skill', name: 'grows', tenant: 1 });
    const big = { blob: bulky(5) }; // about 75 KB
    await expect(writer.create({ type: 'Skill', name: 'huge', tenant: 1, options: big })).rejects.toMatchObject({ code: ErrorCode.OBJECT_TOO_LARGE });
    // Growing an object step by step hits the same wall: the object after the change is measured.
    await writer.update('Skill', dbid, { options: { a: bulky(3, 'y') } });
    await expect(writer.update('Skill', dbid, { options: { b: bulky(3, 'z') } })).rejects.toMatchObject({ code: ErrorCode.OBJECT_TOO_LARGE });
    expect(master.source.appliedSeq()).toBe(seq + 1);
    const viaProxy = await client(proxy.port);
    await expect(viaProxy.create({ type: 'Skill', name: 'huge', tenant: 1, options: big })).rejects.toMatchObject({ code: ErrorCode.OBJECT_TOO_LARGE });
    expect(master.source.appliedSeq()).toBe(seq + 1);
  });

  it('limits - large objects travel in chunks of about 4 MiB, never one oversized frame', async () => {
    const { master, cleanup } = await startTestMaster();
    toClose.push(cleanup);
    const writer = await client(master.port);
    for (let i = 0; i < 6; i += 1) await writer.create({ type: 'Skill', name: `large-${i}`, tenant: 1, options: { pad: bulky(60, String(i)) } }); // about 900 KB each
    const p = await peer(master.port);
    await p.register(ADMIN_PASSWORD);
    const sizes: number[] = [];
    p.socket.on('data', () => undefined);
    p.send({ kind: Kind.ReadObjects, id: 5, objectType: 'Skill' });
    const end = await p.waitFor((m) => m.kind === Kind.ReadEnd && m.id === 5);
    for (const m of p.received) if (m.kind === Kind.ObjectsChunk) sizes.push(approximateBytes(m.objects));
    expect(end).toMatchObject({ total: 8 });
    expect(sizes.length).toBeGreaterThanOrEqual(2); // 5.4 MB of objects: more than one chunk
    expect(Math.max(...sizes)).toBeLessThanOrEqual(4 * 1024 * 1024);
  });

  it('limits - a client that pipelines requests and reads no replies is cut off with TOO_MANY_REQUESTS; others are served', async () => {
    const { master, cleanup } = await startTestMaster({ limits: { maxRequestsInFlight: 50, readHighWaterBytes: 4096 } });
    toClose.push(cleanup);
    const p = await peer(master.port);
    await p.register(ADMIN_PASSWORD);
    p.socket.pause();
    for (let id = 10; id < 400; id += 1) p.send({ kind: Kind.ReadObjects, id, objectType: 'DN' });
    await until(() => master.service.clientCount === 0, 10_000, 'the greedy client being cut off');
    const other = await client(master.port);
    expect((await other.readAll('Switch')).length).toBe(2);
    const frames: Message[] = p.received;
    p.socket.resume();
    await p.closed;
    expect(frames.find((m) => m.kind === Kind.Error && m.id === 0)).toMatchObject({ code: ErrorCode.TOO_MANY_REQUESTS, fatal: true });
  });

  it('limits - idle sockets that never log in cannot lock a real login out; standby connections are capped per user', async () => {
    const { master, cleanup } = await startTestMaster({ limits: { maxPendingConnections: 5, maxStandbyPerUser: 2 } });
    toClose.push(cleanup);
    const idle = await Promise.all(Array.from({ length: 5 }, () => peer(master.port)));
    await until(() => master.service.clientCount === 5);
    const real = await client(master.port); // evicts the oldest idle socket
    expect((await real.readAll('Switch')).length).toBe(2);
    await idle[0].closed;
    expect((await idle[0].waitFor((m) => m.kind === Kind.Error)) as ErrorMessage).toMatchObject({ code: ErrorCode.TOO_MANY_CLIENTS });

    const standbys = await Promise.all(Array.from({ length: 3 }, () => peer(master.port)));
    standbys.forEach((s, i) => s.send({ kind: Kind.Standby, id: i + 1, user: 'admin', password: ADMIN_PASSWORD, remoteTimeoutMs: 10_000 }));
    const answers = await Promise.all(standbys.map((s, i) => s.waitFor((m) => 'id' in m && m.id === i + 1)));
    expect(answers.filter((m) => m.kind === Kind.Ack)).toHaveLength(2);
    expect(answers.find((m) => m.kind === Kind.Error)).toMatchObject({ code: ErrorCode.TOO_MANY_CLIENTS });
    // And the keepalive is not optional on a standby connection.
    const noKeepalive = await peer(master.port);
    noKeepalive.send({ kind: Kind.Standby, id: 9, user: 'admin', password: ADMIN_PASSWORD, remoteTimeoutMs: 0 });
    expect(await noKeepalive.waitFor((m) => 'id' in m && m.id === 9)).toMatchObject({ kind: Kind.Error, code: ErrorCode.INVALID_MESSAGE });
  });

  it('limits - failed logins are throttled by user and by address; an unknown user costs the same time as a wrong password', async () => {
    const { master, cleanup } = await startTestMaster();
    toClose.push(cleanup);
    const writer = await client(master.port);
    await writer.create({ type: 'Person', name: 'victim', props: { password: 'victim-secret' } });
    const attempt = async (user: string, password: string): Promise<{ code: string | undefined; ms: number }> => {
      const started = performance.now();
      try {
        await (await connect({ endpoints: `127.0.0.1:${master.port}`, user, password, reconnect: false })).close();
        return { code: undefined, ms: performance.now() - started };
      } catch (error) {
        return { code: (error as { code?: string }).code, ms: performance.now() - started };
      }
    };
    const unknown = [];
    const wrong = [];
    for (let i = 0; i < 4; i += 1) {
      unknown.push((await attempt(`nobody-${i}`, 'guess')).ms);
      wrong.push((await attempt('victim', `guess-${i}`)).ms);
    }
    const median = (values: number[]): number => values.sort((a, b) => a - b)[Math.floor(values.length / 2)];
    expect(median(unknown)).toBeGreaterThan(median(wrong) / 3); // both pay for scrypt
    expect((await attempt('victim', 'guess-5')).code).toBe(ErrorCode.AUTH_FAILED); // the fifth failure
    // Past five, a failure of this account is answered late; the right password is not [PROTO-LIMIT-4].
    const late = await attempt('victim', 'guess-6');
    expect(late.code).toBe(ErrorCode.AUTH_FAILED);
    expect(late.ms).toBeGreaterThan(240);
    const owner = await attempt('victim', 'victim-secret');
    expect(owner.code).toBeUndefined();
    expect(owner.ms).toBeLessThan(late.ms);
    expect((await attempt('admin', ADMIN_PASSWORD)).code).toBeUndefined(); // others log in
  });

  it('limits - a reader whose view an object leaves gets ObjectDeleted{outOfView} without its content, live and in a replay', async () => {
    const { master, cleanup } = await startTestMaster();
    toClose.push(cleanup);
    const admin = await client(master.port);
    const seen = (await admin.create({ type: 'Folder', name: 'visible', tenant: 1 })).dbid;
    const hidden = (await admin.create({ type: 'Folder', name: 'hidden', tenant: 1 })).dbid;
    await admin.create({ type: 'Person', name: 'reader', props: { password: 'reader-secret', grants: [{ on: 'folder', target: seen, access: 'read' }] } });
    const skill = (await admin.create({ type: 'Skill', name: 'moving', tenant: 1, folder: seen })).dbid;
    const live = await client(master.port, 'reader', 'reader-secret');
    await live.subscribe({ type: 'Skill' });
    const replayed = await connect({ endpoints: `127.0.0.1:${master.port}`, user: 'reader', password: 'reader-secret', standby: false });
    toClose.push(() => replayed.close());
    await replayed.subscribe({ type: 'Skill' });
    const relay = await peer(master.port); // the replayed client's session is presented by hand after the move
    const position = { id: 'replayed', lastSeq: replayed.lastSeq, lineage: replayed.lineage!, subscriptions: [{ type: 'Skill' }] };
    await replayed.close();

    const got = new Promise<Notification>((resolve) => live.once('notification', resolve));
    await admin.update('Skill', skill, { folder: hidden, options: { secret: { plan: 'only for the hidden folder' } } });
    const notification = await got;
    expect(notification).toEqual(expect.objectContaining({ kind: Kind.ObjectDeleted, type: 'Skill', dbid: skill, outOfView: true }));
    expect(JSON.stringify(notification)).not.toMatch(/only for the hidden folder/);

    await relay.register('reader-secret', { user: 'reader', session: position });
    const replay = await relay.waitFor((m) => m.kind === Kind.ObjectDeleted);
    expect(replay).toMatchObject({ dbid: skill, outOfView: true });
    expect(JSON.stringify(relay.received)).not.toMatch(/only for the hidden folder/);
  });
});

describe('ring', () => {
  it('ring - bounded by bytes as well as count, keeping at least the newest item', () => {
    const ring = new Ring<string>(100, { maxBytes: 10, sizeOf: (s) => s.length });
    for (const item of ['aaaa', 'bbbb', 'cccc']) ring.push(item);
    expect(ring.from(0)).toEqual(['bbbb', 'cccc']);
    expect(ring.size).toBe(8);
    expect(ring.push('d'.repeat(50))).toBe('cccc');
    expect(ring.from(0)).toEqual(['d'.repeat(50)]);
  });
});
