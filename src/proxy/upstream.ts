import { EventEmitter } from 'node:events';
import { CfgError, ErrorCode, type ChangeMessage, type CredentialChangedMessage, type HistoryLogExpiredMessage, type NewObject, type ObjectDelta, type ObjectType } from '../../protocol/index.js';
import { backoffDelayMs } from '../client/backoff.js';
import { ClientCore, type CoreOptions } from '../client/client-core.js';
import type { WriteOutcome } from '../service/source.js';
import { ConfigStore } from '../store/config-store.js';
import { DEFAULT_GIVE_UP_AFTER, GaveUp, PermanentRefusals } from '../util/give-up.js';
import type { Logger } from '../util/logger.js';
import { Progress } from '../util/progress.js';
import type { ProxySource, Snapshot, UpstreamWriter } from './proxy-source.js';
import type { Scope } from './scope.js';
import { sleep, systemClock } from '../util/clock.js';

/** Notifications fanned out per slice before the event loop gets a turn to flush sockets… */
const DELIVERIES_PER_SLICE = 200_000;
/**
 * …but never fewer changes than this. Each slice costs every subscriber one socket write, and a
 * write has a fixed cost (≈8 µs here) that a few changes cannot amortize: at S=5000, slices of
 * 40 changes delivered 3.8 M/s and slices of 250 delivered 11.6 M/s (bench:fanout). The price is
 * a longer turn in a burst (S=5000: ≈100 ms), which only queueing latency sees.
 */
const MIN_CHANGES_PER_SLICE = 256;
/** Stop reading from the master past this many unapplied changes; resume below the second. */
const BACKLOG_PAUSE = 5_000;
const BACKLOG_RESUME = 500;

export interface UpstreamOptions {
  /** The client connection to the masters: endpoints (primary, backup), account, TLS, ADDP. */
  connect: CoreOptions;
  scope: Scope;
  /** After history-log-expired, wait a random 0..delayReloadMs before reloading (staggers a fleet). */
  delayReloadMs: number;
  /** How many clients each applied change is fanned out to (sizes the apply slices). */
  subscriberCount(): number;
  logger: Logger;
  /** Consecutive permanent refusals (credentials, version) before start() gives up (0: never). */
  giveUpAfter?: number;
  /** A change reached a stage: `at` is its commit time at the master (ms since the epoch). */
  observeStage?(stage: 'received' | 'applied', at: number): void;
}

/**
 * What a master says that retrying the same credentials cannot change. Not LOGIN_THROTTLED: that
 * may be others' failures from the proxy's address range, and passes; nor WEAK_CHALLENGE, which is
 * whatever sits between the proxy and its master.
 */
const PERMANENT_REFUSALS: ReadonlySet<string> = new Set([ErrorCode.AUTH_FAILED, ErrorCode.PERMISSION_DENIED, ErrorCode.UNSUPPORTED_VERSION]);

/**
 * The proxy's link to its masters: one SDK connection registered as a proxy and subscribed to
 * everything. It reconnects over the master list with backoff and restores its session from
 * appliedSeq (the SDK does that); it loads a snapshot first and again whenever the master's
 * history no longer reaches back (reset). While a snapshot loads, changes are held back and
 * applied after it, skipping what the snapshot already covers [ARCH-2].
 * Events: `connected`, `disconnected`, `loaded` ({ first, seq, notified }), `reload-deferred` (protected mode).
 */
export class UpstreamLink extends EventEmitter implements UpstreamWriter {
  private client: ClientCore | null = null;
  private held: Array<{ message: ChangeMessage; credential?: string }> = [];
  /** Changes received, not yet applied; `backlogStart` is the next one. */
  private backlog: Array<{ message: ChangeMessage; credential?: string }> = [];
  private backlogStart = 0;
  private applyScheduled = false;
  private paused = false;
  private holding: boolean;
  private readonly credentialsBySeq = new Map<number, string>();
  private loading = false;
  private needsLoad: boolean;
  private reloadTimer: unknown = null;
  private stopped = false;
  /** Protected mode: may this proxy reload now? (A primary with a live backup waits for its turn.) */
  private reloadGate: (() => boolean) | null = null;
  private reloadDeferred = false;
  /** When the master link was lost (systemClock.now()), until it is back. */
  private lostAt: number | undefined;
  /** When the link was made (systemClock.now()): a proxy that never reached a master has lacked it since. */
  private readonly startedAt = systemClock.now();
  /** Protected mode ended without the backup's reload: the next load does not ask the gate. */
  private gateOverridden = false;
  private readonly firstLoad: Promise<void>;
  private resolveFirstLoad!: () => void;

