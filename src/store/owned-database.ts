import Database from 'better-sqlite3';

/**
 * Opens (or creates) a SQLite file that this process alone uses, in WAL mode, and takes its lock
 * for the connection's life. Holding the lock spares every commit its lock calls (and, set before
 * WAL mode, the shared-memory index), and a second server started on the same file fails here
 * instead of writing over the first one's state. `owner` names that server in the error.
 */
export function openOwnedDatabase(path: string, owner: string): Database.Database {
  const db = new Database(path);
  try {
    db.pragma('locking_mode = EXCLUSIVE');
    db.pragma('busy_timeout = 2000'); // a server that is still exiting lets go within this
    db.pragma('journal_mode = WAL');
    db.exec('BEGIN IMMEDIATE; COMMIT');
  } catch (error) {
    db.close();
    const busy = (error as { code?: string }).code === 'SQLITE_BUSY';
    throw new Error(busy ? `the database ${path} is in use by another process (another ${owner}?)` : `cannot open the database ${path}: ${(error as Error).message}`, { cause: error });
  }
  // NORMAL in WAL mode: a commit survives a process crash (kill -9); only power loss can cost
  // the last transactions. See README "Durability".
  db.pragma('synchronous = NORMAL');
  return db;
}
