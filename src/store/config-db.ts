import type Database from 'better-sqlite3';
import { Packr } from 'msgpackr';
import type { ConfigObject, ObjectType } from '../../protocol/index.js';
import type { ChangeRecord } from '../model/change.js';
import { ChangeLogTable } from '../history/change-log.js';
import { openOwnedDatabase } from './owned-database.js';

// Objects are stored as msgpack: loading 100k of them is a decode, not a JSON parse per row.
const packr = new Packr({ useRecords: false });

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
  /** The change log, in the same file so a change and its object commit together. */
  readonly changes: ChangeLogTable;
  private readonly statements;
  private readonly commitTransaction: (batch: WriteBatch) => void;

  constructor(path: string) {
    this.db = openOwnedDatabase(path, 'master');
    // Checkpoints copy the pages that commits touched back into the database file: on a
    // 100k-object configuration they cost more than the commits themselves. Every 20,000 pages
    // (a WAL of up to 80 MB) most updates of a busy object land on a page already due for copying.
    this.db.pragma('wal_autocheckpoint = 20000');
    this.db.pragma('cache_size = -65536'); // 64 MiB of page cache: updates find their pages in memory
    this.db.exec(`
      CREATE TABLE IF NOT EXISTS objects (type TEXT NOT NULL, dbid INTEGER NOT NULL, body BLOB NOT NULL, PRIMARY KEY (type, dbid)) WITHOUT ROWID;
      CREATE TABLE IF NOT EXISTS credentials (dbid INTEGER PRIMARY KEY, hash TEXT NOT NULL);
      CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
    `);
    this.changes = new ChangeLogTable(this.db);
    this.statements = {
      // An upsert updates the row in place; OR REPLACE would delete it and insert it again.
      upsertObject: this.db.prepare('INSERT INTO objects (type, dbid, body) VALUES (?, ?, ?) ON CONFLICT (type, dbid) DO UPDATE SET body = excluded.body'),
      deleteObject: this.db.prepare('DELETE FROM objects WHERE type = ? AND dbid = ?'),
      upsertCredential: this.db.prepare('INSERT OR REPLACE INTO credentials (dbid, hash) VALUES (?, ?)'),
      deleteCredential: this.db.prepare('DELETE FROM credentials WHERE dbid = ?'),
      setCounter: this.db.prepare('INSERT OR REPLACE INTO counters (name, value) VALUES (?, ?)'),
    };
    const s = this.statements;
    this.commitTransaction = this.db.transaction((batch: WriteBatch) => {
      const { change } = batch;
      if (batch.object) s.upsertObject.run(change.type, change.dbid, packr.pack(batch.object));
      else s.deleteObject.run(change.type, change.dbid);
      if (batch.credential !== undefined) s.upsertCredential.run(change.dbid, batch.credential);
      if (change.op === 'deleted' && change.type === 'Person') s.deleteCredential.run(change.dbid);
      if (batch.dbidCounter) s.setCounter.run(`dbid:${batch.dbidCounter.type}`, batch.dbidCounter.next);
      this.changes.append(change);
    });
  }

  /** The seq of the last committed change: the change log always keeps its newest record. */
  lastSeq(): number {
    // Databases written before the seq lived only in the log kept it as a counter.
    return Math.max(this.changes.newestSeq() ?? 0, this.counter('seq'));
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


  close(): void {
    if (this.db.open) this.db.close();
  }
}
