import { EventEmitter } from 'node:events';
import {
  CfgError,
  encodeFrame,
  ErrorCode,
  Kind,
  OBJECT_TYPES,
  type ChangeMessage,
  type ConfigObject,
  type NewObject,
  type ObjectDelta,
  type ObjectType,
  type ServerRole,
} from '../../protocol/index.js';
import type { ChangeOp, ChangeRecord } from '../model/change.js';
import { CredentialStore } from '../model/credentials.js';
import { diffObjects } from '../model/object-diff.js';
import type { Principal } from '../model/permissions.js';
import { PrincipalDirectory } from '../model/principal-directory.js';
import { applyDelta } from '../model/validate-object.js';
import type { HistoryLog } from '../history/history-log.js';
import type { ChangesAfter, ConfigSource, WriteOutcome } from '../service/source.js';
import { ConfigStore } from '../store/config-store.js';
import type { Logger } from '../util/logger.js';
import type { Scope } from './scope.js';

/** How the proxy reaches the master for forwarded writes. */
export interface UpstreamWriter {
  readonly connected: boolean;
  create(object: NewObject, options: { onBehalfOf: number }): Promise<WriteOutcome>;
  update(type: ObjectType, dbid: number, delta: ObjectDelta, options: { onBehalfOf: number }): Promise<WriteOutcome>;
  delete(type: ObjectType, dbid: number, options: { onBehalfOf: number }): Promise<WriteOutcome>;
}

/** A loaded snapshot: the objects in scope and the password hashes, at `seq`. */
export interface Snapshot {
  store: ConfigStore;
  credentials: Map<number, string>;
  seq: number;
}

/** The proxy's place in a warm-standby pair, when it is in one. */
export interface PairRole {
  role(): 'primary' | 'backup';
  /** A backup serves reads and subscriptions (never writes) when started so. */
  readonly acceptClientsInBackupMode: boolean;
  /** Where the primary takes clients, for the refusal a backup gives. */
  primaryEndpoint(): string | undefined;
  /** Resolves at a promotion, or when none is coming soon (the HA link is up, or the window passed). */
  awaitPromotion(): Promise<void>;
}

export interface ProxySourceOptions {
  serverName: string;
  pair?: PairRole;
  scope: Scope;
  writable: boolean;
  /** A forwarded write waits at most this long for its change to arrive before it is answered. */
  writeApplyTimeoutMs: number;
  logger: Logger;
}

interface SeqWaiter {
  seq: number;
  resolve(): void;
}

/**
 * The proxy's side of the configuration service: the configuration loaded from the master,
 * kept current by applying its changes in seq order [ARCH-1, ARCH-2], logged to the history log
 * so clients are restored here [ARCH-3]. Writes are forwarded (writable mode) or refused.
 */
export class ProxySource implements ConfigSource {
  readonly serverKind = 'proxy';
  readonly store = new ConfigStore();
  upstream: UpstreamWriter | undefined;
  private readonly credentials = new CredentialStore();
  private readonly principals = new PrincipalDirectory(this.store);
  private readonly events = new EventEmitter();
  private applied = 0;
  private loaded = false;
  private waiters: SeqWaiter[] = [];

  constructor(
    private readonly history: HistoryLog,
    private readonly options: ProxySourceOptions,
  ) {
    this.events.setMaxListeners(0);
  }

  get serverName(): string {
    return this.options.serverName;
  }

  get isLoaded(): boolean {
    return this.loaded;
  }

  serverRole(): ServerRole {
    return this.options.pair?.role() ?? 'standalone';
  }

  /** Refuses what a backup does not do [PROTO-HA-6]: everything, or writes only when it serves clients. */
  private backupRefusal(what: 'clients' | 'writes'): CfgError | undefined {
    const pair = this.options.pair;
    if (!pair || pair.role() !== 'backup') return undefined;
    if (what === 'clients' && pair.acceptClientsInBackupMode) return undefined;
    const primary = pair.primaryEndpoint();
    return new CfgError(
      ErrorCode.BACKUP_MODE,
      `this proxy is the backup of its pair${what === 'writes' ? ' and takes no writes' : ''}; ${primary ? `the primary is at ${primary}` : 'connect to the primary'}`,
      primary ? { details: { primary } } : undefined,
    );
  }

  appliedSeq(): number {
    return this.applied;
  }

  changesAfter(seq: number): ChangesAfter {
    return this.history.changesAfter(seq);
  }

  authenticate(user: string, password: string): Promise<number | undefined> {
    return this.credentials.authenticate(this.store, user, password);
  }

  principal(personDbid: number): Principal | undefined {
    return this.principals.get(personDbid);
  }

  principalsVersion(): number {
    return this.principals.version;
  }

  credentialOf(personDbid: number): string | undefined {
    return this.credentials.get(personDbid);
  }

