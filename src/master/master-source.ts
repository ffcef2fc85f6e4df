import { externalAccountOf } from '../model/external-account.js';
import {
  CfgError,
  encodeFrame,
  ErrorCode,
  formatBytes,
  GENESIS_CHAIN,
  Kind,
  nextChain,
  withChain,
  type ChangeMessage,
  type ConfigObject,
  type NewObject,
  type ObjectDelta,
  type Lineage,
  type ObjectType,
  type ServerRole,
} from '../../protocol/index.js';
import type { ChangeOp, ChangeRecord } from '../model/change.js';
import { hashPassword, isPasswordHash, verifyPassword } from '../model/passwords.js';
import { upgradeStored } from '../model/scram.js';
import { accountWriteRefusal } from '../model/account-privilege.js';
import { Principal, principalOf } from '../model/permissions.js';
import { applyDelta, checkDelta, checkNewObject, isEmptyDelta } from '../model/validate-object.js';
import type { ConfigBackend, LoadedConfiguration } from '../store/config-backend.js';
import { encodeObject } from '../store/config-db.js';
import { ConfigState } from '../store/config-state.js';
import { referencesOf, type ConfigStore } from '../store/config-store.js';
import type { ChangesAfter, ConfigSource, WriteOutcome } from '../service/source.js';
import { objectAfter } from './follow.js';
import { WriteLane, type WriteKeys } from './write-lane.js';
import { DEFAULT_MAX_OBJECT_BYTES } from '../service/limits.js';
import type { CredentialStore } from '../model/credentials.js';
import { systemClock } from '../util/clock.js';

/** The system itself, for writes made by the server (bootstrap, import). */
export const SYSTEM_PRINCIPAL = new Principal('system', 0, true, []);

/**
 * The master's side of the configuration service: writes go to the database first, then to
 * memory, then to subscribers. Every committed change gets the next seq [ARCH-1]. With a shared
 * database (PostgreSQL) only the active master writes; a standby lands the changes it follows
 * from the database's change log, in the same place and order.
 */
export class MasterSource implements ConfigSource {
  readonly serverKind = 'master';
  private readonly state = new ConfigState();
  private readonly nextDbid = new Map<ObjectType, number>();
  private dbidCounters: Map<string, number>;
  /** Commits made by this master and the time the database took for them, for /metrics. */
  readonly commitStats = { commits: 0, seconds: 0 };
  /** Writes in flight together only when no check of one can depend on another. */
  private readonly lane = new WriteLane();
  /** Asynchronous commits: the last seq handed out, how many are unsettled, the landing chain. */
  private issuedSeq = 0;
  /** The chain hash at `issuedSeq` [PROTO-LINEAGE-7]. */
  private issuedChain = GENESIS_CHAIN;
  private inFlight = 0;
  private landing: Promise<void> = Promise.resolve();
  /** The lowest seq in flight whose commit failed: none after it may land. */
  private failedSeq: number | undefined;

  constructor(
    private readonly db: ConfigBackend,
    loaded: LoadedConfiguration,
    readonly serverName: string,
    /** The largest object a write may leave behind, encoded [PROTO-LIMIT-2]. */
    private readonly maxObjectBytes = DEFAULT_MAX_OBJECT_BYTES,
  ) {
    this.dbidCounters = loaded.dbidCounters;
    this.adopt(loaded);
    const leadership = db.leadership;
    if (leadership) {
      leadership.on('change', (change: ChangeRecord) => this.follow(change));
      leadership.on('reload', (reloaded: LoadedConfiguration) => this.adopt(reloaded));
      leadership.on('active', (counters: Map<string, number>) => {
        // Counters as the last active left them: dbids it allocated are never handed out again.
        this.dbidCounters = counters;
        this.nextDbid.clear();
      });
    }
  }

  /** Memory becomes `loaded`: at start, and when a standby fell too far behind the change log. */
  adopt(loaded: LoadedConfiguration): void {
    this.state.store.clear();
    for (const object of loaded.objects) this.state.store.put(object);
    this.state.reset(loaded.seq, this.db.lineage, loaded.credentials, loaded.chain);
    this.dbidCounters = loaded.dbidCounters;
    this.nextDbid.clear();
  }

  /** A standby lands a change the active master committed, exactly as that master landed it. */
  private follow(change: ChangeRecord): void {
    const { object, credential } = objectAfter(this.store, change);
    this.state.land(change, object, credential);
  }

  get store(): ConfigStore {
    return this.state.store;
  }

  private get seq(): number {
    return this.state.appliedSeq;
  }

