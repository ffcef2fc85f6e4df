import type { ChangeMessage, Lineage } from '../../protocol/index.js';

/**
 * What a pair member needs of the proxy it belongs to: the cache it replicates, and the master
 * link that feeds it. The pair's code depends on these interfaces, not on `proxy/` (which
 * implements them).
 */
export interface Replica {
  readonly isLoaded: boolean;
  appliedSeq(): number;
  lineage(): Lineage;
  waitForSeq(seq: number, timeoutMs: number): Promise<boolean>;
  /** Every change applied from the master, as received, in seq order. */
  onApplied(listener: (change: ChangeMessage, credential: string | undefined) => void): () => void;
  /** The cache moved to another lineage. */
  onRebased(listener: () => void): () => void;
}

/** The master link of a replica, as protected mode drives it. */
export interface ReplicaUpstream {
  /** How long no master has been connected (0 while one is): a member cut off for long cannot reload soon. */
  disconnectedForMs(): number;
  setReloadGate(gate: () => boolean): void;
  readonly hasDeferredReload: boolean;
  releaseDeferredReload(force?: boolean): void;
  on(event: 'reload-deferred', listener: () => void): unknown;
  on(event: 'loaded', listener: (event: { first: boolean; seq: number }) => void): unknown;
}

/** The proxy's place in a warm-standby pair, as the proxy asks it. */
export interface PairRole {
  role(): 'primary' | 'backup';
  /** A backup serves reads and subscriptions (never writes) when started so. */
  readonly acceptClientsInBackupMode: boolean;
  /** Where the primary takes clients, for the refusal a backup gives. */
  primaryEndpoint(): string | undefined;
  /** Resolves at a promotion, or when none is coming soon (the HA link is up, or the window passed). */
  awaitPromotion(): Promise<void>;
}