  notServingReason(): CfgError | undefined {
    const refusal = this.backupRefusal('clients');
    if (refusal) return refusal;
    if (this.loaded) return undefined;
    return new CfgError(ErrorCode.PROXY_LOADING, 'the proxy is still loading the configuration from the master; retry shortly');
  }

  /** A backup in the middle of a failover holds new sessions until it is promoted, rather than refusing them. */
  untilServing(): Promise<void> {
    return this.options.pair?.awaitPromotion() ?? Promise.resolve();
  }

  onChange(listener: (change: ChangeRecord) => void): () => void {
    this.events.on('change', listener);
    return () => this.events.off('change', listener);
  }

  /** The first load: nobody is served yet, so the snapshot (built in `store`) simply becomes the cache. */
  adoptFirstSnapshot(snapshot: Snapshot): void {
    if (snapshot.store !== this.store) throw new Error('the first snapshot is built in place');
    this.credentials.clear();
    for (const [dbid, hash] of snapshot.credentials) this.credentials.set(dbid, hash);
    this.principals.invalidate();
    this.applied = snapshot.seq;
    this.history.resetTo(snapshot.seq);
    this.loaded = true;
    this.settleWaiters();
  }

  /**
   * A reload after the master's history expired: the cache served old data until now; here it
   * becomes the snapshot in one step, and subscribers receive the differences as ordinary
   * notifications. Every differing object had at least one change in (applied, seq], so the
   * differences get distinct seqs ending at `seq`: a client that saw them all is exactly at
   * `seq`. Returns how many notifications were sent.
   */
  replaceWith(snapshot: Snapshot): number {
    const diffs: Array<{ before?: ConfigObject; after?: ConfigObject; delta?: ObjectDelta }> = [];
    for (const type of OBJECT_TYPES) {
      for (const after of snapshot.store.all(type)) {
        const before = this.store.get(type, after.dbid);
        if (!before) diffs.push({ after });
        else {
          const delta = diffObjects(before, after);
          if (delta) diffs.push({ before, after, delta });
        }
      }
    }
    for (const type of [...OBJECT_TYPES].reverse()) {
      for (const before of this.store.all(type)) if (!snapshot.store.get(type, before.dbid)) diffs.push({ before });
    }
    const at = Date.now();
    let seq = Math.max(this.applied + 1, snapshot.seq - diffs.length + 1);
    for (const { before, after, delta } of diffs) {
      const changeSeq = Math.min(seq, snapshot.seq);
      seq += 1;
      if (after && before) this.record(before, after, { kind: Kind.ObjectUpdated, seq: changeSeq, at, type: after.type, dbid: after.dbid, delta: delta! }, undefined);
      else if (after) this.record(undefined, after, { kind: Kind.ObjectCreated, seq: changeSeq, at, object: after }, undefined);
      else if (before) this.record(before, undefined, { kind: Kind.ObjectDeleted, seq: changeSeq, at, type: before.type, dbid: before.dbid }, undefined);
    }
    this.credentials.clear();
    for (const [dbid, hash] of snapshot.credentials) this.credentials.set(dbid, hash);
    this.principals.invalidate();
    this.applied = Math.max(this.applied, snapshot.seq);
    this.settleWaiters();
    return diffs.length;
  }

  /**
   * Applies one change from the master, in seq order; changes at or below appliedSeq are already
   * in (replay overlap, or covered by a snapshot). Objects outside the scope are not kept; one that
   * moves in arrives as created, one that moves out as deleted.
   */
  applyChange(message: ChangeMessage, credential: string | undefined): void {
    if (message.seq <= this.applied) return;
    const type = message.kind === Kind.ObjectCreated ? message.object.type : message.type;
    const dbid = message.kind === Kind.ObjectCreated ? message.object.dbid : message.dbid;
    const before = this.store.get(type, dbid);
    let after: ConfigObject | undefined;
    if (message.kind === Kind.ObjectCreated) after = message.object;
    else if (message.kind === Kind.ObjectUpdated) after = message.object ?? (before ? applyDelta(before, message.delta) : undefined);
    if (after && !this.options.scope.includes(after, this.store.folderParent)) after = undefined;

    if (before || after) {
      const { seq, at } = message;
      let notification: ChangeMessage = message;
      if (!before && after && message.kind !== Kind.ObjectCreated) notification = { kind: Kind.ObjectCreated, seq, at, object: after };
      else if (before && !after && message.kind !== Kind.ObjectDeleted) notification = { kind: Kind.ObjectDeleted, seq, at, type, dbid };
      this.record(before, after, notification, credential);
    } else if (credential !== undefined) {
      this.credentials.set(dbid, credential); // a person outside the scope still logs in
    }
    this.applied = message.seq;
    this.settleWaiters();
    this.events.emit('applied', message, credential);
  }

  /** Every change applied from the master, as received (the HA journal forwards them). */
  onApplied(listener: (message: ChangeMessage, credential: string | undefined) => void): () => void {
    this.events.on('applied', listener);
    return () => this.events.off('applied', listener);
  }

