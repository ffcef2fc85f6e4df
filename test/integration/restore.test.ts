import { afterEach, describe, expect, it } from 'vitest';
import type { Notification } from '../../src/client/index.js';
import { adminClient, startTestMaster } from '../helpers/master.js';
import { Relay } from '../helpers/relay.js';

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
    const { master, relay, watcher, writer } = await watcherBehindRelay();
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