  constructor(
    private readonly source: ProxySource,
    private readonly options: UpstreamOptions,
  ) {
    super();
    this.firstLoad = new Promise((resolve) => (this.resolveFirstLoad = resolve));
    // A proxy that resumed its cache from the history log catches up from its seq instead of loading.
    this.needsLoad = !source.isLoaded;
    this.holding = !source.isLoaded;
    if (source.isLoaded) this.resolveFirstLoad();
  }

  get connected(): boolean {
    return this.client?.connected === true;
  }

  /** Since when (ms since the epoch) no master has been connected; undefined while one is. */
  unreachableSince(): number | undefined {
    if (this.connected) return undefined;
    return Date.now() - (this.lostAt === undefined ? systemClock.now() - this.startedAt : systemClock.now() - this.lostAt);
  }

  /** How long no master has been connected (0 while one is). */
  disconnectedForMs(): number {
    return this.connected || this.lostAt === undefined ? 0 : systemClock.now() - this.lostAt;
  }

  /** Resolves when the first snapshot is in memory and clients are accepted. */
  loaded(): Promise<void> {
    return this.firstLoad;
  }

  /**
   * Connects (retrying until a master answers), subscribes to everything, loads. A proxy resumed
   * from its history log presents its position instead: the master replays what it missed, or
   * answers history-expired (another lineage, or too far back) and the proxy reloads.
   */
  async start(): Promise<void> {
    const { logger } = this.options;
    const resumed = this.source.isLoaded;
    let client: ClientCore | null = null;
    const refusals = new PermanentRefusals(this.options.giveUpAfter ?? DEFAULT_GIVE_UP_AFTER, PERMANENT_REFUSALS);
    for (let attempt = 1; !this.stopped; attempt += 1) {
      // The listeners go on before the first Register: a resumed session's replay may follow it in the same packet.
      const candidate = ClientCore.create({
        ...this.options.connect,
        clientType: 'proxy',
        // The proxy is sent every change: a skipped seq is a broken link, never a change to skip [PROTO-SEQ-2].
        gapless: true,
        ...(resumed ? { resume: { lastSeq: this.source.appliedSeq(), lineage: this.source.lineage(), chain: this.source.chain(), subscriptions: [{}] } } : {}),
      });
      this.listen(candidate);
      try {
        await candidate.open();
        client = candidate;
        break;
      } catch (error) {
        candidate.removeAllListeners();
        const code = error instanceof CfgError ? error.code : undefined;
        if (refusals.note(code)) {
          throw new GaveUp(code!, `the masters refused this proxy ${refusals.consecutive} times in a row (${code}: ${(error as Error).message}); check --user and CFGPROXY_PROXY_PASSWORD (the account needs isProxy or isAdmin)`);
        }
        const delayMs = backoffDelayMs(attempt);
        if (code !== undefined && (PERMANENT_REFUSALS.has(code) || code === ErrorCode.LOGIN_THROTTLED || code === ErrorCode.WEAK_CHALLENGE)) {
          logger.error({ event: 'PROXY-004', code, err: describe(error), attempt, retryInMs: delayMs, masters: this.options.connect.endpoints }, 'cannot log in to the master; retrying (AUTH_FAILED: check --user and CFGPROXY_PROXY_PASSWORD, and that the account has isProxy or isAdmin; WEAK_CHALLENGE: something between the proxy and its master is not the master)');
        } else {
          logger.warn({ err: describe(error), attempt, retryInMs: delayMs, masters: this.options.connect.endpoints }, 'cannot reach a master yet');
        }
        await sleep(delayMs, systemClock, true);
      }
    }
    this.client = client;
    if (!client || this.stopped) {
      await client?.close();
      return;
    }
    if (!resumed) await client.subscribe({});
    this.scheduleLoad(0);
  }

  private listen(client: ClientCore): void {
    const { logger } = this.options;
    client.on('credential', (message: CredentialChangedMessage) => this.credentialsBySeq.set(message.seq, message.hash));
    client.on('notification', (message: ChangeMessage) => this.onChange(message));
    client.on('reset', (message: HistoryLogExpiredMessage) => this.onExpired(message));
    client.on('connected', ({ restored }: { restored: boolean }) => {
      logger.info({ master: client.server?.serverName, restored, appliedSeq: this.source.appliedSeq() }, 'connected to the master');
      this.lostAt = undefined;
      if (this.needsLoad) this.scheduleLoad(0);
      this.emit('connected');
    });
    client.on('disconnected', (reason: { message?: string }) => {
      logger.warn({ reason: reason.message }, 'lost the master; serving from the cache');
      this.lostAt ??= systemClock.now();
      this.emit('disconnected');
    });
    client.on('error', (error: unknown) => {
      if (error instanceof CfgError && error.code === ErrorCode.SEQ_GAP) {
        logger.error({ event: 'PROXY-005', err: describe(error), appliedSeq: this.source.appliedSeq() }, 'the master link lost or repeated changes: dropped, catching up from the last change received');
      } else logger.warn({ err: describe(error) }, 'master link error');
    });
  }

