import Database from 'better-sqlite3';
import { Packr } from 'msgpackr';
import type { ConfigObject, ObjectType } from '../../protocol/index.js';
import type { ChangeRecord } from '../model/change.js';

// Objects are stored as msgpack: loading 100k of them is a decode, not a JSON parse per row.
const packr = new Packr({ useRecords: false });

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
}

/** What one committed write puts in the database, in one transaction. */
export interface WriteBatch {
  change: ChangeRecord;
  /** The object after the change; absent for a delete. */
  object?: ConfigObject;
  /** A new password hash for a Person. */
  credential?: string;
  /** The type whose dbid counter advanced (creates). */
  dbidCounter?: { type: ObjectType; next: number };
}

/**
 * The master's configuration database: objects, credentials, counters and the change log in one
 * SQLite file (WAL). Every committed change is one transaction holding the object, the change
 * record and the new seq, so a crash at any moment keeps both or neither [ARCH-1].
 */
export class ConfigDatabase {
  readonly db: Database.Database;
  private readonly statements;
  private readonly commitTransaction: (batch: WriteBatch) => void;

  constructor(path: string) {
    this.db = new Database(path);
    this.db.pragma('journal_mode = WAL');
    // NORMAL in WAL mode: a commit survives a process crash (kill -9); only power loss can cost
    // the last transactions. See README "Durability".
    this.db.pragma('synchronous = NORMAL');
    this.db.pragma('busy_timeout = 5000');
    this.db.exec(`
      CREATE TABLE IF NOT EXISTS objects (type TEXT NOT NULL, dbid INTEGER NOT NULL, body BLOB NOT NULL, PRIMARY KEY (type, dbid)) WITHOUT ROWID;
      CREATE TABLE IF NOT EXISTS credentials (dbid INTEGER PRIMARY KEY, hash TEXT NOT NULL);
      CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
      CREATE TABLE IF NOT EXISTS changes (
        seq INTEGER PRIMARY KEY, at INTEGER NOT NULL, op TEXT NOT NULL, type TEXT NOT NULL, dbid INTEGER NOT NULL,
        tenant INTEGER NOT NULL, folder INTEGER NOT NULL, prev_tenant INTEGER, prev_folder INTEGER, frame BLOB NOT NULL);
      CREATE INDEX IF NOT EXISTS changes_at ON changes (at);
    `);
    this.statements = {
      upsertObject: this.db.prepare('INSERT OR REPLACE INTO objects (type, dbid, body) VALUES (?, ?, ?)'),
      deleteObject: this.db.prepare('DELETE FROM objects WHERE type = ? AND dbid = ?'),
      upsertCredential: this.db.prepare('INSERT OR REPLACE INTO credentials (dbid, hash) VALUES (?, ?)'),
      deleteCredential: this.db.prepare('DELETE FROM credentials WHERE dbid = ?'),
      setCounter: this.db.prepare('INSERT OR REPLACE INTO counters (name, value) VALUES (?, ?)'),
      insertChange: this.db.prepare(
        'INSERT INTO changes (seq, at, op, type, dbid, tenant, folder, prev_tenant, prev_folder, frame) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
      ),
      changesAfter: this.db.prepare('SELECT * FROM changes WHERE seq > ? ORDER BY seq'),
      oldestSeq: this.db.prepare('SELECT MIN(seq) AS seq FROM changes'),
      pruneBySeq: this.db.prepare('DELETE FROM changes WHERE seq <= ?'),
      pruneByAge: this.db.prepare('DELETE FROM changes WHERE seq IN (SELECT seq FROM changes WHERE at < ? ORDER BY seq LIMIT ?)'),
    };
    const s = this.statements;
    this.commitTransaction = this.db.transaction((batch: WriteBatch) => {
      const { change } = batch;
      if (batch.object) s.upsertObject.run(change.type, change.dbid, packr.pack(batch.object));
      else s.deleteObject.run(change.type, change.dbid);
      if (batch.credential !== undefined) s.upsertCredential.run(change.dbid, batch.credential);
      if (change.op === 'deleted' && change.type === 'Person') s.deleteCredential.run(change.dbid);
      if (batch.dbidCounter) s.setCounter.run(`dbid:${batch.dbidCounter.type}`, batch.dbidCounter.next);
      s.setCounter.run('seq', change.seq);
      s.insertChange.run(
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
      );
    });
  }

  counter(name: string): number {
    const row = this.db.prepare('SELECT value FROM counters WHERE name = ?').get(name) as { value: number } | undefined;
    return row?.value ?? 0;
  }

  /** Every stored object, decoded. */
  *loadObjects(): Generator<ConfigObject> {
    const rows = this.db.prepare('SELECT body FROM objects').raw().iterate() as IterableIterator<[Buffer]>;
    for (const [body] of rows) yield packr.unpack(body) as ConfigObject;
  }

  loadCredentials(): Map<number, string> {
    const rows = this.db.prepare('SELECT dbid, hash FROM credentials').all() as Array<{ dbid: number; hash: string }>;
    return new Map(rows.map((row) => [row.dbid, row.hash]));
  }

  /** Commits one change: object, credential, counters and change record, all or nothing. */
  commit(batch: WriteBatch): void {
    this.commitTransaction(batch);
  }

  /** The oldest seq still in the change log, or undefined when the log is empty. */
  oldestChangeSeq(): number | undefined {
    const row = this.statements.oldestSeq.get() as { seq: number | null };
    return row.seq ?? undefined;
  }

  changesAfter(seq: number): IterableIterator<ChangeRow> {
    return this.statements.changesAfter.iterate(seq) as IterableIterator<ChangeRow>;
  }

  /** Drops changes older than `maxAgeMs` or beyond the newest `maxChanges`; at most `limit` rows a call. */
  pruneChanges(newestSeq: number, maxChanges: number, maxAgeMs: number, limit = 50_000): number {
    let removed = this.statements.pruneBySeq.run(newestSeq - maxChanges).changes;
    removed += this.statements.pruneByAge.run(Date.now() - maxAgeMs, limit).changes;
    return removed;
  }

  close(): void {
    if (this.db.open) this.db.close();
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
  return change;
}
