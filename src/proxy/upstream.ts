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
import { initialFollowState, stepFollow, type FollowEffect, type FollowInput, type FollowState } from './follow-machine.js';
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
 * The proxy's link to its masters: one connection registered as a proxy. It follows the master
 * as the follow machine (`follow-machine.ts`) decides: load a snapshot, then subscribe to
 * everything from the snapshot's seq [PROTO-SUB-5], so no change is held during a load; when the
 * master's history no longer reaches back (reset) it stops the stream, serves its cache, loads
 * again and follows on [ARCH-2]. It reconnects over the master list with backoff and restores its
 * session from appliedSeq (the connection core does that). Applying is paced in slices.
 * Events: `connected`, `disconnected`, `loaded` ({ first, seq, notified }), `reload-deferred` (protected mode).
 */
export class UpstreamLink extends EventEmitter implements UpstreamWriter {
  /** The connection to the masters (the one being opened, until one opens). */
  private client: ClientCore | null = null;
  /** A connection opened once: writes go to it (and fail fast while it reconnects). */
  private reachedMaster = false;
  private machine: FollowState;
  /** Changes received, not yet applied; `backlogStart` is the next one. */
  private backlog: Array<{ message: ChangeMessage; credential?: string }> = [];
  private backlogStart = 0;
  private applyScheduled = false;
  private paused = false;
  private readonly credentialsBySeq = new Map<number, string>();
  private reloadTimer: unknown = null;
  /** Protected mode: may this proxy reload now? (A primary with a live backup waits for its turn.) */
  private reloadGate: (() => boolean) | null = null;
  /** When the master link was lost (systemClock.now()), until it is back. */
  private lostAt: number | undefined;
  /** When the link was made (systemClock.now()): a proxy that never reached a master has lacked it since. */
  private readonly startedAt = systemClock.now();
  private readonly firstLoad: Promise<void>;
  private resolveFirstLoad!: () => void;

  constructor(
    private readonly source: ProxySource,
    private readonly options: UpstreamOptions,
  ) {
    super();
    this.firstLoad = new Promise((resolve) => (this.resolveFirstLoad = resolve));
    // A proxy that resumed its cache from the history log catches up from its seq instead of loading.
    this.machine = initialFollowState(source.isLoaded);
    if (source.isLoaded) this.resolveFirstLoad();
  }

