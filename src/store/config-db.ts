import { randomUUID } from 'node:crypto';
import { rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { Packr } from 'msgpackr';
import type { ConfigObject, Lineage, ObjectType } from '../../protocol/index.js';
import type { ChangeRecord } from '../model/change.js';
import { newLineage, nextGeneration } from '../model/lineage.js';
import { ChangeLogTable } from './change-log.js';
import type { ConfigBackend, LoadedConfiguration } from './config-backend.js';
import { openOwnedDatabase } from './owned-database.js';
import { CommitRecord, discontinuity } from './commit-record.js';

// Objects are stored as msgpack: loading 100k of them is a decode, not a JSON parse per row.
const packr = new Packr({ useRecords: false });

/** An object as the database stores it (msgpack); the master measures writes with it [PROTO-LIMIT-2]. */
export function encodeObject(object: ConfigObject): Buffer {
  return packr.pack(object);
}

/** What one committed write puts in the database, in one transaction. */
export interface WriteBatch {
  change: ChangeRecord;
  /** The object after the change, encoded (`encodeObject`); absent for a delete. */
  object?: ConfigObject;
  objectBody?: Buffer;
  /** A new password hash for a Person. */
  credential?: string;
  /** The type whose dbid counter advanced (creates). */
  dbidCounter?: { type: ObjectType; next: number };
}

/** What a backup copy says about itself; a master that opens a copy so marked starts a new generation. */
export interface BackupMark {
  takenAt: number;
  seq: number;
  lineage: Lineage;
}

/**
 * The master's configuration database: objects, credentials, counters and the change log in one
 * SQLite file (WAL). Every committed change is one transaction holding the object, the change
 * record and the new seq, so a crash at any moment keeps both or neither [ARCH-1].
 */
export class ConfigDatabase implements ConfigBackend {
  readonly db: Database.Database;
  /** The change log, in the same file so a change and its object commit together. */
  readonly changes: ChangeLogTable;
  private readonly statements;
  private readonly commitTransaction: (batch: WriteBatch) => void;
  /** The database's seq space [PROTO-LINEAGE-1]: made with it, raised when it was restored from a copy. */
  readonly lineage: Lineage;
  /** Set when this start opened a backup copy and so began a new generation. */
  readonly restoredFrom: BackupMark | undefined;
  /** Set when this start found a database other than the one this master last committed to [PROTO-LINEAGE-1]. */
  readonly discontinuity: string | undefined;
  /** The last position committed, beside the file: what tells a copy put back by hand. */
  private readonly record: CommitRecord | undefined;

  constructor(readonly path: string) {
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
      CREATE TABLE IF NOT EXISTS identity (name TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
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
    this.record = path === ':memory:' ? undefined : new CommitRecord(`${path}.head`);
    const opened = this.openIdentity();
    this.lineage = opened.lineage;
    this.restoredFrom = opened.restoredFrom;
    this.discontinuity = opened.discontinuity;
    this.record?.note({ lineage: this.lineage, seq: this.lastSeq(), ...optionalChain(this.changes.newestChainHash()) });
    this.record?.flush();
    this.commitTransaction = this.db.transaction((batch: WriteBatch) => {
      const { change } = batch;
      if (batch.object) s.upsertObject.run(change.type, change.dbid, batch.objectBody ?? packr.pack(batch.object));
      else s.deleteObject.run(change.type, change.dbid);
      if (batch.credential !== undefined) s.upsertCredential.run(change.dbid, batch.credential);
      if (change.op === 'deleted' && change.type === 'Person') s.deleteCredential.run(change.dbid);
      if (batch.dbidCounter) s.setCounter.run(`dbid:${batch.dbidCounter.type}`, batch.dbidCounter.next);
      this.changes.append(change);
    });
  }

  /**
   * The lineage stored in the file; a new one for a new (or pre-lineage) file; the next generation
   * for a backup copy, whose mark is removed in the same transaction, so only its first start
   * raises the generation.
   */
  private openIdentity(): { lineage: Lineage; restoredFrom?: BackupMark; discontinuity?: string } {
    const get = (name: string): string | undefined => (this.db.prepare('SELECT value FROM identity WHERE name = ?').get(name) as { value: string } | undefined)?.value;
    const set = this.db.prepare('INSERT OR REPLACE INTO identity (name, value) VALUES (?, ?)');
    return this.db.transaction(() => {
      const id = get('lineage_id');
      const generation = Number(get('generation') ?? '1');
      const mark = get('backup_mark');
      let lineage: Lineage = id === undefined ? newLineage() : { id, generation };
      let restoredFrom: BackupMark | undefined;
      const chainAt = this.db.prepare('SELECT chain FROM changes WHERE seq = ?');
      const broken = discontinuity(this.record?.read(), {
        lineage,
        newestSeq: this.lastSeq(),
        chainAt: (seq) => (chainAt.get(seq) as { chain: string | null } | undefined)?.chain ?? undefined,
      });
      if (mark !== undefined) {
        restoredFrom = JSON.parse(mark) as BackupMark;
        this.db.prepare("DELETE FROM identity WHERE name = 'backup_mark'").run();
      }
      if (mark !== undefined || broken !== undefined) lineage = { id: lineage.id, generation: nextGeneration(lineage.generation) };
      set.run('lineage_id', lineage.id);
      set.run('generation', String(lineage.generation));
      return { lineage, ...(restoredFrom ? { restoredFrom } : {}), ...(broken && !restoredFrom ? { discontinuity: broken } : {}) };
    })();
  }

  /**
   * Writes a point-in-time copy of the whole database to `path` with SQLite's online backup:
   * commits go on meanwhile (the copy is taken on this connection, so they reach it too). The copy
   * is marked as a backup: a master started on it begins a new generation [PROTO-LINEAGE-1].
   */
  async backupTo(path: string, onProgress?: (done: number, total: number) => void): Promise<BackupMark> {
    await this.db.backup(path, {
      progress: ({ totalPages, remainingPages }) => {
        onProgress?.(totalPages - remainingPages, totalPages);
        return 256; // pages (1 MiB) a step; between steps the event loop (and commits) run
      },
    });
    const copy = new Database(path);
    try {
      copy.pragma('journal_mode = DELETE'); // one self-contained file
      const row = copy.prepare('SELECT MAX(seq) AS seq FROM changes').get() as { seq: number | null };
      const mark: BackupMark = { takenAt: Date.now(), seq: Math.max(row.seq ?? 0, 0), lineage: this.lineage };
      copy.prepare("INSERT OR REPLACE INTO identity (name, value) VALUES ('backup_mark', ?)").run(JSON.stringify(mark));
      return mark;
    } finally {
      copy.close();
    }
  }

  /**
   * A backup into a new file beside the database (the same file system has room for it; `/tmp` may
   * not), readable by this user only: it holds every password hash.
   */
  async backupToTemporaryFile(): Promise<BackupMark & { path: string }> {
    const base = this.path === ':memory:' ? join(tmpdir(), 'cfgproxy-memory.db') : this.path;
    const path = `${base}.backup-${randomUUID()}`;
    await writeFile(path, '', { mode: 0o600, flag: 'wx' });
    try {
      return { path, ...(await this.backupTo(path)) };
    } catch (error) {
      await rm(path, { force: true });
      throw error;
    }
  }

  get location(): string {
    return this.path;
  }

  load(): LoadedConfiguration {
    const rows = this.db.prepare("SELECT name, value FROM counters WHERE name LIKE 'dbid:%'").all() as Array<{ name: string; value: number }>;
    return { objects: this.loadObjects(), credentials: this.loadCredentials(), seq: this.lastSeq(), chain: this.changes.newestChainHash(), dbidCounters: new Map(rows.map((row) => [row.name, row.value])) };
  }

  changesAfter(seq: number): Iterable<ChangeRecord> {
    return this.changes.changesAfter(seq);
  }

  oldestSeq(): number | undefined {
    return this.changes.oldestSeq();
  }

  prune(maxChanges: number, maxAgeMs: number): number {
    return this.changes.prune(maxChanges, maxAgeMs);
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

  upgradeCredentials(upgrades: ReadonlyArray<[number, string, string]>): number {
    const update = this.db.prepare('UPDATE credentials SET hash = ? WHERE dbid = ? AND hash = ?');
    return this.db.transaction(() => upgrades.reduce((rewritten, [dbid, from, to]) => rewritten + update.run(to, dbid, from).changes, 0))();
  }

  decoyKey(fresh: string): string {
    this.db.prepare('INSERT OR IGNORE INTO credentials (dbid, hash) VALUES (0, ?)').run(fresh);
    return (this.db.prepare('SELECT hash FROM credentials WHERE dbid = 0').get() as { hash: string }).hash;
  }

  loadCredentials(): Map<number, string> {
    const rows = this.db.prepare('SELECT dbid, hash FROM credentials').all() as Array<{ dbid: number; hash: string }>;
    return new Map(rows.map((row) => [row.dbid, row.hash]));
  }

  /** Commits one change: object, credential, counters and change record, all or nothing. */
  commit(batch: WriteBatch): void {
    this.commitTransaction(batch);
    this.record?.note({ lineage: this.lineage, seq: batch.change.seq, ...optionalChain(batch.change.chain) });
  }


  close(): void {
    this.record?.close();
    if (this.db.open) this.db.close();
  }
}

function optionalChain(chain: string | undefined): { chain?: string } {
  return chain === undefined ? {} : { chain };
}
