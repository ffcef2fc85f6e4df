import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { encodeFrame, Kind } from '../../protocol/index.js';
import { HistoryLog } from '../../src/history/history-log.js';
import type { ChangeRecord } from '../../src/model/change.js';

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function change(seq: number): ChangeRecord {
  return { seq, at: 1_795_000_000_000 + seq, op: 'deleted', type: 'Skill', dbid: seq, tenant: 1, folder: 0, frame: encodeFrame({ kind: Kind.ObjectDeleted, seq, at: 1, type: 'Skill', dbid: seq }) };
}

const LINEAGE = { id: 'test-lineage', generation: 1 };

/** A fresh start at `seq` with nothing in the cache. */
function startAt(log: HistoryLog, seq: number): void {
  log.startImage({ lineage: LINEAGE, seq, scope: '', objects: [], credentials: [] });
}

function seqsAfter(log: HistoryLog, seq: number): number[] | 'expired' {
  const result = log.changesAfter(seq);
  return result.kind === 'expired' ? 'expired' : [...result.changes].map((c) => c.seq);
}

describe('history log', () => {
  it('history - replays the same changes from memory, from the pending batch and, after a restart, from SQLite', () => {
    const dir = mkdtempSync(join(tmpdir(), 'cfgproxy-history-'));
    dirs.push(dir);
    const path = join(dir, 'history.db');
    const log = new HistoryLog(path);
    startAt(log, 10);
    for (const seq of [11, 12, 14, 15]) log.append(change(seq), undefined); // 13 was outside the scope
    expect(seqsAfter(log, 12)).toEqual([14, 15]); // still pending: served from memory
    log.flush();
    expect(seqsAfter(log, 10)).toEqual([11, 12, 14, 15]);
    expect(seqsAfter(log, 9)).toBe('expired');
    log.append(change(16), undefined);
    log.close();

    const reopened = new HistoryLog(path); // nothing in memory now: SQLite answers
    expect(seqsAfter(reopened, 10)).toEqual([11, 12, 14, 15, 16]);
    expect(seqsAfter(reopened, 14)).toEqual([15, 16]);
    reopened.append(change(17), undefined);
    expect(seqsAfter(reopened, 15)).toEqual([16, 17]); // stored, then pending
    expect(seqsAfter(reopened, 16)).toEqual([17]); // from memory
    reopened.close();
  });

  it('history - a second proxy on the same history file is refused, and the first keeps it', () => {
    const dir = mkdtempSync(join(tmpdir(), 'cfgproxy-history-'));
    dirs.push(dir);
    const path = join(dir, 'history.db');
    const log = new HistoryLog(path);
    expect(() => new HistoryLog(path)).toThrow(/in use by another process \(another proxy\?\)/);
    startAt(log, 10);
    log.append(change(11), undefined);
    log.flush();
    expect(seqsAfter(log, 10)).toEqual([11]);
    log.close();
  });
});

describe('history log - pair term', () => {
  it('history - the pair term survives a restart of the file, so a restarted member keeps the term it acted on', () => {
    const dir = mkdtempSync(join(tmpdir(), 'cfgproxy-history-'));
    dirs.push(dir);
    const path = join(dir, 'history.db');
    const log = new HistoryLog(path);
    expect(log.pairTerm()).toBe(0);
    log.savePairTerm(7);
    log.close();
    const reopened = new HistoryLog(path);
    expect(reopened.pairTerm()).toBe(7);
    reopened.close();
  });
});