  serverRole(): ServerRole {
    const leadership = this.db.leadership;
    if (!leadership) return 'standalone';
    return leadership.state === 'active' ? 'primary' : 'backup';
  }

  appliedSeq(): number {
    return this.seq;
  }

  lineage(): Lineage {
    return this.db.lineage;
  }

  backupDatabase(): Promise<{ path: string; seq: number; lineage: Lineage }> {
    if (!this.db.backupToTemporaryFile) {
      throw new CfgError(ErrorCode.UNKNOWN_KIND, "this master keeps its configuration in PostgreSQL: back it up with PostgreSQL's own tools (pg_dump, pg_basebackup)");
    }
    return this.db.backupToTemporaryFile();
  }

  oldestSeq(): number {
    return this.db.oldestSeq() ?? this.seq + 1;
  }

  /** The master is the source of seqs: a seq it has not reached is one it never issued. */
  waitForSeq(seq: number): Promise<boolean> {
    return Promise.resolve(seq <= this.seq);
  }

  changesAfter(seq: number): ChangesAfter {
    const oldestSeq = this.oldestSeq();
    if (seq < oldestSeq - 1 || seq > this.seq) return { kind: 'expired', oldestSeq };
    return { kind: 'changes', changes: this.db.changesAfter(seq) };
  }

  get credentials(): CredentialStore {
    return this.state.credentials;
  }

  credentialOf(personDbid: number): string | undefined {
    return this.state.credentials.get(personDbid);
  }

  /** A standby master refuses sessions, naming the active one [PROTO-MASTER-PAIR-1]. */
  notServingReason(): CfgError | undefined {
    const leadership = this.db.leadership;
    if (!leadership || leadership.state === 'active') return undefined;
    const active = leadership.activeEndpoint();
    return new CfgError(ErrorCode.BACKUP_MODE, `this master is a standby; ${active ? `the active master is at ${active}` : 'connect to the active master'}`, active ? { details: { primary: active } } : undefined);
  }

