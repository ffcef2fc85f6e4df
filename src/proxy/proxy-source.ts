import { EventEmitter } from 'node:events';
import {
  CfgError,
  encodeFrame,
  ErrorCode,
  formatBytes,
  Kind,
  OBJECT_TYPES,
  type ChangeMessage,
  type ConfigObject,
  type NewObject,
  type ObjectDelta,
  type Lineage,
  type ObjectType,
  type ServerRole,
} from '../../protocol/index.js';
import type { ChangeOp, ChangeRecord } from '../model/change.js';
import { describeLineage, NO_LINEAGE, sameLineage } from '../model/lineage.js';
import { diffObjects } from '../model/object-diff.js';
import type { Principal } from '../model/permissions.js';
import { applyDelta } from '../model/validate-object.js';
import type { PairRole } from '../ha/replica.js';
import type { CacheImage, HistoryLog, SessionRecord } from '../history/history-log.js';
import { approximateBytes } from '../util/approximate-bytes.js';
import type { ChangesAfter, ConfigSource, WriteOutcome } from '../service/source.js';
import { ConfigState } from '../store/config-state.js';
import type { ConfigStore } from '../store/config-store.js';
import type { Logger } from '../util/logger.js';
import type { Scope } from './scope.js';
import type { CredentialStore } from '../model/credentials.js';

/** How the proxy reaches the master for forwarded writes. */
export interface UpstreamWriter {
  readonly connected: boolean;
  create(object: NewObject, options: { onBehalfOf: number }): Promise<WriteOutcome>;
  update(type: ObjectType, dbid: number, delta: ObjectDelta, options: { onBehalfOf: number }): Promise<WriteOutcome>;
  delete(type: ObjectType, dbid: number, options: { onBehalfOf: number }): Promise<WriteOutcome>;
}

/** A loaded snapshot: the objects in scope and the password hashes, at `seq` of `lineage`. */
export interface Snapshot {
  store: ConfigStore;
  credentials: Map<number, string>;
  seq: number;
  lineage: Lineage;
  /** The chain hash at `seq` [PROTO-LINEAGE-7], as the master's ReadEnd says. */
  chain?: string;
}

export interface ProxySourceOptions {
  serverName: string;
  /** Set in a pool (`--cluster-name`): `serverName` is then the pool's name and this the member's. */
  memberName?: string;
  pair?: PairRole;
  scope: Scope;
  writable: boolean;
  /** Writes whose content is larger than this are refused here, before they cost the master anything. */
  maxObjectBytes: number;
  /** A forwarded write waits at most this long for its change to arrive before it is answered. */
  writeApplyTimeoutMs: number;
  logger: Logger;
}

/**
 * The proxy's side of the configuration service: the configuration loaded from the master,
 * kept current by applying its changes in seq order [ARCH-1, ARCH-2], logged to the history log
 * so clients are restored here [ARCH-3] and a restart resumes where it stopped. Writes are
 * forwarded (writable mode) or refused. Events: `rebased` ({ from, to, seq }) when the cache moved
 * to another lineage and every session was told to re-read.
 */
export class ProxySource implements ConfigSource {
  readonly serverKind = 'proxy';
  readonly state = new ConfigState();
  upstream: UpstreamWriter | undefined;
  private readonly events = new EventEmitter();
  private loaded = false;

  constructor(
    private readonly history: HistoryLog,
    private readonly options: ProxySourceOptions,
  ) {
    this.events.setMaxListeners(0);
    history.setImageSource(() => this.image());
  }

  get store(): ConfigStore {
    return this.state.store;
  }

  get memberName(): string | undefined {
    return this.options.memberName;
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
    return this.state.appliedSeq;
  }

  lineage(): Lineage {
    return this.state.lineage ?? NO_LINEAGE;
  }

  changesAfter(seq: number): ChangesAfter {
    return this.history.changesAfter(seq);
  }

  sessionRecord(id: string): SessionRecord | undefined {
    return this.history.session(id);
  }

  get credentials(): CredentialStore {
    return this.state.credentials;
  }

  principal(personDbid: number): Principal | undefined {
    return this.state.principal(personDbid);
  }

  chain(): string | undefined {
    return this.state.chain;
  }

  principalsVersion(): number {
    return this.state.principalsVersion;
  }

  credentialOf(personDbid: number): string | undefined {
    return this.state.credentials.get(personDbid);
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
    return this.state.onChange(listener);
  }

  onRebased(listener: (event: { from: Lineage; to: Lineage; seq: number }) => void): () => void {
    this.events.on('rebased', listener);
    return () => this.events.off('rebased', listener);
  }

  /** The cache as the history log stores it. */
  private image(): CacheImage {
    return { lineage: this.lineage(), seq: this.state.appliedSeq, ...(this.state.chain ? { chain: this.state.chain } : {}), scope: this.options.scope.toString(), objects: this.store.everything(), credentials: this.state.credentials.entries() };
  }