  /** The seq of the last change received from the master, applied, held or dropped. */
  receivedSeq = 0;

  private onChange(message: ChangeMessage): void {
    this.receivedSeq = message.seq;
    this.options.observeStage?.('received', message.at);
    const credential = this.credentialsBySeq.get(message.seq);
    if (credential !== undefined) this.credentialsBySeq.delete(message.seq);
    this.accept(message, credential);
  }

  private accept(message: ChangeMessage, credential: string | undefined): void {
    if (this.holding) {
      // A deferred reload has not asked for its snapshot yet, and that snapshot will cover all of
      // these: holding them would grow memory for as long as protected mode lasts.
      if (!this.reloadDeferred) this.held.push({ message, credential });
      return;
    }
    this.backlog.push({ message, credential });
    if (this.backlog.length - this.backlogStart >= BACKLOG_PAUSE && !this.paused) {
      this.paused = true;
      this.client?.pauseReading();
    }
    if (!this.applyScheduled) {
      this.applyScheduled = true;
      // Right after this read's frames are decoded, not a loop turn later: the fan-out's flush
      // then runs in this same turn (bench:fanout, 500 changes/s to S=100: p99 4 ms, 5 before).
      // Later slices of a burst yield with setImmediate (applySlice).
      queueMicrotask(() => this.applySlice());
    }
  }

  /**
   * Applies queued changes until about DELIVERIES_PER_SLICE notifications were fanned out (or
   * MIN_CHANGES_PER_SLICE changes), then yields, so the sockets are flushed between slices: a burst from the master becomes a steady
   * stream instead of one long stall, and memory holds a slice, not the whole burst.
   */
  private applySlice(): void {
    this.applyScheduled = false;
    const perChange = Math.max(1, this.options.subscriberCount());
    const limit = Math.max(MIN_CHANGES_PER_SLICE, Math.floor(DELIVERIES_PER_SLICE / perChange));
    let applied = 0;
    while (this.backlogStart < this.backlog.length && applied < limit && !this.holding) {
      const { message, credential } = this.backlog[this.backlogStart++];
      applied += 1;
      try {
        this.source.applyChange(message, credential);
        this.options.observeStage?.('applied', message.at);
      } catch (error) {
        // The cache no longer matches the master: stop applying and reload it.
        this.options.logger.error({ err: error, seq: message.seq }, 'could not apply a change; reloading');
        this.holding = true;
        this.held.push(...this.backlog.slice(this.backlogStart));
        this.needsLoad = true;
        this.scheduleLoad(0);
      }
    }
    if (this.backlogStart >= this.backlog.length || this.holding) {
      this.backlog = [];
      this.backlogStart = 0;
    } else {
      this.applyScheduled = true;
      setImmediate(() => this.applySlice());
    }
    if (this.paused && this.backlog.length - this.backlogStart <= BACKLOG_RESUME) {
      this.paused = false;
      this.client?.resumeReading();
    }
  }

  /** The master's history no longer reaches our appliedSeq: go on serving, reload in the background. */
  private onExpired(message: HistoryLogExpiredMessage): void {
    this.holding = true;
    this.needsLoad = true;
    const delayMs = Math.round(Math.random() * this.options.delayReloadMs);
    this.options.logger.warn({ appliedSeq: this.source.appliedSeq(), oldestSeq: message.oldestSeq, reloadInMs: delayMs }, 'master history expired; reloading');
    this.scheduleLoad(delayMs);
  }

  private scheduleLoad(delayMs: number): void {
    if (this.reloadTimer || this.loading || this.stopped) return;
    this.reloadTimer = systemClock.setTimeout(() => {
      this.reloadTimer = null;
      void this.load();
    }, delayMs, true);
  }

  /** Protected mode (`--config-reload-delay-if-primary`): reloads (not the first load) ask first. */
  setReloadGate(gate: () => boolean): void {
    this.reloadGate = gate;
  }

  get hasDeferredReload(): boolean {
    return this.reloadDeferred;
  }

  /** Changes held back for a load in progress. */
  get heldChanges(): number {
    return this.held.length;
  }

  /** The deferred reload starts: the gate allows it now, or (`force`) protected mode ended without it. */
  releaseDeferredReload(force = false): void {
    if (!this.reloadDeferred) return;
    this.reloadDeferred = false;
    this.gateOverridden = force;
    this.scheduleLoad(0);
  }

