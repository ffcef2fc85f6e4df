import { EventEmitter } from 'node:events';
import type { ConfigObject, Lineage } from '../../protocol/index.js';
import type { ChangeRecord } from '../model/change.js';
import { CredentialStore } from '../model/credentials.js';
import { describeLineage } from '../model/lineage.js';
import type { Principal } from '../model/permissions.js';
import { PrincipalDirectory } from '../model/principal-directory.js';
import { ConfigStore } from './config-store.js';
import { systemClock } from '../util/clock.js';

interface SeqWaiter {
  seq: number;
  resolve(): void;
}

/**
 * What a server holds in memory of one configuration database: the objects, the password hashes,
 * the principals derived from them, the seq they are at and the lineage that seq belongs to
 * [ARCH-1]. The one place where a change lands in memory, for the master (after its commit) and
 * for a proxy (as its master's stream arrives), so "seqs only grow, within one lineage" is
 * checked here and nowhere else.
 */
export class ConfigState {
  readonly store = new ConfigStore();
  readonly credentials = new CredentialStore();
  private readonly principals = new PrincipalDirectory(this.store);
  private readonly events = new EventEmitter();
  private applied = 0;
  private current: Lineage | undefined;
  private appliedChain: string | undefined;
  private waiters: SeqWaiter[] = [];

  constructor() {
    this.events.setMaxListeners(0);
  }

  /** The seq of the last change in memory. */
  get appliedSeq(): number {
    return this.applied;
  }

  /** The chain hash at `appliedSeq` [PROTO-LINEAGE-7]; undefined where it is not known. */
  get chain(): string | undefined {
    return this.appliedChain;
  }

  /** The seq space of `appliedSeq`; undefined until something was loaded. */
  get lineage(): Lineage | undefined {
    return this.current;
  }

  principal(personDbid: number): Principal | undefined {
    return this.principals.get(personDbid);
  }

  get principalsVersion(): number {
    return this.principals.version;
  }

  /**
   * Starts over at `seq` of `lineage` with what `store` now holds (filled by the caller) and these
   * password hashes: a database opened, a snapshot loaded or swapped in.
   */
  reset(seq: number, lineage: Lineage, credentials: Iterable<[number, string]>, chain: string | undefined): void {
    this.appliedChain = chain;
    this.credentials.clear();
    for (const [dbid, hash] of credentials) this.credentials.set(dbid, hash);
    this.principals.invalidate();
    this.applied = seq;
    this.current = lineage;
    this.settleWaiters();
  }

  /**
   * One change lands in memory: the object (absent for a delete), a new password hash, the
   * principals, the seq; then every listener sees it, in seq order. A seq at or below the applied
   * one would mean two histories were being merged: refused before anything changes.
   */
  land(change: ChangeRecord, object: ConfigObject | undefined, credential: string | undefined): void {
    this.requireFollows(change.seq);
    const previous = change.type === 'Person' ? this.store.get('Person', change.dbid) : undefined;
    if (object) this.store.put(object);
    else this.store.remove(change.type, change.dbid);
    if (credential !== undefined) this.credentials.set(change.dbid, credential);
    if (change.op === 'deleted' && change.type === 'Person') this.credentials.delete(change.dbid);
    if (change.type === 'AccessGroup' || (change.type === 'Person' && changesPrincipal(previous, object))) this.principals.invalidate();
    this.applied = change.seq;
    this.appliedChain = change.chain;
    this.events.emit('change', change);
    this.settleWaiters();
  }

  /** Throws unless `seq` may land next; callers that record a change elsewhere first ask here. */
  requireFollows(seq: number): void {
    if (seq <= this.applied) {
      throw new Error(`change ${seq} does not follow seq ${this.applied} of ${describeLineage(this.current)}: refusing to merge two histories`);
    }
  }

  /** A seq passed with nothing to keep (a proxy's change outside its scope). */
  skip(seq: number, chain: string | undefined, credential?: { dbid: number; hash: string }): void {
    if (seq <= this.applied) return;
    if (credential) this.credentials.set(credential.dbid, credential.hash); // a person outside the scope still logs in
    this.applied = seq;
    this.appliedChain = chain;
    this.settleWaiters();
  }

  /** Calls `listener` for every change that lands, in seq order; returns the unsubscribe function. */
  onChange(listener: (change: ChangeRecord) => void): () => void {
    this.events.on('change', listener);
    return () => this.events.off('change', listener);
  }

  /** Resolves true once appliedSeq reaches `seq`, false after the timeout. */
  waitForSeq(seq: number, timeoutMs: number): Promise<boolean> {
    if (this.applied >= seq) return Promise.resolve(true);
    return new Promise((resolve) => {
      const waiter: SeqWaiter = {
        seq,
        resolve: () => {
          systemClock.clearTimeout(timer);
          resolve(true);
        },
      };
      const timer = systemClock.setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        resolve(false);
      }, timeoutMs);
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

/**
 * Whether a Person change can change what anyone may do: its grants, flags, name or state, or the
 * person leaving. A new person is nobody's principal yet, and an edit of its other fields (names,
 * annex, options: what agent desktops change all day) leaves every principal as it was, so the
 * servers need not recompute every session's view for it.
 */
function changesPrincipal(before: ConfigObject | undefined, after: ConfigObject | undefined): boolean {
  if (!before) return false;
  if (!after) return true;
  const { grants, isAdmin, isProxy } = before.props;
  return (
    before.name !== after.name ||
    before.state !== after.state ||
    isAdmin !== after.props.isAdmin ||
    isProxy !== after.props.isProxy ||
    JSON.stringify(grants ?? null) !== JSON.stringify(after.props.grants ?? null)
  );
}
