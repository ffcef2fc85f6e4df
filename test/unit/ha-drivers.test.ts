import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { AutoRestore } from '../../src/ha/auto-restore.js';
import { probe } from '../../src/ha/probe.js';
import { ReadinessTracker, type ReadinessFacts } from '../../src/ha/readiness.js';
import { FakeClock } from '../helpers/fake-clock.js';

const toClose: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const close of toClose.splice(0).reverse()) await close();
});

const primaryFacts: ReadinessFacts = { role: 'primary', linkUp: true, loaded: true, appliedSeq: 10, ackedUpTo: 5 };
const caughtUp = { loaded: true, appliedSeq: 10, acceptsClients: false, canReload: true };

describe('readiness tracker', () => {
  it('readiness - the primary is ready only after --ready-after on its clock, with a loaded backup at the seq and journal record of one heartbeat ago', () => {
    const clock = new FakeClock();
    const tracker = new ReadinessTracker(60_000, clock);
    tracker.linked();
    tracker.beat(10, 5);
    tracker.beat(10, 5);
    tracker.onPeerStatus(caughtUp);
    expect(tracker.evaluate(primaryFacts)).toEqual({ ready: false, reason: expect.stringMatching(/0 s of the 60 s --ready-after/) });
    clock.advance(59_999);
    expect(tracker.evaluate(primaryFacts).ready).toBe(false);
    clock.advance(1);
    expect(tracker.evaluate(primaryFacts)).toEqual({ ready: true });
    // The backup fell behind what this member had a heartbeat ago; then sessions are not all mirrored.
    tracker.beat(20, 9);
    tracker.beat(20, 9);
    expect(tracker.evaluate(primaryFacts)).toEqual({ ready: false, reason: 'the backup is at seq 10, behind 20' });
    tracker.onPeerStatus({ ...caughtUp, appliedSeq: 20 });
    expect(tracker.evaluate(primaryFacts).reason).toMatch(/acknowledged journal record 5 of 9/);
    expect(tracker.evaluate({ ...primaryFacts, ackedUpTo: 9 })).toEqual({ ready: true });
    // A new link starts over: its age and the backup's word.
    tracker.linked();
    expect(tracker.evaluate({ ...primaryFacts, ackedUpTo: 9 }).ready).toBe(false);
  });

  it('readiness - the backup is ready when linked, loaded and at the newest seq the journal brought', () => {
    const tracker = new ReadinessTracker(60_000, new FakeClock());
    const backup: ReadinessFacts = { role: 'backup', linkUp: true, loaded: true, appliedSeq: 7, ackedUpTo: 0 };
    expect(tracker.evaluate(backup)).toEqual({ ready: true });
    tracker.onJournalChange(9);
    expect(tracker.evaluate(backup)).toEqual({ ready: false, reason: "this backup is at seq 7, the primary's journal at 9" });
    expect(tracker.evaluate({ ...backup, appliedSeq: 9 })).toEqual({ ready: true });
    expect(tracker.evaluate({ ...backup, linkUp: false }).reason).toBe('the HA link is down');
    expect(tracker.evaluate({ ...backup, loaded: false }).reason).toBe('this member has not loaded the configuration');
  });
});

describe('probe', () => {
  it('probe - a port that accepts but never answers (a hung process) is not alive once the probe times out on its clock', async () => {
    const sockets = new Set<net.Socket>();
    const hung = net.createServer((socket) => sockets.add(socket)); // accepts, reads nothing, says nothing
    await new Promise<void>((resolve) => hung.listen(0, '127.0.0.1', resolve));
    toClose.push(() => new Promise((resolve) => { for (const s of sockets) s.destroy(); hung.close(() => resolve()); }));
    const port = (hung.address() as net.AddressInfo).port;
    const clock = new FakeClock();
    let settled: boolean | undefined;
    const answered = probe(`127.0.0.1:${port}`, 1000, 'answer', clock).then((value) => (settled = value));
    await new Promise<void>((resolve) => hung.once('connection', () => resolve()));
    clock.advance(999);
    await new Promise((resolve) => setImmediate(resolve));
    expect(settled).toBeUndefined(); // still waiting: only the probe's clock ends it
    clock.advance(1);
    expect(await answered).toBe(false);
    // The same port in `connect` mode counts as alive: it accepted.
    expect(await probe(`127.0.0.1:${port}`, 1000, 'connect', clock)).toBe(true);
  });
});

describe('auto-restore', () => {
  it('auto-restore - asks once after enough healthy heartbeats in a row, and again only after health broke and returned', () => {
    const restore = new AutoRestore(3);
    expect([true, true].map((h) => restore.beat(h))).toEqual([false, false]);
    expect(restore.beat(false)).toBe(false); // broken: counting starts over
    expect([true, true, true, true, true].map((h) => restore.beat(h))).toEqual([false, false, true, false, false]);
    expect([false, true, true, true].map((h) => restore.beat(h))).toEqual([false, false, false, true]);
  });
});
