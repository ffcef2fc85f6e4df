import type { EventEmitter } from 'node:events';
import type { ConfigObject, Lineage } from '../../protocol/index.js';
import type { ChangeRecord } from '../model/change.js';
import type { BackupMark, WriteBatch } from './config-db.js';

/** Everything a master holds in memory, as one consistent read of its database. */
export interface LoadedConfiguration {
  objects: Iterable<ConfigObject>;
  credentials: Map<number, string>;
  /** The seq of the last committed change. */
  seq: number;
  /** Its chain hash [PROTO-LINEAGE-7]; undefined for an empty log, or one made before chains. */
  chain: string | undefined;
  /** The next dbid of each type, as the counters table says (`dbid:<Type>`). */
  dbidCounters: Map<string, number>;
}

/**
 * Where a master's configuration database lives: one SQLite file held by one process (the
 * default), or PostgreSQL shared by a master pair. Every committed change is one transaction
 * holding the object, the credential, the counters and the change record [ARCH-1].
 */
export interface ConfigBackend {
  /** For logs, /health and `status`: where the configuration lives (never a password). */
  readonly location: string;
  /** The database's seq space [PROTO-LINEAGE-1]. */
  readonly lineage: Lineage;
  /** Set when this start opened a backup copy and so began a new generation. */
  readonly restoredFrom?: BackupMark;
  /**
   * Set when this start found a database that is not the one this master last committed to (a
   * restore of any kind, a copy put back by hand) and so began a new generation [PROTO-LINEAGE-1].
   */
  readonly discontinuity?: string;
  load(): LoadedConfiguration | Promise<LoadedConfiguration>;
  /** Commits one change; a sync backend returns nothing, so the whole write stays one synchronous step. */
  commit(batch: WriteBatch): void | Promise<void>;
  /** A committed change landed in memory, in seq order (an async backend records it then, not at its commit). */
  landed?(change: ChangeRecord): void;
  /** Changes after `seq`, oldest first, from what this master can replay. */
  changesAfter(seq: number): Iterable<ChangeRecord>;
  /** The oldest change this master can replay; undefined when it holds none. */
  oldestSeq(): number | undefined;
  /**
   * Rewrites stored passwords from an older form to the current one ([dbid, old, new]); a row that
   * changed meanwhile is left alone. Returns how many rows it rewrote.
   */
  upgradeCredentials(upgrades: ReadonlyArray<[number, string, string]>): number | Promise<number>;
  /**
   * The deployment's decoy key (`decoy$<base64>`, kept as the credential of dbid 0, which no person
   * has): made once with the database by whichever master gets there first, then read.
   */
  decoyKey(fresh: string): string | Promise<string>;
  /** Applies the retention; returns how many changes were removed. */
  prune(maxChanges: number, maxAgeMs: number): number | Promise<number>;
  backupToTemporaryFile?(): Promise<BackupMark & { path: string }>;
  /** Present where several masters share the database: who of them may commit. */
  readonly leadership?: Leadership;
  close(): void | Promise<void>;
}

/**
 * The masters sharing one database take turns: exactly one is active and commits; the others
 * are standbys that follow the change log by seq.
 * Events: `change` (ChangeRecord, a change a standby followed, in seq order), `reload`
 * (LoadedConfiguration: the log no longer reached back to where this standby was), `active`
 * (LoadedConfiguration['dbidCounters'], after every committed change was followed), `standby`
 * (reason).
 */
export interface Leadership extends EventEmitter {
  readonly state: 'standby' | 'active';
  /** Where the active master takes clients, as it advertised itself; undefined when unknown. */
  activeEndpoint(): string | undefined;
  /** Starts following the log and competing for the lease; resolves once the first round settled the role. */
  start(): Promise<void>;
}
