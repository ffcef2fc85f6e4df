import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import type Database from 'better-sqlite3';
import type { NotificationFilter } from '../../protocol/index.js';
import type { ChangeRecord } from '../model/change.js';
import type { ChangesAfter } from '../service/source.js';
import { openOwnedDatabase } from '../store/owned-database.js';
import { Ring } from '../util/ring.js';
import { ChangeLogTable } from './change-log.js';

/** Changes kept in memory for replays (about 250 bytes of frame each, plus the record). */
const RECENT_CHANGES = 20_000;

/** What the history log keeps of one client session. */
export interface SessionRecord {
  id: string;
  personDbid: number;
  clientName: string;
  clientType: string;
  subscriptions: NotificationFilter[];
  /** The last seq delivered to the client. */
  lastSeq: number;
  closed: boolean;
}

/**
 * A proxy's history log (SQLite): the changes it applied, so a client that comes back with a
 * lastSeq is replayed from here without touching the master [ARCH-3], and its client session
 * records. Appends are batched: one transaction per event-loop turn, not one per change.
 *
 * `floor` is the seq the log can replay from: a client at lastSeq >= floor gets every change
 * after it; below the floor it must re-read (HistoryLogExpired).
 */
export class HistoryLog {
  private readonly db: Database.Database;
  private readonly changes: ChangeLogTable;
  private readonly statements;
  private readonly flushTransaction: () => void;
  private pendingChanges: ChangeRecord[] = [];
  /**
   * The newest changes in memory, oldest first: after a failover a thousand clients replay the
   * same recent changes, and reading them from SQLite a thousand times was a quarter of the
   * restore burst. Every change after `recentFloor` is here.
   */
  private readonly recent = new Ring<ChangeRecord>(RECENT_CHANGES);
  private recentFloor: number;
  private pendingSessions = new Map<string, SessionRecord>();
  private flushScheduled = false;
  private floorSeq: number;

  constructor(path: string) {
    if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
    this.db = openOwnedDatabase(path, 'proxy');
    this.changes = new ChangeLogTable(this.db);
    this.db.exec(`
      CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
      CREATE TABLE IF NOT EXISTS sessions (
        id TEXT PRIMARY KEY, person INTEGER NOT NULL, client_name TEXT NOT NULL, client_type TEXT NOT NULL,
        subscriptions TEXT NOT NULL, last_seq INTEGER NOT NULL, closed INTEGER NOT NULL, updated_at INTEGER NOT NULL);
    `);
    this.statements = {
      setMeta: this.db.prepare('INSERT OR REPLACE INTO meta (name, value) VALUES (?, ?)'),
      upsertSession: this.db.prepare(
        'INSERT OR REPLACE INTO sessions (id, person, client_name, client_type, subscriptions, last_seq, closed, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
      ),
      sessions: this.db.prepare('SELECT * FROM sessions ORDER BY updated_at'),
      pruneSessions: this.db.prepare('DELETE FROM sessions WHERE closed = 1 AND updated_at < ?'),
      clearSessions: this.db.prepare('DELETE FROM sessions'),
    };
    const floor = this.db.prepare("SELECT value FROM meta WHERE name = 'floor'").get() as { value: number } | undefined;
    this.floorSeq = floor?.value ?? 0;
    this.recentFloor = this.changes.newestSeq() ?? this.floorSeq;
    this.flushTransaction = this.db.transaction(() => {
      for (const change of this.pendingChanges) this.changes.append(change);
      const now = Date.now();
      for (const s of this.pendingSessions.values()) {
        this.statements.upsertSession.run(s.id, s.personDbid, s.clientName, s.clientType, JSON.stringify(s.subscriptions), s.lastSeq, s.closed ? 1 : 0, now);
      }
    });
  }

  append(change: ChangeRecord): void {
    this.pendingChanges.push(change);
    const evicted = this.recent.push(change);
    if (evicted) this.recentFloor = evicted.seq;
    this.scheduleFlush();
  }

  recordSession(record: SessionRecord): void {
    this.pendingSessions.set(record.id, record);
    this.scheduleFlush();
  }

  /** Forgets every session record (a backup about to receive a full sessions snapshot). */
  clearSessions(): void {
    this.pendingSessions.clear();
    this.statements.clearSessions.run();
  }

  /** Changes after `seq`, or expired when the log does not reach back so far. */
  changesAfter(seq: number): ChangesAfter {
    if (seq < this.floorSeq) return { kind: 'expired', oldestSeq: this.floorSeq + 1 };
    if (seq >= this.recentFloor) return { kind: 'changes', changes: this.recentAfter(seq) };
    return { kind: 'changes', changes: this.storedThenPending(seq) };
  }

  /** The in-memory changes after `seq`. */
  private *recentAfter(seq: number): Generator<ChangeRecord> {
    yield* this.recent.from(this.recent.firstIndex((change) => change.seq > seq));
  }

  /**
   * The stored changes after `seq`, then the ones still waiting for this turn's transaction:
   * a burst of restores reads without forcing a commit each (pending ones all follow the stored).
   */
  private *storedThenPending(seq: number): Generator<ChangeRecord> {
    const pending = this.pendingChanges;
    let last = seq;
    for (const change of this.changes.changesAfter(seq)) {
      last = change.seq;
      yield change;
    }
    for (const change of pending) if (change.seq > last) yield change;
  }

  /** A fresh start at `seq` (a first load): nothing before it can be replayed. */
  resetTo(seq: number): void {
    this.pendingChanges = [];
    this.recent.clear();
    this.recentFloor = seq;
    this.changes.clear();
    this.setFloor(seq);
  }

  /** Applies retention; the floor rises past what was dropped. */
  prune(appliedSeq: number, maxChanges: number, maxAgeMs: number, sessionMaxAgeMs: number): number {
    this.flush();
    const removed = this.changes.prune(maxChanges, maxAgeMs);
    if (removed > 0) {
      const oldest = this.changes.oldestSeq();
      this.setFloor(Math.max(this.floorSeq, oldest === undefined ? appliedSeq : oldest - 1));
    }
    this.statements.pruneSessions.run(Date.now() - sessionMaxAgeMs);
    return removed;
  }

  sessions(): SessionRecord[] {
    this.flush();
    const rows = this.statements.sessions.all() as Array<{
      id: string;
      person: number;
      client_name: string;
      client_type: string;
      subscriptions: string;
      last_seq: number;
      closed: number;
    }>;
    return rows.map((row) => ({
      id: row.id,
      personDbid: row.person,
      clientName: row.client_name,
      clientType: row.client_type,
      subscriptions: JSON.parse(row.subscriptions) as NotificationFilter[],
      lastSeq: row.last_seq,
      closed: row.closed === 1,
    }));
  }

  flush(): void {
    if (this.pendingChanges.length === 0 && this.pendingSessions.size === 0) return;
    if (!this.db.open) return;
    this.flushTransaction();
    this.pendingChanges = [];
    this.pendingSessions.clear();
  }

  close(): void {
    if (!this.db.open) return;
    this.flush();
    this.db.close();
  }

  private setFloor(seq: number): void {
    this.floorSeq = seq;
    this.statements.setMeta.run('floor', seq);
  }

  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    setImmediate(() => {
      this.flushScheduled = false;
      this.flush();
    });
  }
}
