import type { CfgError, Lineage, NewObject, NotificationFilter, ObjectDelta, ObjectType, ServerKind, ServerRole } from '../../protocol/index.js';
import type { ChangeRecord } from '../model/change.js';
import type { CredentialStore } from '../model/credentials.js';
import type { Principal } from '../model/permissions.js';
import type { ConfigStore } from '../store/config-store.js';

import type { ChangesAfter } from '../model/change.js';

export type { ChangesAfter };

export interface WriteOutcome {
  seq: number;
  dbid: number;
}

/**
 * What the client-facing service needs from whatever holds the configuration: the master
 * implements it with its database, the proxy with its upstream cache. The service never knows
 * which one it talks to (ARCHITECTURE "Layout").
 */
export interface ConfigSource {
  readonly serverName: string;
  /** A pool member's own name when `serverName` is the pool's (`--cluster-name`) [PROTO-POOL-1]. */
  readonly memberName?: string;
  readonly serverKind: ServerKind;
  serverRole(): ServerRole;
  readonly store: ConfigStore;
  /** The seq of the last change applied to `store`. */
  appliedSeq(): number;
  /** The seq space `appliedSeq` belongs to [PROTO-LINEAGE-1]. */
  lineage(): Lineage;
  /** The chain hash at `appliedSeq` [PROTO-LINEAGE-7]; undefined where it is not known. */
  chain(): string | undefined;
  /** Resolves true once appliedSeq reaches `seq`, false after `timeoutMs`. */
  waitForSeq(seq: number, timeoutMs: number): Promise<boolean>;
  /** Changes after `seq`, oldest first, or `expired` when the log no longer reaches back so far. */
  changesAfter(seq: number): ChangesAfter;
  /** Password verifiers by person: logins are checked against them [PROTO-HELLO-3, -5]. */
  readonly credentials: CredentialStore;
  principal(personDbid: number): Principal | undefined;
  /** A person's password hash; sent to proxies only [PROTO-PROXY-2]. */
  credentialOf(personDbid: number): string | undefined;
  /** Why the server refuses new sessions right now (a proxy still loading), or undefined. */
  notServingReason(): CfgError | undefined;
  /**
   * Resolves when a refusal may be about to end and is worth waiting for (a backup whose primary
   * just vanished, about to be promoted); resolves at once otherwise.
   */
  untilServing(): Promise<void>;
  /** Bumps whenever principals may have changed (a Person or AccessGroup change). */
  principalsVersion(): number;
  create(principal: Principal, object: NewObject): Promise<WriteOutcome>;
  update(principal: Principal, type: ObjectType, dbid: number, delta: ObjectDelta): Promise<WriteOutcome>;
  delete(principal: Principal, type: ObjectType, dbid: number): Promise<WriteOutcome>;
  /**
   * Writes an online copy of the configuration database to a new private file (a master only) and
   * says where, and which seq and lineage the copy holds [PROTO-BACKUP-1]. The caller deletes it.
   */
  backupDatabase?(): Promise<{ path: string; seq: number; lineage: Lineage }>;
  /**
   * What this server recorded of a client session (a proxy's history log, which on a pair's backup
   * mirrors the primary's sessions); undefined where nothing is recorded [PROTO-RESTORE-5].
   */
  sessionRecord?(id: string): { personDbid: number; lastSeq: number; subscriptions: NotificationFilter[] } | undefined;
  /** Calls `listener` for every applied change, in seq order; returns the unsubscribe function. */
  onChange(listener: (change: ChangeRecord) => void): () => void;
}