  untilServing(): Promise<void> {
    return Promise.resolve();
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

  onChange(listener: (change: ChangeRecord) => void): () => void {
    return this.state.onChange(listener);
  }

  async create(principal: Principal, raw: NewObject): Promise<WriteOutcome> {
    // Shape first: a bad object must not cost a password hash. The dbid is assigned after the
    // hash, in the same synchronous step as the commit, so concurrent creates cannot collide.
    const checked = checkNewObject(raw, 0);
    const credential = await this.credentialFor(principal, undefined, checked.secrets);
    return this.lane.run(() => writeKeys(checked.object, undefined), () => {
      const type = checked.object.type;
      const dbid = this.allocateDbid(type);
      const object = { ...checked.object, dbid };
      refuseLocalPasswordOfDirectoryAccount(object, credential);
      this.checkPlacement(object, undefined);
      this.checkAccess(principal, object, undefined, credential !== undefined);
      return this.commit('created', object, undefined, (seq, at) => ({ kind: Kind.ObjectCreated, seq, at, object }), credential, { type, next: dbid + 1 });
    });
  }

  async update(principal: Principal, type: ObjectType, dbid: number, raw: ObjectDelta): Promise<WriteOutcome> {
    this.requireVisible(principal, type, dbid);
    const { delta, secrets } = checkDelta(type, raw);
    const credential = await this.credentialFor(principal, dbid, secrets);
    const keys = (): WriteKeys => {
      const current = this.store.get(type, dbid);
      return current ? writeKeys(applyDelta(current, delta), current) : { barrier: true };
    };
    return this.lane.run(keys, () => {
      const previous = this.requireVisible(principal, type, dbid); // again: it may have changed while hashing
      if (isEmptyDelta(delta) && credential === undefined) {
        this.checkAccess(principal, previous, previous, false);
        return { seq: this.seq, dbid };
      }
      const object = applyDelta(previous, delta);
      refuseLocalPasswordOfDirectoryAccount(object, credential);
      // One's own password, the current one given (credentialFor checked it), needs no change right.
      const ownPasswordOnly = type === 'Person' && dbid === principal.personDbid && isEmptyDelta(delta) && credential !== undefined;
      // Only a change of name, place or properties can break a reference or a name.
      if (delta.name !== undefined || delta.tenant !== undefined || delta.folder !== undefined || delta.props !== undefined) this.checkPlacement(object, previous);
      if (!ownPasswordOnly) this.checkAccess(principal, object, previous, credential !== undefined);
      const moved = object.tenant !== previous.tenant || object.folder !== previous.folder;
      const notification = moved
        ? (seq: number, at: number): ChangeMessage => ({ kind: Kind.ObjectUpdated, seq, at, type, dbid, delta, object })
        : (seq: number, at: number): ChangeMessage => ({ kind: Kind.ObjectUpdated, seq, at, type, dbid, delta });
      return this.commit('updated', object, previous, notification, credential);
    });
  }

  delete(principal: Principal, type: ObjectType, dbid: number): Promise<WriteOutcome> {
    const keys = (): WriteKeys => {
      const current = this.store.get(type, dbid);
      return current ? writeKeys(undefined, current) : { barrier: true };
    };
    return this.lane.run(keys, () => {
      const previous = this.requireVisible(principal, type, dbid);
      this.checkAccess(principal, undefined, previous, false);
      const referrer = this.store.firstReferrer(type, dbid);
      if (referrer) {
        throw new CfgError(ErrorCode.OBJECT_IN_USE, `${type} ${dbid} is still referenced by ${referrer}; change or delete that first`, {
          details: { referrer },
        });
      }
      return this.commit('deleted', undefined, previous, (seq, at) => ({ kind: Kind.ObjectDeleted, seq, at, type, dbid }), undefined);
    });
  }

  /**
   * The object a write names. One the writer may not read is answered as one that does not exist,
   * word for word, so a write cannot be used to learn what exists outside one's view [PROTO-PERM-2].
   */
  private requireVisible(principal: Principal, type: ObjectType, dbid: number): ConfigObject {
    const object = this.store.get(type, dbid);
    const own = type === 'Person' && dbid === principal.personDbid;
    if (!object || (!own && !principal.canRead(object, this.store.folderParent))) {
      throw new CfgError(ErrorCode.UNKNOWN_OBJECT, `there is no ${type} with dbid ${dbid}`, { details: { type, dbid } });
    }
    return object;
  }

  /** The next dbid of `type`, reserved now: a create in flight beside this one gets another. */
  private allocateDbid(type: ObjectType): number {
    let next = this.nextDbid.get(type);
    if (next === undefined) {
      next = Math.max(this.dbidCounters.get(`dbid:${type}`) ?? 0, 1);
      for (const object of this.store.all(type)) next = Math.max(next, object.dbid + 1);
    }
    this.nextDbid.set(type, next + 1);
    return next;
  }

  /**
   * The password hash a write sets, if any [PROTO-PERM-4]. Setting another person's password is an
   * administrator's right (else anyone who may change persons could take over the admin account);
   * a person changes its own giving the current one (`oldPassword`); a ready-made hash
   * (`passwordHash`, from `export --with-credentials`) is for administrators only.
   */
  private async credentialFor(principal: Principal, personDbid: number | undefined, secrets: Record<string, string>): Promise<string | undefined> {
    const { password, passwordHash } = secrets;
    if (password === undefined && passwordHash === undefined) return undefined;
    if (password !== undefined && passwordHash !== undefined) throw new CfgError(ErrorCode.INVALID_OBJECT, 'give password or passwordHash, not both');
    const own = personDbid !== undefined && personDbid === principal.personDbid;
    if (!principal.isAdmin && (passwordHash !== undefined || (personDbid !== undefined && !own))) {
      throw new CfgError(ErrorCode.PERMISSION_DENIED, `only an administrator may set ${passwordHash !== undefined ? 'a password hash' : "another person's password"}`);
    }
    if (!principal.isAdmin && own) {
      // A stolen session must not be enough to lock the owner out: the current password first.
      const current = this.state.credentials.get(personDbid);
      const given = secrets.oldPassword;
      if (current === undefined || given === undefined || !(await verifyPassword(given, current))) {
        throw new CfgError(ErrorCode.PERMISSION_DENIED, 'to change your own password give the current one as props.oldPassword');
      }
    }
    if (passwordHash === undefined) return hashPassword(password!);
    if (!isPasswordHash(passwordHash)) throw new CfgError(ErrorCode.INVALID_OBJECT, 'passwordHash must be scram$N$r$p$salt$storedKey$serverKey (or the older scrypt$N$r$p$salt$hash) as `cfgproxy export --with-credentials` writes it, at a cost of at least N=16384, r=8 and a 16-byte salt');
    return upgradeStored(passwordHash);
  }

  /** References exist, names are unique, folders form no cycle [PROTO-OBJ-5]. */
  private checkPlacement(object: ConfigObject, previous: ConfigObject | undefined): void {
    for (const ref of referencesOf(object)) {
      if (!this.store.has(ref)) {
        throw new CfgError(ErrorCode.MISSING_REFERENCE, `${object.type} '${object.name}' refers to ${ref}, which does not exist`, { details: { missing: ref } });
      }
    }
    const sameName = this.store.findByName(object.type, object.tenant, object.name);
    if (sameName && sameName.dbid !== object.dbid) {
      throw new CfgError(ErrorCode.NAME_IN_USE, `a ${object.type} named '${object.name}' already exists (dbid ${sameName.dbid})`, { details: { dbid: sameName.dbid } });
    }
    if (object.type === 'Folder' && previous && object.folder !== previous.folder) {
      for (let folder = object.folder, depth = 0; folder !== 0 && depth < 64; folder = this.store.folderParent(folder) ?? 0, depth += 1) {
        if (folder === object.dbid) throw new CfgError(ErrorCode.INVALID_OBJECT, `folder ${object.dbid} cannot be filed inside itself`);
      }
    }
  }

  /**
   * Change access on the object where it was and where it goes (`object` absent for a delete);
   * admin-only fields [PROTO-PERM-4]; accounts of administrators and proxies [PROTO-PERM-5].
   */
  private checkAccess(principal: Principal, object: ConfigObject | undefined, previous: ConfigObject | undefined, setsPassword: boolean): void {
    const parentOf = this.store.folderParent;
    const named = (object ?? previous)!;
    const allowed = (!object || principal.canChange(object, parentOf)) && (!previous || principal.canChange(previous, parentOf));
    if (!allowed) {
      throw new CfgError(ErrorCode.PERMISSION_DENIED, `${principal.user} may not change ${named.type} '${named.name}'`, {
        details: { type: named.type, dbid: named.dbid },
      });
    }
    const grantsPower =
      object !== undefined &&
      (object.type === 'AccessGroup' ||
        (object.type === 'Person' &&
          (object.props.isAdmin !== previous?.props.isAdmin || object.props.isProxy !== previous?.props.isProxy || JSON.stringify(object.props.grants) !== JSON.stringify(previous?.props.grants))));
    if ((grantsPower || named.type === 'AccessGroup') && !principal.isAdmin) {
      throw new CfgError(ErrorCode.PERMISSION_DENIED, `only an administrator may change permissions (${named.type} '${named.name}')`);
    }
    const refusal = accountWriteRefusal(principal, { before: previous, after: object, setsPassword }, (person) => {
      const holder = principalOf(person, this.store.all('AccessGroup'));
      return holder.isAdmin || holder.isProxy;
    });
    if (refusal) throw new CfgError(ErrorCode.PERMISSION_DENIED, refusal, { details: { type: named.type, dbid: named.dbid } });
  }

  private commit(
    op: ChangeOp,
    object: ConfigObject | undefined,
    previous: ConfigObject | undefined,
    /** The notification for this change, built whole: a spread-in seq made encoding it 4× slower. */
    notification: (seq: number, at: number) => ChangeMessage,
    credential: string | undefined,
    dbidCounter?: { type: ObjectType; next: number },
  ): WriteOutcome | Promise<WriteOutcome> {
    const refusal = this.notServingReason();
    if (refusal) throw new CfgError(ErrorCode.MASTER_UNAVAILABLE, `${refusal.message}; the write was not made`, refusal.details ? { details: refusal.details } : undefined);
    const placed = (object ?? previous)!;
    // Measured as stored, so no notification or snapshot chunk can approach a frame limit: one
    // oversized object would otherwise be replayed into every receiver's FRAME_TOO_LARGE forever.
    const objectBody = object && encodeObject(object);
    if (objectBody && objectBody.length > this.maxObjectBytes) {
      throw new CfgError(ErrorCode.OBJECT_TOO_LARGE, `${placed.type} '${placed.name}' would take ${formatBytes(objectBody.length)}, above --max-object-bytes (${formatBytes(this.maxObjectBytes)}); keep large data out of the configuration`, {
        details: { bytes: objectBody.length, maxObjectBytes: this.maxObjectBytes },
      });
    }
    // The next seq after every write in flight: commits are ordered by seq in the database too.
    if (this.inFlight === 0) {
      this.issuedSeq = this.seq;
      this.issuedChain = this.state.chain ?? GENESIS_CHAIN;
    }
    const seq = this.issuedSeq + 1;
    const at = Date.now();
    // The chain covers the frame without itself; the frame everyone receives carries it [PROTO-LINEAGE-7].
    const withoutChain = encodeFrame(notification(seq, at));
    const chain = nextChain(this.issuedChain, withoutChain);
    const change: ChangeRecord = {
      seq,
      at,
      chain,
      op,
      type: placed.type,
      dbid: placed.dbid,
      tenant: placed.tenant,
      folder: placed.folder,
      frame: withChain(withoutChain, chain),
    };
    if (object && previous && (object.tenant !== previous.tenant || object.folder !== previous.folder)) {
      change.previous = { tenant: previous.tenant, folder: previous.folder };
    }
    if (credential !== undefined) change.proxyFrame = encodeFrame({ kind: Kind.CredentialChanged, seq, dbid: placed.dbid, hash: credential });
    // Only after the commit succeeded does memory change: a failed write leaves no trace.
    const startedAt = systemClock.now();
    const land = (): WriteOutcome => {
      this.commitStats.commits += 1;
      this.commitStats.seconds += (systemClock.now() - startedAt) / 1000;
      this.state.land(change, object, credential);
      this.db.landed?.(change);
      return { seq, dbid: placed.dbid };
    };
    let pending: void | Promise<void>;
    try {
      pending = this.db.commit({ change, object, objectBody, credential, dbidCounter });
    } catch (error) {
      throw storageFailure(error);
    }
    if (pending === undefined) return land(); // SQLite: committed in this same step
    this.issuedChain = chain;
    return this.landInOrder(seq, pending, land);
  }

  /**
   * An asynchronous commit lands once every write issued before it has landed. When one fails,
   * none issued after it may land: the database refuses them (each seq must follow the committed
   * one), or, when the database went away mid-commit and the outcome is unknown, this master is no
   * longer active and catches up from the change log. Once nothing is in flight, seqs are issued
   * from the last landed one again.
   */
  private landInOrder(seq: number, pending: Promise<void>, land: () => WriteOutcome): Promise<WriteOutcome> {
    this.issuedSeq = seq;
    this.inFlight += 1;
    pending.catch(() => undefined); // its failure is handled in turn below
    const outcome = this.landing
      .then(() => pending)
      .then(
        () => {
          if (this.failedSeq !== undefined && seq > this.failedSeq) {
            throw new CfgError(ErrorCode.MASTER_UNAVAILABLE, 'an earlier write failed while this one was in flight: its outcome is unknown; read before you retry');
          }
          return land();
        },
        (error: unknown) => {
          if (this.failedSeq === undefined || seq < this.failedSeq) this.failedSeq = seq;
          throw storageFailure(error);
        },
      )
      .finally(() => {
        this.inFlight -= 1;
        if (this.inFlight === 0) this.failedSeq = undefined;
      });
    this.landing = outcome.then(
      () => undefined,
      () => undefined,
    );
    return outcome;
  }
}

/**
 * A commit that failed: a full disk or an I/O error rolled the transaction back, so nothing
 * changed anywhere; a shared database's refusal (this master lost the lease) keeps its own code.
 */
function storageFailure(error: unknown): CfgError {
  if (error instanceof CfgError) return error;
  return new CfgError(ErrorCode.STORAGE_FAILED, `the configuration database could not commit the change (${(error as Error).message}); nothing was changed`, { cause: error });
}

/**
 * Types whose writes change what other writes' checks read (the folder tree, tenants, accounts and
 * permissions): such a write is a barrier, alone in flight. The others say what their commit
 * changes (the object, its old and new names) and what else their checks read (what it references).
 */
const BARRIER_TYPES: ReadonlySet<ObjectType> = new Set(['Folder', 'Tenant', 'Person', 'AccessGroup']);

function writeKeys(after: Omit<ConfigObject, 'dbid'> | undefined, before: ConfigObject | undefined): WriteKeys {
  const type = (after ?? before)!.type;
  if (BARRIER_TYPES.has(type)) return { barrier: true };
  const writes: string[] = [];
  if (before) writes.push(`${type}:${before.dbid}`, `name:${type}:${before.tenant}:${before.name}`);
  if (after) writes.push(`name:${type}:${after.tenant}:${after.name}`);
  // Tenants and folders are referenced by almost everything; their writes are barriers instead.
  const reads: string[] = [];
  for (const object of [after, before]) {
    if (object) for (const ref of referencesOf({ dbid: 0, ...object } as ConfigObject)) if (!ref.startsWith('Tenant:') && !ref.startsWith('Folder:')) reads.push(ref);
  }
  return { barrier: false, writes, reads };
}

/**
 * A directory account's password is the directory's [PROTO-HELLO-7]: one set here would be stored
 * and never used, and whoever set it would believe it works.
 */
function refuseLocalPasswordOfDirectoryAccount(object: ConfigObject, credential: string | undefined): void {
  const external = credential !== undefined && object.type === 'Person' ? externalAccountOf(object) : undefined;
  if (external) {
    throw new CfgError(ErrorCode.INVALID_OBJECT, `'${object.name}' logs in by ${external.method.toUpperCase()}: its password is the directory's; set authMethod to null first to give it one here`);
  }
}
