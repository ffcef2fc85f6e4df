import type Database from 'better-sqlite3';
import type { ObjectType } from '../../protocol/index.js';
import type { ChangeRecord } from '../model/change.js';

/** A row of the `changes` table, as SQLite and PostgreSQL return it. */
export interface ChangeRow {
  seq: number;
  at: number;
  op: string;
  type: string;
  dbid: number;
  tenant: number;
  folder: number;
  prev_tenant: number | null;
  prev_folder: number | null;
  frame: Buffer;
  proxy_frame: Buffer | null;
  /** Absent (null) in rows logged before chains [PROTO-LINEAGE-7]. */
  chain: string | null;
}

/**
 * The `changes` table, shared by the master's configuration database and the proxy's history
 * log: change records by seq, each with the frame its subscribers receive, so a replay writes
 * stored bytes and encodes nothing [ARCH-3, ARCH-4].
 */
export class ChangeLogTable {
  private readonly insert: Database.Statement;
  private readonly after: Database.Statement;
  private readonly oldest: Database.Statement;
  private readonly newest: Database.Statement;
  private readonly pruneBySeq: Database.Statement;
  private readonly atOrAfter: Database.Statement;
  private readonly clearAll: Database.Statement;
  private readonly newestChain: Database.Statement;

  constructor(db: Database.Database) {
    db.exec(`
      CREATE TABLE IF NOT EXISTS changes (
        seq INTEGER PRIMARY KEY, at INTEGER NOT NULL, op TEXT NOT NULL, type TEXT NOT NULL, dbid INTEGER NOT NULL,
        tenant INTEGER NOT NULL, folder INTEGER NOT NULL, prev_tenant INTEGER, prev_folder INTEGER, frame BLOB NOT NULL,
        proxy_frame BLOB);
      DROP INDEX IF EXISTS changes_at;
    `);
    // Databases made before proxies existed lack the column; adding it loses nothing.
    const columns = db.prepare('PRAGMA table_info(changes)').all() as Array<{ name: string }>;
    if (!columns.some((column) => column.name === 'proxy_frame')) db.exec('ALTER TABLE changes ADD COLUMN proxy_frame BLOB');
    if (!columns.some((column) => column.name === 'chain')) db.exec('ALTER TABLE changes ADD COLUMN chain TEXT');
    this.insert = db.prepare(
      'INSERT INTO changes (seq, at, op, type, dbid, tenant, folder, prev_tenant, prev_folder, frame, proxy_frame, chain) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
    );
    this.newestChain = db.prepare('SELECT seq, chain FROM changes ORDER BY seq DESC LIMIT 1');
    this.after = db.prepare('SELECT * FROM changes WHERE seq > ? ORDER BY seq');
    this.oldest = db.prepare('SELECT MIN(seq) AS seq FROM changes');
    this.newest = db.prepare('SELECT MAX(seq) AS seq FROM changes');
    this.pruneBySeq = db.prepare('DELETE FROM changes WHERE seq <= ?');
    this.atOrAfter = db.prepare('SELECT seq, at FROM changes WHERE seq >= ? ORDER BY seq LIMIT 1');
    this.clearAll = db.prepare('DELETE FROM changes');
  }

  append(change: ChangeRecord): void {
    this.insert.run(
      change.seq,
      change.at,
      change.op,
      change.type,
      change.dbid,
      change.tenant,
      change.folder,
      change.previous?.tenant ?? null,
      change.previous?.folder ?? null,
      change.frame,
      change.proxyFrame ?? null,
      change.chain ?? null,
    );
  }

  /** The newest change's chain hash, or undefined (an empty log, or one made before chains). */
  newestChainHash(): string | undefined {
    return (this.newestChain.get() as { chain: string | null } | undefined)?.chain ?? undefined;
  }

  /** Changes after `seq`, oldest first, read lazily. */
  *changesAfter(seq: number): Generator<ChangeRecord> {
    for (const row of this.after.iterate(seq) as IterableIterator<ChangeRow>) yield rowToChange(row);
  }

  oldestSeq(): number | undefined {
    return (this.oldest.get() as { seq: number | null }).seq ?? undefined;
  }

  newestSeq(): number | undefined {
    return (this.newest.get() as { seq: number | null }).seq ?? undefined;
  }

  /**
   * Drops changes older than `maxAgeMs` or beyond the newest `maxChanges`, at most `limit` a call.
   * The newest change always stays: the master's seq lives in the log, not in a counter that
   * every commit would have to rewrite.
   */
  prune(maxChanges: number, maxAgeMs: number, limit = 50_000): number {
    const newest = this.newestSeq();
    const oldest = this.oldestSeq();
    if (newest === undefined || oldest === undefined) return 0;
    const cutoff = Math.min(newest - 1, Math.max(newest - maxChanges, this.lastSeqBefore(Date.now() - maxAgeMs, oldest, newest)), oldest - 1 + limit);
    return cutoff >= oldest ? this.pruneBySeq.run(cutoff).changes : 0;
  }

  /**
   * The last seq committed before `time`, by binary search over seq (commit times grow with seq),
   * so commits do not pay for an index on the time.
   */
  private lastSeqBefore(time: number, oldest: number, newest: number): number {
    // Every change up to `lo` was committed before `time`; none in (hi, newest] was.
    let lo = oldest - 1;
    let hi = newest;
    while (lo < hi) {
      const mid = lo + Math.ceil((hi - lo) / 2);
      const row = this.atOrAfter.get(mid) as { seq: number; at: number } | undefined;
      if (row && row.seq <= hi && row.at < time) lo = row.seq;
      else hi = mid - 1;
    }
    return lo;
  }

  clear(): void {
    this.clearAll.run();
  }
}

export function rowToChange(row: ChangeRow): ChangeRecord {
  const change: ChangeRecord = {
    seq: row.seq,
    at: row.at,
    op: row.op as ChangeRecord['op'],
    type: row.type as ObjectType,
    dbid: row.dbid,
    tenant: row.tenant,
    folder: row.folder,
    frame: row.frame,
  };
  if (row.prev_tenant !== null && row.prev_folder !== null) change.previous = { tenant: row.prev_tenant, folder: row.prev_folder };
  if (row.proxy_frame !== null) change.proxyFrame = row.proxy_frame;
  if (row.chain !== null && row.chain !== undefined) change.chain = row.chain;
  return change;
}
