import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { ChangeMessage, NotificationFilter } from '../../protocol/index.js';
import { Kind } from '../../protocol/index.js';
import { HistoryLog } from '../../src/history/history-log.js';
import { JournalCheck } from '../../src/ha/journal-check.js';
import { JournalWriter, type JournaledSession } from '../../src/ha/journal-writer.js';
import { Journal } from '../../src/ha/journal.js';
import { SessionMirror } from '../../src/ha/session-mirror.js';

const toClose: Array<() => void> = [];
afterEach(() => {
  for (const close of toClose.splice(0).reverse()) close();
});

type TestSession = { -readonly [K in keyof JournaledSession]: JournaledSession[K] };

function session(id: string, extra: Partial<JournaledSession> = {}): TestSession {
  return { id, state: 'active', personDbid: 7, clientName: `desk-${id}`, clientType: 'agent', lastDeliveredSeq: 0, subscriptions: new Map<string, NotificationFilter>([['a', { type: 'Skill' }]]), ...extra };
}

function change(seq: number, name = `skill ${seq}`): ChangeMessage {
  return { kind: Kind.ObjectUpdated, seq, at: 1, type: 'Skill', dbid: 1, delta: { name } };
}

describe('journal', () => {
  it('journal - numbers records from 1, answers what follows a record, and says undefined once the ring no longer reaches back', () => {
    const journal = new Journal(3);
    let appended = 0;
    const stop = journal.onAppend(() => (appended += 1));
    for (const id of ['a', 'b', 'c']) journal.append({ k: 'close', id });
    expect(journal.lastRecord).toBe(3);
    expect(journal.after(1)?.map((r) => r.r)).toEqual([2, 3]);
    expect(journal.after(3)).toEqual([]);
    journal.append({ k: 'close', id: 'd' }); // the ring holds 3: record 1 goes
    expect(journal.after(1)?.map((r) => r.r)).toEqual([2, 3, 4]);
    expect(journal.after(0)).toBeUndefined(); // record 1 is needed and gone: a snapshot
    stop();
    journal.append({ k: 'close', id: 'e' });
    expect(appended).toBe(4);
    expect(new Journal(3).id).not.toBe(journal.id); // a restarted primary numbers anew
  });

  it('journal - bounded by bytes as well as count: large records push old ones out', () => {
    const journal = new Journal(1000, 10_000);
    for (let i = 0; i < 20; i++) journal.append({ k: 'open', id: `s${i}`, person: 1, clientName: 'x'.repeat(2000), clientType: 'agent', subs: [], pos: 0 });
    expect(journal.bytes).toBeLessThanOrEqual(10_000);
    expect(journal.after(0)).toBeUndefined();
    expect(journal.after(19)?.map((r) => r.r)).toEqual([20]);
  });
});

describe('journal writer', () => {
  it('journal writer - records sessions only while journaling; positions once per tick and only those that moved; a snapshot holds only live sessions', () => {
    const journal = new Journal(100);
    const sessions = [session('a'), session('b'), session('c', { state: 'awaiting-register' })];
    let journaling = false;
    const writer = new JournalWriter(journal, () => sessions, () => journaling);
    writer.sessionOpened(sessions[0]);
    writer.writePositions();
    expect(journal.lastRecord).toBe(0); // a backup writes no journal
    journaling = true;
    writer.sessionOpened(sessions[0]);
    writer.sessionOpened(sessions[1]);
    writer.writePositions();
    expect(journal.after(0)?.map((r) => r.k)).toEqual(['open', 'open']); // nothing moved yet
    sessions[0].lastDeliveredSeq = 12;
    writer.writePositions();
    writer.writePositions(); // the same position is not written twice
    sessions[1].subscriptions = new Map([['b', { type: 'DN' }]]);
    writer.sessionChanged(sessions[1]);
    writer.sessionClosed(sessions[0]);
    expect(journal.after(2)).toEqual([
      { r: 3, k: 'pos', positions: [['a', 12]] },
      { r: 4, k: 'subs', id: 'b', subs: [{ type: 'DN' }] },
      { r: 5, k: 'close', id: 'a' },
    ]);
    expect(writer.snapshot().map((r) => r.id)).toEqual(['a', 'b']); // 'c' has not registered
    expect(writer.snapshot()[1]).toEqual({ r: 0, k: 'open', id: 'b', person: 7, clientName: 'desk-b', clientType: 'agent', subs: [{ type: 'DN' }], pos: 0 });
  });
});

describe('session mirror', () => {
  it('session mirror - the journal\'s session records land in the map and in the history log, where a restore after a failover finds them', () => {
    const dir = mkdtempSync(join(tmpdir(), 'cfgproxy-mirror-'));
    const history = new HistoryLog(join(dir, 'history.db'));
    toClose.push(() => rmSync(dir, { recursive: true, force: true }), () => history.close());
    const mirror = new SessionMirror(history);
    mirror.apply({ r: 1, k: 'open', id: 's1', person: 3, clientName: 'desk', clientType: 'agent', subs: [{ type: 'Skill' }], pos: 10 });
    mirror.apply({ r: 2, k: 'open', id: 's2', person: 4, clientName: 'desk2', clientType: 'agent', subs: [], pos: 10 });
    mirror.apply({ r: 3, k: 'subs', id: 's1', subs: [{ type: 'DN', dbid: 5 }] });
    mirror.apply({ r: 4, k: 'pos', positions: [['s1', 14], ['unknown', 99]] });
    mirror.apply({ r: 5, k: 'close', id: 's2' });
    mirror.apply({ r: 6, k: 'change', change: change(15) }); // not for the mirror
    history.flush();
    expect([...mirror.sessions.keys()]).toEqual(['s1']);
    expect(history.session('s1')).toEqual({ id: 's1', personDbid: 3, clientName: 'desk', clientType: 'agent', subscriptions: [{ type: 'DN', dbid: 5 }], lastSeq: 14, closed: false });
    expect(history.session('s2')?.closed).toBe(true);
    mirror.apply({ r: 7, k: 'reset' }); // a snapshot follows: what was mirrored goes
    expect(mirror.sessions.size).toBe(0);
    expect(history.session('s1')).toBeUndefined();
  });
});

describe('journal check', () => {
  it('journal check - a forwarded change must be the one the own master stream brings under that seq, whichever arrives first', () => {
    const disagreements: number[] = [];
    const check = new JournalCheck((seq) => disagreements.push(seq));
    check.ownApplied(change(1));
    check.forwardedChange(change(1)); // own first, the same
    check.forwardedChange(change(2)); // forwarded first, the same
    check.ownApplied(change(2));
    check.forwardedChange(change(3, 'forged'));
    check.ownApplied(change(3)); // forwarded first, another
    check.ownApplied(change(4));
    check.forwardedChange(change(4, 'forged')); // own first, another
    expect(disagreements).toEqual([3, 4]);
  });

  it('journal check - it remembers a bounded number of changes: a forged record far behind is forgotten, not compared', () => {
    const disagreements: number[] = [];
    const check = new JournalCheck((seq) => disagreements.push(seq));
    check.ownApplied(change(1));
    for (let seq = 2; seq <= 10_001; seq++) check.ownApplied(change(seq));
    check.forwardedChange(change(1, 'forged')); // out of memory: held as forwarded, not compared
    check.forwardedChange(change(10_001, 'forged'));
    expect(disagreements).toEqual([10_001]);
  });
});