  /**
   * A restart: the cache the history log kept, at its seq and lineage, so clients are served (and
   * restored) at once and the master link catches up from there [ARCH-2]. False when there is no
   * complete image, or it was made for another scope.
   */
  resumeFromHistory(): { seq: number; lineage: Lineage; objects: number } | false {
    const image = this.history.storedImage();
    if (!image || image.scope !== this.options.scope.toString()) return false;
    this.store.clear();
    for (const object of image.objects) this.store.put(object);
    const credentials = [...image.credentials];
    this.state.reset(image.seq, image.lineage, credentials, image.chain);
    // Older `scrypt$` hashes were upgraded in memory; the file gets the `scram$` form too, since
    // the older one would log its holder in [PROTO-HELLO-5].
    for (const [dbid, hash] of credentials) {
      const current = this.state.credentials.get(dbid);
      if (current !== undefined && current !== hash) this.history.noteCredential(dbid, current);
    }
    this.loaded = true;
    return { seq: image.seq, lineage: image.lineage, objects: this.store.size };
  }

  /** The first load: nobody is served yet, so the snapshot (built in `store`) simply becomes the cache. */
  adoptFirstSnapshot(snapshot: Snapshot): void {
    if (snapshot.store !== this.store) throw new Error('the first snapshot is built in place');
    this.state.reset(snapshot.seq, snapshot.lineage, snapshot.credentials, snapshot.chain);
    this.history.startImage(this.image());
    this.loaded = true;
  }

  /**
   * A reload after the master's history expired: the cache served old data until now; here it
   * becomes the snapshot in one step. Within one lineage subscribers receive the differences as
   * ordinary notifications: every differing object had at least one change in (applied, seq], so
   * the differences get distinct seqs ending at `seq`, and a client that saw them all is exactly
   * at `seq`. A snapshot of another lineage (another database, or this one restored from a copy)
   * or one behind the cache cannot be expressed so: the cache starts over in that lineage and
   * every session is told to re-read [PROTO-LINEAGE-4]. Returns how many notifications were sent
   * (0 for a rebase).
   */
  replaceWith(snapshot: Snapshot): { notified: number; rebased: boolean } {
    const diffs = this.differencesTo(snapshot);
    const continuous = sameLineage(snapshot.lineage, this.state.lineage) && snapshot.seq - this.state.appliedSeq >= diffs.length;
    if (!continuous) {
      this.rebase(snapshot);
      return { notified: 0, rebased: true };
    }
    const at = Date.now();
    let seq = snapshot.seq - diffs.length + 1;
    for (const { before, after, delta } of diffs) {
      // Made up here, so no chain hash of the master's, but the last: it stands at the snapshot's seq.
      const chain = seq === snapshot.seq && snapshot.chain ? { chain: snapshot.chain } : {};
      if (after && before) this.record(before, after, { kind: Kind.ObjectUpdated, seq, at, type: after.type, dbid: after.dbid, delta: delta!, ...chain }, undefined);
      else if (after) this.record(undefined, after, { kind: Kind.ObjectCreated, seq, at, object: after, ...chain }, undefined);
      else if (before) this.record(before, undefined, { kind: Kind.ObjectDeleted, seq, at, type: before.type, dbid: before.dbid, ...chain }, undefined);
      seq += 1;
    }
    for (const [dbid, hash] of snapshot.credentials) if (this.state.credentials.get(dbid) !== hash) this.history.noteCredential(dbid, hash);
    for (const [dbid] of this.state.credentials.entries()) if (!snapshot.credentials.has(dbid)) this.history.noteCredential(dbid, undefined);
    const caughtUp = snapshot.seq >= this.state.appliedSeq;
    this.state.reset(Math.max(this.state.appliedSeq, snapshot.seq), snapshot.lineage, snapshot.credentials, caughtUp ? snapshot.chain : this.state.chain);
    this.history.noteApplied(this.state.appliedSeq, this.state.chain);
    return { notified: diffs.length, rebased: false };
  }

  private differencesTo(snapshot: Snapshot): Array<{ before?: ConfigObject; after?: ConfigObject; delta?: ObjectDelta }> {
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
    return diffs;
  }

  /** The cache starts over in the snapshot's lineage; the history log with it; every session re-reads. */
  private rebase(snapshot: Snapshot): void {
    const from = this.lineage();
    const fromSeq = this.state.appliedSeq;
    this.store.clear();
    for (const object of snapshot.store.everything()) this.store.put(object);
    this.state.reset(snapshot.seq, snapshot.lineage, snapshot.credentials, snapshot.chain);
    this.history.startImage(this.image());
    this.options.logger.warn(
      { event: 'PROXY-001', from: describeLineage(from), fromSeq, to: describeLineage(snapshot.lineage), seq: snapshot.seq },
      sameLineage(from, snapshot.lineage)
        ? 'the master went back in its history (restored from an older copy?): the cache starts over at its seq and every client re-reads'
        : 'the master serves another database lineage: the cache starts over in it and every client re-reads',
    );
    this.events.emit('rebased', { from, to: snapshot.lineage, seq: snapshot.seq });
  }