  /**
   * A change the primary forwards over the HA link: applied only when it is the very next seq,
   * so it can never open a gap; anything else comes through this proxy's own master link.
   */
  applyForwarded(message: ChangeMessage, credential: string | undefined): boolean {
    if (!this.loaded || message.seq !== this.applied + 1) return false;
    this.applyChange(message, credential);
    return true;
  }

  /** Puts one change into memory and the history log, and hands it to the fan-out. */
  private record(before: ConfigObject | undefined, after: ConfigObject | undefined, notification: ChangeMessage, credential: string | undefined): void {
    const placed = (after ?? before)!;
    const op: ChangeOp = !after ? 'deleted' : before ? 'updated' : 'created';
    const change: ChangeRecord = {
      seq: notification.seq,
      at: notification.at,
      op,
      type: placed.type,
      dbid: placed.dbid,
      tenant: placed.tenant,
      folder: placed.folder,
      frame: encodeFrame(notification),
    };
    if (before && after && (before.tenant !== after.tenant || before.folder !== after.folder)) {
      change.previous = { tenant: before.tenant, folder: before.folder };
    }
    if (after) this.store.put(after);
    else this.store.remove(placed.type, placed.dbid);
    if (credential !== undefined) {
      this.credentials.set(placed.dbid, credential);
      change.proxyFrame = encodeFrame({ kind: Kind.CredentialChanged, seq: change.seq, dbid: placed.dbid, hash: credential });
    }
    if (op === 'deleted' && placed.type === 'Person') this.credentials.delete(placed.dbid);
    if (placed.type === 'Person' || placed.type === 'AccessGroup') this.principals.invalidate();
    this.history.append(change);
    this.events.emit('change', change);
  }

  create(principal: Principal, object: NewObject): Promise<WriteOutcome> {
    return this.forward((upstream, options) => upstream.create(object, options), principal);
  }

  update(principal: Principal, type: ObjectType, dbid: number, delta: ObjectDelta): Promise<WriteOutcome> {
    return this.forward((upstream, options) => upstream.update(type, dbid, delta, options), principal);
  }

  delete(principal: Principal, type: ObjectType, dbid: number): Promise<WriteOutcome> {
    return this.forward((upstream, options) => upstream.delete(type, dbid, options), principal);
  }

  /**
   * Writable mode [PROTO-PROXY-4]: the write goes to the master under the client's identity; the
   * answer waits until this proxy has applied the change, so the client's next read here sees it.
   * Nothing is queued: with the master away the write fails at once.
   */
  private async forward(send: (upstream: UpstreamWriter, options: { onBehalfOf: number }) => Promise<WriteOutcome>, principal: Principal): Promise<WriteOutcome> {
    const refusal = this.backupRefusal('writes');
    if (refusal) throw refusal;
    if (!this.options.writable) throw new CfgError(ErrorCode.READ_ONLY, 'this proxy is read-only; write to the master or to a proxy started with --writable');
    const upstream = this.upstream;
    if (!upstream?.connected) throw new CfgError(ErrorCode.MASTER_UNAVAILABLE, 'the master is not reachable from this proxy; the write was not sent');
    let outcome: WriteOutcome;
    try {
      outcome = await send(upstream, { onBehalfOf: principal.personDbid });
    } catch (error) {
      if (error instanceof CfgError && (error.code === ErrorCode.CONNECTION_LOST || error.code === ErrorCode.REQUEST_TIMEOUT)) {
        throw new CfgError(ErrorCode.MASTER_UNAVAILABLE, 'the connection to the master was lost before it answered; the write may or may not have been committed', { cause: error });
      }
      throw error;
    }
    if (!(await this.waitForSeq(outcome.seq, this.options.writeApplyTimeoutMs))) {
      this.options.logger.warn({ seq: outcome.seq, appliedSeq: this.applied }, 'a forwarded write was committed but has not reached this proxy yet');
    }
    return outcome;
  }

  /** Resolves true once appliedSeq reaches `seq`, false after the timeout. */
  waitForSeq(seq: number, timeoutMs: number): Promise<boolean> {
    if (this.applied >= seq) return Promise.resolve(true);
    return new Promise((resolve) => {
      const waiter: SeqWaiter = {
        seq,
        resolve: () => {
          clearTimeout(timer);
          resolve(true);
        },
      };
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        resolve(false);
      }, timeoutMs);
      timer.unref();
      this.waiters.push(waiter);
    });
  }

  private settleWaiters(): void {
    if (this.waiters.length === 0) return;
    const ready = this.waiters.filter((w) => w.seq <= this.applied);
    if (ready.length === 0) return;
    this.waiters = this.waiters.filter((w) => w.seq > this.applied);
    for (const waiter of ready) waiter.resolve();
  }
}