  /** Where the follow machine stands (for tests and status). */
  get phase(): FollowState['phase'] {
    return this.machine.phase;
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
   * Connects (retrying until a master answers), then loads and follows. A proxy resumed from its
   * history log presents its position instead: the master replays what it missed, or answers
   * history-expired (another lineage, or too far back) and the proxy reloads.
   */
  async start(): Promise<void> {
    const { logger } = this.options;
    const resumed = this.source.isLoaded;
    let client: ClientCore | null = null;
    const refusals = new PermanentRefusals(this.options.giveUpAfter ?? DEFAULT_GIVE_UP_AFTER, PERMANENT_REFUSALS);
    for (let attempt = 1; this.machine.phase !== 'stopped'; attempt += 1) {
      // The listeners go on before the first Register: a resumed session's replay may follow it in the same packet.
      const candidate = ClientCore.create({
        ...this.options.connect,
        clientType: 'proxy',
        // The proxy is sent every change: a skipped seq is a broken link, never a change to skip [PROTO-SEQ-2].
        gapless: true,
        ...(resumed ? { resume: { lastSeq: this.source.appliedSeq(), lineage: this.source.lineage(), chain: this.source.chain(), subscriptions: [{}] } } : {}),
      });
      this.listen(candidate);
      this.client = candidate;
      try {
        await candidate.open();
        client = candidate;
        this.reachedMaster = true;
        break;
      } catch (error) {
        this.client = null;
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
    if (!client || this.machine.phase === 'stopped') await client?.close();
  }

  private listen(client: ClientCore): void {
    const { logger } = this.options;
    client.on('credential', (message: CredentialChangedMessage) => this.credentialsBySeq.set(message.seq, message.hash));
    client.on('notification', (message: ChangeMessage) => this.onChange(message));
    client.on('reset', (message: HistoryLogExpiredMessage) => this.onExpired(message));
    client.on('connected', ({ restored }: { restored: boolean }) => {
      logger.info({ master: client.server?.serverName, restored, appliedSeq: this.source.appliedSeq() }, 'connected to the master');
      this.lostAt = undefined;
      this.input({ kind: 'connected' });
      this.emit('connected');
    });
    client.on('disconnected', (reason: { message?: string }) => {
      logger.warn({ reason: reason.message }, 'lost the master; serving from the cache');
      this.lostAt ??= systemClock.now();
      this.input({ kind: 'disconnected' });
      this.emit('disconnected');
    });
    client.on('error', (error: unknown) => {
      if (error instanceof CfgError && error.code === ErrorCode.SEQ_GAP) {
        logger.error({ event: 'PROXY-005', err: describe(error), appliedSeq: this.source.appliedSeq() }, 'the master link lost or repeated changes: dropped, catching up from the last change received');
      } else logger.warn({ err: describe(error) }, 'master link error');
    });
  }

  private input(input: FollowInput): void {
    const { state, effects } = stepFollow(this.machine, input);
    this.machine = state;
    for (const effect of effects) this.perform(effect);
  }

  private perform(effect: FollowEffect): void {
    switch (effect.kind) {
      case 'schedule-load':
        this.reloadTimer = systemClock.setTimeout(() => {
          this.reloadTimer = null;
          this.input({ kind: 'load-due' });
        }, effect.delayMs, true);
        return;
      case 'unsubscribe':
        // What the stream still brings until the master has it is dropped (see accept): the next snapshot covers it.
        this.client?.unsubscribe({}).catch((error: unknown) => this.options.logger.debug({ err: describe(error) }, 'unsubscribe before a reload did not complete (the reconnect registers without it)'));
        return;
      case 'drop-backlog':
        this.backlog = [];
        this.backlogStart = 0;
        this.resumeIfPaused();
        return;
      case 'ask-gate':
        return this.input({ kind: 'gate', allows: this.reloadGate?.() ?? true });
      case 'defer':
        this.options.logger.info({ event: 'HA-011', appliedSeq: this.source.appliedSeq() }, 'reload deferred: the backup reloads first (protected mode)');
        this.emit('reload-deferred');
        return;
      case 'load':
        void this.load();
        return;
      case 'subscribe-after': {
        const client = this.client;
        if (!client) return;
        // Follow on from the snapshot; a reconnect meanwhile restores the same subscription from the same position.
        client.subscribeAfter({}, effect.seq, this.source.lineage(), this.source.chain()).catch((error: unknown) => {
          if (error instanceof CfgError && (error.code === ErrorCode.CONNECTION_LOST || error.code === ErrorCode.CLIENT_CLOSED)) return;
          this.options.logger.error({ err: describe(error), seq: effect.seq }, 'the master refused to follow on from the snapshot; reloading');
          this.input({ kind: 'apply-failed' });
        });
        return;
      }
    }
  }

  /** The seq of the last change received from the master, applied or dropped. */
  receivedSeq = 0;

  private onChange(message: ChangeMessage): void {
    this.receivedSeq = message.seq;
    this.options.observeStage?.('received', message.at);
    const credential = this.credentialsBySeq.get(message.seq);
    if (credential !== undefined) this.credentialsBySeq.delete(message.seq);
    // Not following: a snapshot is coming (or deferred), and it covers this change.
    if (this.machine.phase !== 'following') return;
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
    while (this.backlogStart < this.backlog.length && applied < limit && this.machine.phase === 'following') {
      const { message, credential } = this.backlog[this.backlogStart++];
      applied += 1;
      try {
        this.source.applyChange(message, credential);
        this.options.observeStage?.('applied', message.at);
      } catch (error) {
        // The cache no longer matches the master: stop applying and reload it.
        this.options.logger.error({ err: error, seq: message.seq }, 'could not apply a change; reloading');
        this.input({ kind: 'apply-failed' });
      }
    }
    if (this.backlogStart >= this.backlog.length || this.machine.phase !== 'following') {
      this.backlog = [];
      this.backlogStart = 0;
    } else {
      this.applyScheduled = true;
      setImmediate(() => this.applySlice());
    }
    this.resumeIfPaused();
  }

  private resumeIfPaused(): void {
    if (this.paused && this.backlog.length - this.backlogStart <= BACKLOG_RESUME) {
      this.paused = false;
      this.client?.resumeReading();
    }
  }

  /** The master's history no longer reaches our appliedSeq: go on serving, reload in the background. */
  private onExpired(message: HistoryLogExpiredMessage): void {
    const delayMs = Math.round(Math.random() * this.options.delayReloadMs);
    this.options.logger.warn({ appliedSeq: this.source.appliedSeq(), oldestSeq: message.oldestSeq, reloadInMs: delayMs }, 'master history expired; reloading');
    this.input({ kind: 'expired', delayMs });
  }

  /** Protected mode (`--config-reload-delay-if-primary`): reloads (not the first load) ask first. */
  setReloadGate(gate: () => boolean): void {
    this.reloadGate = gate;
  }

  get hasDeferredReload(): boolean {
    return this.machine.phase === 'deferred';
  }

  /** The deferred reload starts: the gate allows it now, or (`force`) protected mode ended without it. */
  releaseDeferredReload(force = false): void {
    this.input({ kind: 'release', force });
  }

  private async load(): Promise<void> {
    const client = this.client;
    if (!client) return this.input({ kind: 'load-failed', retryInMs: backoffDelayMs(2) });
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
      this.options.logger.info({ objects: store.size, received, seq: end.seq, appliedSeq: this.source.appliedSeq(), ms: progress.finish(), notified, scope: this.options.scope.toString() }, first ? 'configuration loaded' : 'configuration reloaded');
      this.input({ kind: 'loaded', seq: end.seq });
      if (first) this.resolveFirstLoad();
      this.emit('loaded', { first, seq: end.seq, notified, rebased });
    } catch (error) {
      progress.finish();
      if (first) store.clear();
      this.options.logger.warn({ err: describe(error) }, 'snapshot load failed; retrying');
      // Lost the master mid-load: the 'connected' input schedules it again; otherwise it is retried soon.
      this.input({ kind: 'load-failed', retryInMs: backoffDelayMs(2) });
    }
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
    if (!this.client || !this.reachedMaster) throw new CfgError(ErrorCode.MASTER_UNAVAILABLE, 'the proxy has not reached a master yet');
    return this.client;
  }

  async stop(): Promise<void> {
    this.input({ kind: 'stop' });
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
