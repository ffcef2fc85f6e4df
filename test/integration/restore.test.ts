import { afterEach, describe, expect, it } from 'vitest';
import { ErrorCode, Kind, type Message } from '../../protocol/index.js';
import type { Notification } from '../../src/client/index.js';
import { ADMIN_PASSWORD, adminClient, startTestMaster } from '../helpers/master.js';
import { startTestProxy } from '../helpers/proxy.js';
import { RawPeer } from '../helpers/raw-peer.js';
import { Relay } from '../helpers/relay.js';
import { until } from '../helpers/until.js';

const toClose: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const close of toClose.splice(0).reverse()) await close();
});

/** A master, a watcher that reaches it through a cuttable relay, and a writer that does not. */
async function watcherBehindRelay(options: Parameters<typeof startTestMaster>[0] = {}) {
  const { master, cleanup } = await startTestMaster(options);
  toClose.push(cleanup);
  const relay = await Relay.start(master.port);
  toClose.push(() => relay.close());
  const watcher = await adminClient(relay.port);
  toClose.push(() => watcher.close());
  const writer = await adminClient(master.port);
  toClose.push(() => writer.close());
  return { master, relay, watcher, writer };
}

describe('session restore', () => {
  it('restore - a client cut off catches up on exactly the changes it missed, once each, in order', async () => {
    const { relay, watcher, writer } = await watcherBehindRelay();
    await watcher.subscribe({ type: 'Skill' });
    const seen: number[] = [];
    const restored: boolean[] = [];
    watcher.on('notification', (n: Notification) => seen.push(n.seq));
    watcher.on('connected', (info: { restored: boolean }) => restored.push(info.restored));
    const committed: number[] = [];
    committed.push((await writer.create({ type: 'Skill', name: 's-before', tenant: 1 })).seq);
    while (seen.length < 1) await new Promise<void>((resolve) => watcher.once('notification', () => resolve()));

    const disconnected = new Promise<void>((resolve) => watcher.once('disconnected', () => resolve()));
    relay.cut();
    await disconnected;
    for (let i = 0; i < 5; i += 1) {
      committed.push((await writer.create({ type: 'Skill', name: `s-${i}`, tenant: 1 })).seq);
      await writer.create({ type: 'Host', name: `h-${i}`, tenant: 1, props: { ip: '1.1.1.1' } }); // not subscribed
    }
    const reconnected = new Promise<void>((resolve) => watcher.once('connected', () => resolve()));
    relay.heal();
    await reconnected;
    committed.push((await writer.create({ type: 'Skill', name: 's-after', tenant: 1 })).seq);
    while (seen.length < committed.length) await new Promise<void>((resolve) => watcher.once('notification', () => resolve()));
    expect(restored).toEqual([true]);
    expect(seen).toEqual(committed);
  });

  it('restore - past the retained history the client gets a reset instead of a gap', async () => {
    const { master, relay, watcher, writer } = await watcherBehindRelay({ historyMaxChanges: 3 });
    await watcher.subscribe({});
    const disconnected = new Promise<void>((resolve) => watcher.once('disconnected', () => resolve()));
    relay.cut();
    await disconnected;
    for (let i = 0; i < 10; i += 1) await writer.create({ type: 'Skill', name: `x-${i}`, tenant: 1 });
    master.prune(3, 24 * 3600_000);
    expect(master.source.oldestSeq()).toBe(master.source.appliedSeq() - 2);
    const reset = new Promise<{ seq: number }>((resolve) => watcher.once('reset', resolve));
    relay.heal();
    expect((await reset).seq).toBe(master.source.appliedSeq());
    expect(watcher.lastSeq).toBe(master.source.appliedSeq());
  });
});

describe('position', () => {
  it('position - an idle subscriber is told its position, so its lastSeq follows the server seq', async () => {
    const { master, cleanup } = await startTestMaster({ limits: { positionIntervalMs: 50 } });
    toClose.push(cleanup);
    const idle = await adminClient(master.port);
    toClose.push(() => idle.close());
    await idle.subscribe({ type: 'DN' });
    const writer = await adminClient(master.port);
    toClose.push(() => writer.close());
    let last = 0;
    for (let i = 0; i < 3; i += 1) last = (await writer.create({ type: 'Skill', name: `elsewhere-${i}`, tenant: 1 })).seq;
    const notified: number[] = [];
    idle.on('notification', (n: Notification) => notified.push(n.seq));
    while (idle.lastSeq < last) await new Promise((resolve) => idle.once('position', resolve));
    expect(idle.lastSeq).toBe(last);
    expect(notified).toEqual([]);
  });
});

describe('restore by session id alone', () => {
  it('restore - a client that presents only its session id gets its subscriptions and what it missed from the proxy\'s history log; another user may not take the session', async () => {
    const { master, dir, cleanup } = await startTestMaster();
    toClose.push(cleanup);
    const proxy = await startTestProxy(dir, [master.port]);
    toClose.push(() => proxy.stop());
    const writer = await adminClient(master.port);
    toClose.push(() => writer.close());
    await writer.create({ type: 'Person', name: 'other', props: { password: 'other-secret', isAdmin: true } });

    const first = await RawPeer.connect(proxy.port);
    const registered = (await first.register(ADMIN_PASSWORD)) as Extract<Message, { kind: typeof Kind.Registered }>;
    first.send({ kind: Kind.Subscribe, id: 2, filter: { type: 'Skill' } });
    await first.waitFor((m) => m.kind === Kind.Ack && m.id === 2);
    const seen = (await writer.create({ type: 'Skill', name: 'seen', tenant: 1 })).seq;
    await first.waitFor((m) => m.kind === Kind.ObjectCreated && m.seq === seen);
    await first.close();
    await until(() => proxy.service.sessions.size === 0); // the session's close is recorded
    const missed = [(await writer.create({ type: 'Skill', name: 'missed-1', tenant: 1 })).seq, (await writer.create({ type: 'Switch', name: 'not-subscribed', tenant: 1 })).seq, (await writer.create({ type: 'Skill', name: 'missed-2', tenant: 1 })).seq];
    await proxy.source.waitForSeq(missed[2], 5000);

    const thief = await RawPeer.connect(proxy.port);
    toClose.push(() => thief.close());
    expect(await thief.register('other-secret', { user: 'other', sessionId: registered.sessionId })).toMatchObject({ kind: Kind.Error, code: ErrorCode.PERMISSION_DENIED });

    const back = await RawPeer.connect(proxy.port);
    toClose.push(() => back.close());
    expect(await back.register(ADMIN_PASSWORD, { sessionId: registered.sessionId })).toMatchObject({ kind: Kind.Registered, restored: true, sessionId: registered.sessionId });
    await back.waitFor((m) => m.kind === Kind.ObjectCreated && m.seq === missed[2]);
    const replayed = back.received.filter((m) => m.kind === Kind.ObjectCreated).map((m) => (m as { seq: number }).seq);
    expect(replayed).toEqual([missed[0], missed[2]]); // its Skill subscription, nothing it had already got

    const unknown = await RawPeer.connect(proxy.port);
    toClose.push(() => unknown.close());
    expect(await unknown.register(ADMIN_PASSWORD, { sessionId: 'never-seen' })).toMatchObject({ kind: Kind.Registered, restored: false });
    expect(await unknown.waitFor((m) => m.kind === Kind.HistoryLogExpired)).toMatchObject({ kind: Kind.HistoryLogExpired });
  });
});
