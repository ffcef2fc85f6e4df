import Database from 'better-sqlite3';
import { closeSync, constants, mkdirSync, openSync, statSync } from 'node:fs';
import { dirname } from 'node:path';

/**
 * Opens (or creates) a SQLite file that this process alone uses, in WAL mode, and takes its lock
 * for the connection's life. Holding the lock spares every commit its lock calls (and, set before
 * WAL mode, the shared-memory index), and a second server started on the same file fails here
 * instead of writing over the first one's state. `owner` names that server in the error.
 */
export function openOwnedDatabase(path: string, owner: string): Database.Database {
  let db: Database.Database;
  try {
    createPrivately(path);
    db = new Database(path);
  } catch (error) {
    throw new Error(`cannot open the database ${path}: ${reasonOf(path, error)}`, { cause: error });
  }
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

/**
 * The folder is made if missing, and a new database file is made readable by this user only before SQLite opens it: it holds password
 * verifiers, and SQLite gives its -wal and -shm files the database file's mode.
 */
function createPrivately(path: string): void {
  if (path === ':memory:' || path === '') return;
  mkdirSync(dirname(path), { recursive: true });
  try {
    closeSync(openSync(path, constants.O_CREAT | constants.O_EXCL | constants.O_WRONLY, 0o600));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  }
}

/** What to do about a database that cannot be opened, in words that name the fix. */
function reasonOf(path: string, error: unknown): string {
  const code = (error as NodeJS.ErrnoException).code;
  const isFolder = (() => {
    try {
      return statSync(path).isDirectory();
    } catch {
      return false;
    }
  })();
  if (isFolder || code === 'EISDIR') return 'it is a folder; give the path of a file in it (e.g. data/master.db)';
  if (code === 'ENOTDIR' || code === 'EEXIST') return `a part of ${dirname(path)} is a file, not a folder; choose another path`;
  if (code === 'EACCES' || code === 'EPERM' || code === 'EROFS') return `this user may not write there (${code}); choose a writable path or fix its permissions`;
  return (error as Error).message;
}