  /**
   * Applies one change from the master, in seq order; changes at or below appliedSeq are already
   * in (replay overlap, or covered by a snapshot). Objects outside the scope are not kept; one that
   * moves in arrives as created, one that moves out as deleted.
   */
  applyChange(message: ChangeMessage, credential: string | undefined): void {
    if (message.seq <= this.state.appliedSeq) return;
    const type = message.kind === Kind.ObjectCreated ? message.object.type : message.type;
    const dbid = message.kind === Kind.ObjectCreated ? message.object.dbid : message.dbid;
    const before = this.store.get(type, dbid);
    let after: ConfigObject | undefined;
    if (message.kind === Kind.ObjectCreated) after = message.object;
    else if (message.kind === Kind.ObjectUpdated) after = message.object ?? (before ? applyDelta(before, message.delta) : undefined);
    if (after && !this.options.scope.includes(after, this.store.folderParent)) after = undefined;

    if (before || after) {
      const { seq, at } = message;
      const chain = message.chain ? { chain: message.chain } : {};
      let notification: ChangeMessage = message;
      if (!before && after && message.kind !== Kind.ObjectCreated) notification = { kind: Kind.ObjectCreated, seq, at, object: after, ...chain };
      else if (before && !after && message.kind !== Kind.ObjectDeleted) notification = { kind: Kind.ObjectDeleted, seq, at, type, dbid, ...chain };
      this.record(before, after, notification, credential);
    } else {
      this.state.skip(message.seq, message.chain, credential === undefined ? undefined : { dbid, hash: credential });
      if (credential !== undefined) this.history.noteCredential(dbid, credential);
      this.history.noteApplied(message.seq, message.chain);
    }
    this.events.emit('applied', message, credential);
  }

  /** Every change applied from the master, as received (the HA journal forwards them). */
  onApplied(listener: (message: ChangeMessage, credential: string | undefined) => void): () => void {
    this.events.on('applied', listener);
    return () => this.events.off('applied', listener);
  }

  /** Puts one change into the history log and memory (the shared landing). */
  private record(before: ConfigObject | undefined, after: ConfigObject | undefined, notification: ChangeMessage, credential: string | undefined): void {
    const placed = (after ?? before)!;
    const op: ChangeOp = !after ? 'deleted' : before ? 'updated' : 'created';
    const change: ChangeRecord = {
      seq: notification.seq,
      at: notification.at,
      ...(notification.chain ? { chain: notification.chain } : {}),
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
    if (credential !== undefined) change.proxyFrame = encodeFrame({ kind: Kind.CredentialChanged, seq: change.seq, dbid: placed.dbid, hash: credential });
    // The history log first: its write of this turn is then scheduled before the fan-out's, so
    // the file holds a change before any client was sent it (a restart never finds a client ahead).
    this.state.requireFollows(change.seq);
    this.history.append(change, after);
    if (credential !== undefined) this.history.noteCredential(placed.dbid, credential);
    else if (op === 'deleted' && placed.type === 'Person') this.history.noteCredential(placed.dbid, undefined);
    this.state.land(change, after, credential);
  }

  create(principal: Principal, object: NewObject): Promise<WriteOutcome> {
    this.checkSize(object);
    return this.forward((upstream, options) => upstream.create(object, options), principal);
  }

  update(principal: Principal, type: ObjectType, dbid: number, delta: ObjectDelta): Promise<WriteOutcome> {
    this.checkSize(delta);
    return this.forward((upstream, options) => upstream.update(type, dbid, delta, options), principal);
  }

  /** The master measures the object it would store; what is plainly too large is refused here already. */
  private checkSize(content: NewObject | ObjectDelta): void {
    const bytes = approximateBytes(content);
    if (bytes > this.options.maxObjectBytes) {
      throw new CfgError(ErrorCode.OBJECT_TOO_LARGE, `the write carries about ${formatBytes(bytes)}, above --max-object-bytes (${formatBytes(this.options.maxObjectBytes)})`, {
        details: { bytes, maxObjectBytes: this.options.maxObjectBytes },
      });
    }
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
      this.options.logger.warn({ seq: outcome.seq, appliedSeq: this.state.appliedSeq }, 'a forwarded write was committed but has not reached this proxy yet');
    }
    return outcome;
  }

  /** Resolves true once appliedSeq reaches `seq`, false after the timeout. */
  waitForSeq(seq: number, timeoutMs: number): Promise<boolean> {
    return this.state.waitForSeq(seq, timeoutMs);
  }
}
