import type Database from 'better-sqlite3';
import { Packr } from 'msgpackr';
import type { ConfigObject, Lineage, NotificationFilter, ObjectType } from '../../protocol/index.js';
import type { ChangeRecord } from '../model/change.js';
import { sameLineage } from '../model/lineage.js';
import type { ChangesAfter } from '../model/change.js';
import { openOwnedDatabase } from '../store/owned-database.js';
import { silentLogger, type Logger } from '../util/logger.js';
import { Ring } from '../util/ring.js';
import { ChangeLogTable } from '../store/change-log.js';
import { systemClock } from '../util/clock.js';

/** Changes kept in memory for replays: at most this many… */
const RECENT_CHANGES = 20_000;
/** …taking at most this many bytes (large objects make large frames) [ARCH-5]. */
const RECENT_CHANGES_BYTES = 64 * 1024 * 1024;
/** How often a failing history log tries to write again. */
const RETRY_MS = 5_000;

const packr = new Packr({ useRecords: false });

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

/** The proxy's cache as the history log stores it, so a restart resumes instead of reloading. */
export interface CacheImage {
  lineage: Lineage;
  /** The seq the objects are at. */
  seq: number;
  /** The chain hash at `seq` [PROTO-LINEAGE-7], when known. */
  chain?: string;
  /** The proxy's `--scope` when the image was written (another scope needs another load). */
  scope: string;
  objects: Iterable<ConfigObject>;
  credentials: Iterable<[number, string]>;
}

/** Whether the file takes writes; while it does not, the proxy serves from memory. */
export type HistoryHealth = { state: 'ok' } | { state: 'failing'; since: number; error: string };

/**
 * A proxy's history log (SQLite): the changes it applied, so a client that comes back with a
 * lastSeq is replayed from here without touching the master [ARCH-3]; its client session
 * records; and an image of its cache (objects, password hashes, seq, lineage) so a restarted proxy
 * resumes from where it stopped and restores its clients [ARCH-2]. Writes are batched: one
 * transaction per event-loop turn, holding the changes, the objects they touched and the applied
 * seq together, so after any crash the file is a consistent image at some seq.
 *
 * `floor` is the seq the log can replay from: a client at lastSeq >= floor gets every change
 * after it; below the floor it must re-read (HistoryLogExpired).
 *
 * A write that fails (a full disk, an I/O error) never ends the process: the log says so once
 * (event HIST-001), keeps the newest changes in memory for replays, retries every few seconds,
 * and when the file takes writes again rewrites the whole image in one transaction (HIST-002).
 */
export class HistoryLog {
  private readonly db: Database.Database;
  private readonly changes: ChangeLogTable;
  private readonly statements;
  private readonly flushTransaction: () => void;
  private pendingChanges: ChangeRecord[] = [];
  /** Objects touched since the last flush: the new body, or null for a removal. */
  private pendingObjects = new Map<string, { type: ObjectType; dbid: number; object: ConfigObject | null }>();
  private pendingCredentials = new Map<number, string | null>();
  private pendingApplied: { seq: number; chain: string | undefined } | undefined;
  /**
   * The newest changes in memory, oldest first: after a failover a thousand clients replay the
   * same recent changes, and reading them from SQLite a thousand times was a quarter of the
   * restore burst. Every change after `recentFloor` is here.
   */
  private readonly recent = new Ring<ChangeRecord>(RECENT_CHANGES, {
    maxBytes: RECENT_CHANGES_BYTES,
    sizeOf: (change) => change.frame.length + (change.proxyFrame?.length ?? 0) + 100,
  });
  private recentFloor: number;
  private pendingSessions = new Map<string, SessionRecord>();
  private flushScheduled = false;
  private floorSeq: number;
  private currentHealth: HistoryHealth = { state: 'ok' };
  /** While failing: the newest change the file holds; changes after it exist in memory only. */
  private storedUpTo = 0;
  private retryTimer: unknown = null;
  private imageSource: (() => CacheImage) | null = null;
  /** A fresh start (another lineage) that the file has not taken yet: its old changes must go. */
  private freshStartPending = false;
  /** Write failures since the start (a metric). */
  failuresTotal = 0;

