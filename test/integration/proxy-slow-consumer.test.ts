import { afterEach, describe, expect, it } from 'vitest';
import { Kind, type Message } from '../../protocol/index.js';
import { connect, type Notification } from '../../src/client/index.js';
import { ADMIN_PASSWORD, adminClient, startTestMaster } from '../helpers/master.js';
import { startTestProxy } from '../helpers/proxy.js';
import { RawPeer } from '../helpers/raw-peer.js';

const toClose: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const close of toClose.splice(0).reverse()) await close();
});

const LIMIT = 256 * 1024;

describe('proxy slow consumer', () => {
  it('a subscriber that stops reading is cut off at its byte limit; the others get every change; its session stays restorable', async () => {
    const { master, dir, cleanup } = await startTestMaster();
    toClose.push(cleanup);
    const proxy = await startTestProxy(dir, [master.port], { limits: { maxOutboundBytes: LIMIT } });
    toClose.push(() => proxy.stop());
    const writer = await adminClient(master.port);
    toClose.push(() => writer.close());

    const stalled = await RawPeer.connect(proxy.port);
    toClose.push(() => stalled.close());
    const registered = (await stalled.register(ADMIN_PASSWORD)) as Extract<Message, { kind: typeof Kind.Registered }>;
    stalled.send({ kind: Kind.Subscribe, id: 2, filter: { type: 'Skill' } });
    await stalled.waitFor((m) => m.kind === Kind.Ack);
    stalled.socket.pause(); // stops reading: the kernel buffers fill, then the proxy's queue

    const readers = await Promise.all([0, 1].map(() => connect({ endpoints: `127.0.0.1:${proxy.port}`, user: 'admin', password: ADMIN_PASSWORD })));
    toClose.push(async () => void (await Promise.all(readers.map((r) => r.close()))));
    await Promise.all(readers.map((r) => r.subscribe({ type: 'Skill' })));
    const received = readers.map(() => [] as number[]);
    readers.forEach((r, i) => r.on('notification', (n: Notification) => received[i].push(n.seq)));

    // After every change the proxy queued, look at what waits for the stalled client.
    const stalledSession = [...proxy.service.sessions.values()].find((s) => s.id === registered.sessionId)!;
    let maxQueued = 0;
    const cutOff = new Promise<void>((resolve) => {
      const stop = proxy.source.onChange(() => {
        maxQueued = Math.max(maxQueued, stalledSession.connection.queuedBytes);
        if (!stalledSession.connection.isOpen) {
          stop();
          resolve();
        }
      });
    });

    const big = 'x'.repeat(16 * 1024 - 8);
    const { dbid } = await writer.create({ type: 'Skill', name: 'heavy', tenant: 1 });
    const committed: number[] = [];
    let cut = false;
    void cutOff.then(() => (cut = true));
    for (let i = 0; !cut || i < 20; i += 1) {
      const values = { a: `${i}${big}`, b: `${i}${big}`, c: `${i}${big}` };
      committed.push((await writer.update('Skill', dbid, { options: { blob: values } })).seq);
      if (i > 2000) throw new Error('the stalled client was never cut off');
    }
    await cutOff;
    await proxy.source.waitForSeq(committed.at(-1)!, 5000);
    const target = committed.length + 1; // the create, then every update
    await Promise.all(
      readers.map(
        (r, i) =>
          new Promise<void>((resolve) => {
            const check = (): void => void (received[i].length >= target && (r.off('notification', check), resolve()));
            r.on('notification', check);
            check();
          }),
      ),
    );
    expect(maxQueued).toBeLessThanOrEqual(LIMIT);
    for (const seqs of received) expect(seqs.slice(1)).toEqual(committed);

    // The cut-off client comes back with its session and is replayed what it missed from the history log.
    const back = await RawPeer.connect(proxy.port);
    toClose.push(() => back.close());
    const restored = await back.register(ADMIN_PASSWORD, { session: { id: registered.sessionId, lastSeq: registered.seq, lineage: registered.lineage, subscriptions: [{ type: 'Skill' }] } });
    expect(restored).toMatchObject({ kind: Kind.Registered, restored: true });
    await back.waitFor((m) => m.kind === Kind.ObjectUpdated && m.seq === committed.at(-1));
    const replayed = back.received.filter((m) => m.kind === Kind.ObjectCreated || m.kind === Kind.ObjectUpdated).map((m) => (m as { seq: number }).seq);
    expect(replayed.slice(1)).toEqual(committed);
  });
});
