import { afterEach, describe, expect, it } from 'vitest';
import { Kind, type ConfigObject } from '../../protocol/index.js';
import { connect, type Notification } from '../../src/client/index.js';
import { applyDelta } from '../../src/model/validate-object.js';
import { ADMIN_PASSWORD, adminClient, startTestMaster } from '../helpers/master.js';
import { startTestProxy } from '../helpers/proxy.js';
import { Relay } from '../helpers/relay.js';

const toClose: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const close of toClose.splice(0).reverse()) await close();
});

describe('proxy reload', () => {
  it('history expired while the proxy was away: it reloads and its subscribers receive exactly the difference, without a re-read', async () => {
    const { master, dir, cleanup } = await startTestMaster({ historyMaxChanges: 1_000_000 });
    toClose.push(cleanup);
    const relay = await Relay.start(master.port);
    toClose.push(() => relay.close());
    const proxy = await startTestProxy(dir, [relay.port], { upstreamAddp: { localTimeoutMs: 1000, remoteTimeoutMs: 1000 } });
    toClose.push(() => proxy.stop());
    const writer = await adminClient(master.port);
    toClose.push(() => writer.close());

    // A client of the proxy keeps its own copy of the skills from one read plus notifications.
    const watcher = await connect({ endpoints: `127.0.0.1:${proxy.port}`, user: 'admin', password: ADMIN_PASSWORD });
    toClose.push(() => watcher.close());
    const model = new Map<number, ConfigObject>((await watcher.readAll('Skill')).map((s) => [s.dbid, s]));
    await watcher.subscribe({ type: 'Skill' });
    const seqs: number[] = [];
    let resets = 0;
    watcher.on('reset', () => (resets += 1));
    watcher.on('notification', (n: Notification) => {
      seqs.push(n.seq);
      if (n.kind === Kind.ObjectCreated) model.set(n.object.dbid, n.object);
      else if (n.kind === Kind.ObjectUpdated) model.set(n.dbid, applyDelta(model.get(n.dbid)!, n.delta));
      else model.delete(n.dbid);
    });
    const [french, german] = [...model.values()];

    const lost = new Promise((resolve) => proxy.upstream.once('disconnected', resolve));
    relay.cut();
    await lost;
    // While the proxy is away: creates, updates (one object twice), a delete, and an object
    // created and deleted again (no difference at all).
    const created = [];
    for (let i = 0; i < 4; i += 1) created.push(await writer.create({ type: 'Skill', name: `new-${i}`, tenant: 1, options: { s: { k: `${i}` } } }));
    await writer.update('Skill', french.dbid, { name: 'French-2', options: { extra: { level: '3' } } });
    await writer.update('Skill', french.dbid, { props: { description: 'renamed twice' } });
    await writer.update('Skill', created[0].dbid, { options: { s: { k: null, k2: 'v' } } });
    await writer.delete('Skill', german.dbid);
    const transient = await writer.create({ type: 'Skill', name: 'transient', tenant: 1 });
    const last = await writer.delete('Skill', transient.dbid);
    master.prune(1, 24 * 3600_000); // the master's history no longer reaches the proxy's seq

    const reloaded = new Promise<{ first: boolean; notified: number }>((resolve) => proxy.upstream.once('loaded', resolve));
    relay.heal();
    const outcome = await reloaded;
    expect(outcome.first).toBe(false);
    // created 4, French updated, German deleted: 6 differences (the transient one is none).
    expect(outcome.notified).toBe(6);
    while (seqs.length < 6) await new Promise((resolve) => watcher.once('notification', resolve));

    expect(resets).toBe(0);
    expect(seqs.at(-1)).toBe(last.seq);
    expect([...seqs].sort((a, b) => a - b)).toEqual(seqs);
    expect(new Set(seqs).size).toBe(seqs.length);
    const truth = new Map((await writer.readAll('Skill')).map((s) => [s.dbid, s]));
    expect(new Map([...model].sort(([a], [b]) => a - b))).toEqual(new Map([...truth].sort(([a], [b]) => a - b)));

    // Live changes flow again after the reload.
    const live = await writer.create({ type: 'Skill', name: 'after-reload', tenant: 1 });
    while (seqs.length < 7) await new Promise((resolve) => watcher.once('notification', resolve));
    expect(seqs.at(-1)).toBe(live.seq);
  });
});