  constructor(
    path: string,
    private readonly logger: Logger = silentLogger,
  ) {
    this.db = openOwnedDatabase(path, 'proxy');
    this.changes = new ChangeLogTable(this.db);
    this.db.exec(`
      CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
      CREATE TABLE IF NOT EXISTS sessions (
        id TEXT PRIMARY KEY, person INTEGER NOT NULL, client_name TEXT NOT NULL, client_type TEXT NOT NULL,
        subscriptions TEXT NOT NULL, last_seq INTEGER NOT NULL, closed INTEGER NOT NULL, updated_at INTEGER NOT NULL);
      CREATE TABLE IF NOT EXISTS image (name TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
      CREATE TABLE IF NOT EXISTS objects (type TEXT NOT NULL, dbid INTEGER NOT NULL, body BLOB NOT NULL, PRIMARY KEY (type, dbid)) WITHOUT ROWID;
      CREATE TABLE IF NOT EXISTS credentials (dbid INTEGER PRIMARY KEY, hash TEXT NOT NULL);
    `);
    this.statements = {
      setMeta: this.db.prepare('INSERT OR REPLACE INTO meta (name, value) VALUES (?, ?)'),
      upsertSession: this.db.prepare(
        'INSERT OR REPLACE INTO sessions (id, person, client_name, client_type, subscriptions, last_seq, closed, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
      ),
      sessions: this.db.prepare('SELECT * FROM sessions ORDER BY updated_at'),
      session: this.db.prepare('SELECT * FROM sessions WHERE id = ?'),
      pruneSessions: this.db.prepare('DELETE FROM sessions WHERE closed = 1 AND updated_at < ?'),
      clearSessions: this.db.prepare('DELETE FROM sessions'),
      setImage: this.db.prepare('INSERT OR REPLACE INTO image (name, value) VALUES (?, ?)'),
      getImage: this.db.prepare('SELECT value FROM image WHERE name = ?'),
      upsertObject: this.db.prepare('INSERT INTO objects (type, dbid, body) VALUES (?, ?, ?) ON CONFLICT (type, dbid) DO UPDATE SET body = excluded.body'),
      deleteObject: this.db.prepare('DELETE FROM objects WHERE type = ? AND dbid = ?'),
      clearObjects: this.db.prepare('DELETE FROM objects'),
      upsertCredential: this.db.prepare('INSERT OR REPLACE INTO credentials (dbid, hash) VALUES (?, ?)'),
      deleteCredential: this.db.prepare('DELETE FROM credentials WHERE dbid = ?'),
      clearCredentials: this.db.prepare('DELETE FROM credentials'),
    };
    const floor = this.db.prepare("SELECT value FROM meta WHERE name = 'floor'").get() as { value: number } | undefined;
    this.floorSeq = floor?.value ?? 0;
    this.recentFloor = this.changes.newestSeq() ?? this.floorSeq;
    this.flushTransaction = this.db.transaction(() => {
      for (const change of this.pendingChanges) this.changes.append(change);
      this.writePendingImage();
      const now = Date.now();
      for (const s of this.pendingSessions.values()) {
        this.statements.upsertSession.run(s.id, s.personDbid, s.clientName, s.clientType, JSON.stringify(s.subscriptions), s.lastSeq, s.closed ? 1 : 0, now);
      }
    });
  }

  get health(): HistoryHealth {
    return this.currentHealth;
  }

  /** Where the whole cache comes from when a failing log rewrites its image. */
  setImageSource(source: () => CacheImage): void {
    this.imageSource = source;
  }

  /**
   * A change applied to the cache: its record for replays, and the object as it is now (undefined
   * once deleted or out of scope) for the image.
   */
  append(change: ChangeRecord, object: ConfigObject | undefined): void {
    const evicted = this.recent.push(change);
    if (evicted) this.recentFloor = evicted.seq;
    // While failing only memory keeps changes: the recovery rewrites the whole image.
    if (this.currentHealth.state !== 'ok') return;
    this.pendingChanges.push(change);
    this.pendingObjects.set(`${change.type}:${change.dbid}`, { type: change.type, dbid: change.dbid, object: object ?? null });
    this.noteApplied(change.seq, change.chain);
  }

  /** The cache moved to `seq`, whose chain hash is `chain` (with or without a change to keep). */
  noteApplied(seq: number, chain: string | undefined): void {
    if (this.currentHealth.state !== 'ok') return;
    this.pendingApplied = { seq, chain };
    this.scheduleFlush();
  }

  noteCredential(dbid: number, hash: string | undefined): void {
    if (this.currentHealth.state !== 'ok') return;
    this.pendingCredentials.set(dbid, hash ?? null);
    this.scheduleFlush();
  }

  recordSession(record: SessionRecord): void {
    this.pendingSessions.set(record.id, record);
    this.scheduleFlush();
  }

  /** Forgets every session record (a backup about to receive a full sessions snapshot). */
  clearSessions(): void {
    this.pendingSessions.clear();
    this.guarded(() => this.statements.clearSessions.run());
  }