  private async load(): Promise<void> {
    const client = this.client;
    if (!client?.connected || this.loading || !this.needsLoad) return;
    if (this.source.isLoaded && this.reloadGate && !this.gateOverridden && !this.reloadGate()) {
      // Serve the current data meanwhile; the master's stream is not kept (see accept): the reload's snapshot covers it.
      this.reloadDeferred = true;
      this.options.logger.info({ event: 'HA-011', appliedSeq: this.source.appliedSeq() }, 'reload deferred: the backup reloads first (protected mode)');
      this.emit('reload-deferred');
      return;
    }
    this.loading = true;
    this.holding = true;
    this.gateOverridden = false;
    const first = !this.source.isLoaded;
    // The first load builds in place (nobody is served yet); a reload builds aside and swaps.
    const store = first ? this.source.store : new ConfigStore();
    store.clear();
    const credentials = new Map<number, string>();
    const progress = new Progress(first ? 'loading configuration' : 'reloading configuration', this.options.logger);
    let received = 0;
    try {
      const end = await client.loadSnapshot((chunk) => {
        for (const object of chunk.objects) store.put(object);
        for (const [dbid, hash] of chunk.credentials ?? []) credentials.set(dbid, hash);
        if (chunk.objects.length === 0) return; // queued behind other loads [PROTO-PROXY-3]
        received += chunk.objects.length;
        progress.update(received, chunk.total);
      });
      keepScope(store, this.options.scope);
      const snapshot: Snapshot = { store, credentials, seq: end.seq, lineage: end.lineage, ...(end.chain ? { chain: end.chain } : {}) };
      let notified = 0;
      let rebased = false;
      if (first) this.source.adoptFirstSnapshot(snapshot);
      else ({ notified, rebased } = this.source.replaceWith(snapshot));
      client.advanceTo(end.seq, end.lineage, end.chain);
      this.needsLoad = false;
      this.releaseHeld();
      this.options.logger.info({ objects: store.size, received, seq: end.seq, appliedSeq: this.source.appliedSeq(), ms: progress.finish(), notified, scope: this.options.scope.toString() }, first ? 'configuration loaded' : 'configuration reloaded');
      if (first) this.resolveFirstLoad();
      this.emit('loaded', { first, seq: end.seq, notified, rebased });
    } catch (error) {
      progress.finish();
      if (first) store.clear();
      this.options.logger.warn({ err: describe(error) }, 'snapshot load failed; retrying');
    } finally {
      this.loading = false;
    }
    // Lost the master mid-load: the 'connected' handler starts it again; otherwise retry soon.
    if (this.needsLoad && client.connected) this.scheduleLoad(backoffDelayMs(2));
  }

  /** Changes that arrived during the load, in order; those the snapshot covers are skipped. */
  private releaseHeld(): void {
    const held = this.held;
    this.held = [];
    this.holding = false;
    for (const { message, credential } of held) this.accept(message, credential);
  }

  // Every forwarded write names the lineage of the cache it was made against: a master of another
  // database refuses it, so a dbid can never land on another object [PROTO-LINEAGE-5].
  create(object: NewObject, options: { onBehalfOf: number }): Promise<WriteOutcome> {
    return this.requireClient().create(object, { ...options, lineage: this.source.lineage() });
  }

  update(type: ObjectType, dbid: number, delta: ObjectDelta, options: { onBehalfOf: number }): Promise<WriteOutcome> {
    return this.requireClient().update(type, dbid, delta, { ...options, lineage: this.source.lineage() });
  }

  delete(type: ObjectType, dbid: number, options: { onBehalfOf: number }): Promise<WriteOutcome> {
    return this.requireClient().delete(type, dbid, { ...options, lineage: this.source.lineage() });
  }

  private requireClient(): ClientCore {
    if (!this.client) throw new CfgError(ErrorCode.MASTER_UNAVAILABLE, 'the proxy has not reached a master yet');
    return this.client;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.reloadTimer) systemClock.clearTimeout(this.reloadTimer);
    await this.client?.close();
  }
}

/** Drops what lies outside the proxy's scope (after the load, when the folder tree is complete). */
function keepScope(store: ConfigStore, scope: Scope): void {
  if (scope.isEverything) return;
  const outside = [];
  for (const object of store.everything()) if (!scope.includes(object, store.folderParent)) outside.push(object);
  for (const object of outside) store.remove(object.type, object.dbid);
}

function describe(error: unknown): string {
  return error instanceof Error ? `${error instanceof CfgError ? `${error.code}: ` : ''}${error.message}` : String(error);
}