  /** Changes after `seq`, or expired when the log does not reach back so far. */
  changesAfter(seq: number): ChangesAfter {
    if (seq < this.floorSeq) return { kind: 'expired', oldestSeq: this.floorSeq + 1 };
    if (seq >= this.recentFloor) return { kind: 'changes', changes: this.recentAfter(seq) };
    // While failing, the file stops at `storedUpTo`; what followed lives only in memory.
    if (this.currentHealth.state === 'failing' && this.recentFloor > this.storedUpTo) return { kind: 'expired', oldestSeq: this.recentFloor + 1 };
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

  /**
   * A fresh start at the image's seq (a first load, or a load of another lineage): nothing before
   * it can be replayed, and the stored image becomes this one, in one transaction.
   */
  startImage(image: CacheImage): void {
    this.pendingChanges = [];
    this.pendingObjects.clear();
    this.pendingCredentials.clear();
    this.pendingApplied = undefined;
    this.recent.clear();
    this.recentFloor = image.seq;
    this.floorSeq = image.seq;
    this.freshStartPending = true;
    this.guarded(() => {
      this.db.transaction(() => this.writeWholeImage(image, true))();
      this.freshStartPending = false;
    });
  }

  /** The pair term this member persisted [PROTO-HA-12]; 0 when none. */
  pairTerm(): number {
    return Number((this.statements.getImage.get('pair_term') as { value: string } | undefined)?.value ?? 0);
  }

  /** Persists the pair term at once: a term acted on must survive a crash. */
  savePairTerm(term: number): void {
    this.guarded(() => this.statements.setImage.run('pair_term', String(term)));
  }

  /** The image a previous run left, when there is a complete one; its objects are read lazily. */
  storedImage(): CacheImage | undefined {
    const value = (name: string): string | undefined => (this.statements.getImage.get(name) as { value: string } | undefined)?.value;
    const lineage = value('lineage');
    const seq = value('seq');
    const scope = value('scope');
    if (lineage === undefined || seq === undefined || scope === undefined) return undefined;
    const objects = this.db.prepare('SELECT body FROM objects').raw().iterate() as IterableIterator<[Buffer]>;
    const credentials = this.db.prepare('SELECT dbid, hash FROM credentials').raw().all() as Array<[number, string]>;
    const chain = value('chain');
    return {
      lineage: JSON.parse(lineage) as Lineage,
      seq: Number(seq),
      ...(chain ? { chain } : {}),
      scope,
      objects: (function* () {
        for (const [body] of objects) yield packr.unpack(body) as ConfigObject;
      })(),
      credentials,
    };
  }

  /** Applies retention; the floor rises past what was dropped. */
  prune(appliedSeq: number, maxChanges: number, maxAgeMs: number, sessionMaxAgeMs: number): number {
    this.flush();
    if (this.currentHealth.state !== 'ok') return 0;
    const removed = this.changes.prune(maxChanges, maxAgeMs);
    if (removed > 0) {
      const oldest = this.changes.oldestSeq();
      this.setFloor(Math.max(this.floorSeq, oldest === undefined ? appliedSeq : oldest - 1));
    }
    this.statements.pruneSessions.run(Date.now() - sessionMaxAgeMs);
    return removed;
  }

  /** One session's record: the newest, pending or stored; undefined when none (or the file cannot be read). */
  session(id: string): SessionRecord | undefined {
    const pending = this.pendingSessions.get(id);
    if (pending) return pending;
    try {
      const row = this.statements.session.get(id) as SessionRow | undefined;
      return row && rowToSession(row);
    } catch {
      return undefined;
    }
  }

  sessions(): SessionRecord[] {
    this.flush();
    return (this.statements.sessions.all() as SessionRow[]).map(rowToSession);
  }

  /** Writes what is pending now; a failure switches the log to failing instead of throwing. */
  flush(): void {
    if (!this.db.open || this.currentHealth.state !== 'ok') return;
    if (this.pendingChanges.length === 0 && this.pendingSessions.size === 0 && this.pendingObjects.size === 0 && this.pendingApplied === undefined && this.pendingCredentials.size === 0) return;
    this.guarded(() => {
      this.flushTransaction();
      this.pendingChanges = [];
      this.pendingSessions.clear();
      this.pendingObjects.clear();
      this.pendingCredentials.clear();
      this.pendingApplied = undefined;
    });
  }

  close(): void {
    if (this.retryTimer) systemClock.clearTimeout(this.retryTimer);
    this.retryTimer = null;
    if (!this.db.open) return;
    this.flush();
    this.db.close();
  }

  private writePendingImage(): void {
    const s = this.statements;
    for (const { type, dbid, object } of this.pendingObjects.values()) {
      if (object) s.upsertObject.run(type, dbid, packr.pack(object));
      else s.deleteObject.run(type, dbid);
    }
    for (const [dbid, hash] of this.pendingCredentials) {
      if (hash === null) s.deleteCredential.run(dbid);
      else s.upsertCredential.run(dbid, hash);
    }
    if (this.pendingApplied !== undefined) {
      s.setImage.run('seq', String(this.pendingApplied.seq));
      s.setImage.run('chain', this.pendingApplied.chain ?? '');
    }
  }

  /** Inside a transaction: the whole image, and (for a fresh start) an empty change log at its seq. */
  private writeWholeImage(image: CacheImage, freshStart: boolean): void {
    const s = this.statements;
    if (freshStart) {
      this.changes.clear();
      s.setMeta.run('floor', image.seq);
      // Positions recorded in another seq space restore nothing now (a first start has none: the
      // sessions a backup mirrored while it loaded stay).
      const previous = (s.getImage.get('lineage') as { value: string } | undefined)?.value;
      if (previous !== undefined && !sameLineage(JSON.parse(previous) as Lineage, image.lineage)) s.clearSessions.run();
    }
    s.clearObjects.run();
    for (const object of image.objects) s.upsertObject.run(object.type, object.dbid, packr.pack(object));
    s.clearCredentials.run();
    for (const [dbid, hash] of image.credentials) s.upsertCredential.run(dbid, hash);
    s.setImage.run('lineage', JSON.stringify(image.lineage));
    s.setImage.run('seq', String(image.seq));
    s.setImage.run('chain', image.chain ?? '');
    s.setImage.run('scope', image.scope);
  }

  /** Runs a write; a failure is logged once and retried later, never thrown. */
  private guarded(write: () => void): void {
    try {
      write();
    } catch (error) {
      this.fail(error);
    }
  }

  private fail(error: unknown): void {
    this.failuresTotal += 1;
    const message = (error as Error).message;
    if (this.currentHealth.state === 'ok') {
      this.storedUpTo = this.freshStartPending ? this.floorSeq : this.storedNewest();
      this.logger.error({ event: 'HIST-001', err: message, storedUpTo: this.storedUpTo }, 'the history log cannot be written; serving from memory, replays limited to the newest changes, retrying');
      this.currentHealth = { state: 'failing', since: Date.now(), error: message };
    }
    // Nothing pending is kept for a file that takes no writes: memory stays bounded, and the
    // recovery rewrites the whole image instead.
    this.pendingChanges = [];
    this.pendingObjects.clear();
    this.pendingCredentials.clear();
    this.pendingApplied = undefined;
    if (!this.retryTimer && this.db.open) {
      this.retryTimer = systemClock.setTimeout(() => {
        this.retryTimer = null;
        this.recover();
      }, RETRY_MS);
    }
  }

  /**
   * Writes everything again in one transaction: the stored changes are kept when the in-memory
   * ones continue them, otherwise the log starts at the oldest change in memory; then the whole
   * image and the sessions.
   */
  private recover(): void {
    const image = this.imageSource?.();
    try {
      this.db.transaction(() => {
        let storedNewest = this.freshStartPending ? this.floorSeq : this.storedNewest();
        if (this.freshStartPending || this.recentFloor > storedNewest) {
          this.changes.clear();
          this.setFloor(this.recentFloor);
          storedNewest = this.recentFloor;
        }
        for (const change of this.recent.from(this.recent.firstIndex((c) => c.seq > storedNewest))) this.changes.append(change);
        if (image) this.writeWholeImage(image, false);
        const now = Date.now();
        for (const s of this.pendingSessions.values()) {
          this.statements.upsertSession.run(s.id, s.personDbid, s.clientName, s.clientType, JSON.stringify(s.subscriptions), s.lastSeq, s.closed ? 1 : 0, now);
        }
      })();
    } catch (error) {
      this.fail(error);
      return;
    }
    this.pendingSessions.clear();
    this.freshStartPending = false;
    const since = this.currentHealth.state === 'failing' ? this.currentHealth.since : Date.now();
    this.currentHealth = { state: 'ok' };
    this.logger.info({ event: 'HIST-002', failingForMs: Date.now() - since, floor: this.floorSeq }, 'the history log takes writes again');
  }

  /** The newest stored change, or the floor when none is stored; a file that cannot even be read says the floor. */
  private storedNewest(): number {
    try {
      return this.changes.newestSeq() ?? this.floorSeq;
    } catch {
      return this.floorSeq;
    }
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

interface SessionRow {
  id: string;
  person: number;
  client_name: string;
  client_type: string;
  subscriptions: string;
  last_seq: number;
  closed: number;
}

function rowToSession(row: SessionRow): SessionRecord {
  return {
    id: row.id,
    personDbid: row.person,
    clientName: row.client_name,
    clientType: row.client_type,
    subscriptions: JSON.parse(row.subscriptions) as NotificationFilter[],
    lastSeq: row.last_seq,
    closed: row.closed === 1,
  };
}
