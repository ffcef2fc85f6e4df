import { EventEmitter } from 'node:events';
import { ErrorCode, HaKind, type HaRole, type JournalPosition, type JournalRecord, type Lineage } from '../../protocol/index.js';
import type { HistoryLog, SessionRecord } from '../history/history-log.js';
import { systemClock, type Clock } from '../net/clock.js';
import { DEFAULT_GIVE_UP_AFTER, GaveUp, PermanentRefusals } from '../util/give-up.js';
import { SummedLog } from './handshake-throttle.js';
import type { TlsFiles } from '../net/tls-options.js';
import type { SessionObserver } from '../service/config-service.js';
import type { ClientSession } from '../service/session.js';
import type { Logger } from '../util/logger.js';
import { AutoRestore } from './auto-restore.js';
import { HaServer, type PairIdentity } from './ha-server.js';
import { JournalCheck } from './journal-check.js';
import { JournalWriter } from './journal-writer.js';
import { Journal } from './journal.js';
import { dialPair } from './pair-dialer.js';
import { probe } from './probe.js';
import { ProtectedMode } from './protected-mode.js';
import { ReadinessTracker, type PeerStatus, type Readiness } from './readiness.js';
import { PairLink, type JournalTraffic, type PairLinkHost } from './pair-link.js';
import type { PairRole, Replica, ReplicaUpstream } from './replica.js';
import { RoleMachine, type RoleEvent } from './role-machine.js';
import { SessionMirror } from './session-mirror.js';

export interface HaOptions {
  /** The role this proxy is configured for; the role it holds can change. */
  role: HaRole;
  pairName: string;
  /** Shared secret both proxies present on the HA link. */
  secret: string;
  /** This member's HA sync port (the configured primary has one; the backup connects to it). */
  haPort?: number;
  haHost?: string;
  haTls?: TlsFiles;
  /** The peer's HA port, `host:port` or `tls://host:port` (the configured backup dials it). */
  peer?: string;
  peerTls?: TlsFiles;
  addpTimeoutMs: number;
  heartbeatIntervalMs: number;
  failuresToSwitch: number;
  acceptClientsInBackupMode: boolean;
  /** `--auto-restore-primary`: the configured primary takes the role back once healthy for failuresToSwitch heartbeats. */
  autoRestorePrimary?: boolean;
  /** `--config-reload-delay-if-primary` (protected mode): on history-expired the backup reloads first, then the pair switches over. */
  configReloadDelayIfPrimary?: boolean;
  /** Protected mode's deadline: past it (or with the link down) the primary reloads itself. */
  protectedModeTimeoutMs?: number;
  /** A pair is ready for a switchover only after its link has been up this long (`--ready-after`, default 60 s). */
  readyAfterMs?: number;
  chunkSize: number;
  chunkTimeoutMs: number;
  maxSessionsSyncAtOnce: number;
  journalCapacity: number;
}

export const HA_DEFAULTS = {
  pairName: 'cfgproxy',
  addpTimeoutMs: 10_000,
  heartbeatIntervalMs: 1_000,
  failuresToSwitch: 3,
  chunkSize: 500,
  chunkTimeoutMs: 100,
  maxSessionsSyncAtOnce: 1_000,
  journalCapacity: 100_000,
} as const;

/**
 * A backup that lost its master within this long is taken to be reconnecting, so it can still
 * reload: when a whole pair lost the master, the primary may reconnect a moment before its backup.
 */
const RELOAD_REACH_MS = 10_000;

/** The default of `--ready-after`. */
export const DEFAULT_READY_AFTER_MS = 60_000;

/** The default of `--protected-mode-timeout`. */
export const DEFAULT_PROTECTED_MODE_TIMEOUT_MS = 120_000;

/**
 * How long a switchover waits for the peer to take over: meanwhile neither member takes new
 * sessions, so it is short; a ready backup takes over in milliseconds.
 */
const SWITCHOVER_TIMEOUT_MS = 1_000;

interface HaNodeDeps {
  history: HistoryLog;
  masters: string[];
  clientEndpoint(): string;
  sessions(): Iterable<ClientSession>;
  disconnectClients(error: { code: typeof ErrorCode.BACKUP_MODE; message: string }): void;
  logger: Logger;
  /** Time for probes, readiness and protected mode's deadline; tests inject their own. */
  clock?: Clock;
  /** Consecutive permanent refusals of the peer (wrong secret, version) before giving up (0: never). */
  giveUpAfter?: number;
}

/** What a peer says that dialing again with the same secret cannot change. */
const PERMANENT_REFUSALS: ReadonlySet<string> = new Set([ErrorCode.HA_AUTH_FAILED, ErrorCode.UNSUPPORTED_VERSION]);

/**
 * One proxy's part in a warm-standby pair: its role (the pure RoleMachine), the session journal
 * it writes while primary, and the HA link (dialed by the configured backup, accepted on the
 * configured primary's HA port) over which the primary streams the journal and the backup stores
 * it. While the link is down the backup probes the primary's client port every heartbeat.
 * Events: `role-event`, `records`, `probe`, `refused`.
 */
export class HaNode extends EventEmitter implements PairRole, PairLinkHost {
  readonly machine: RoleMachine;
  readonly journal: Journal;
  readonly traffic: JournalTraffic = { recordsSent: 0, bytesSent: 0, recordsReceived: 0, bytesReceived: 0, snapshots: 0, ackedUpTo: 0 };
  readonly settings: PairLinkHost['settings'];
  readonly server: HaServer | undefined;
  private readonly mirror: SessionMirror;
  private readonly writer: JournalWriter;
  received: JournalPosition | undefined;
  /** A --peer that does not speak the HA protocol: said once a minute, not on every heartbeat. */
  private lastMisdial = '';
  private readonly misdialed = new SummedLog((count) => this.deps.logger.error({ event: 'HA-022', attempts: count, peer: this.options.peer }, this.lastMisdial), 60_000);
  /** Where the peer takes clients, learned at the handshake. */
  peerClientEndpoint: string | undefined;
  private link: PairLink | null = null;
  private dialing = false;
  private heartbeat: NodeJS.Timeout | null = null;
  private positionTimer: NodeJS.Timeout | null = null;
  private stopApplied: (() => void) | null = null;
  private source: Replica | undefined;
  private upstream: ReplicaUpstream | undefined;
  private protectedMode: ProtectedMode | undefined;
  private stopped = false;
  /** A switchover request waiting for the pair to be ready (`--wait-ready`). */
  private readyWaiter: { resolve(outcome: Promise<{ ok: boolean; message: string }>): void; timer: unknown } | undefined;
  private readonly autoRestore: AutoRestore;
  /** The term last written to the history log. */
  private savedTerm = -1;
  private readonly journalCheck = new JournalCheck((seq, why) => {
    this.journalDisagreements += 1;
    this.deps.logger.warn({ event: 'HA-018', seq }, `journal change refused: ${why}`);
  });
  /** Change records of the primary that disagreed with this member's master stream. */
  journalDisagreements = 0;
  private readonly readinessTracker: ReadinessTracker;
  private readonly identity: PairIdentity;
  private readonly clock: Clock;
  private readonly refusals: PermanentRefusals;

  constructor(
    private readonly options: HaOptions,
    private readonly deps: HaNodeDeps,
  ) {
    super();
    this.clock = deps.clock ?? systemClock;
    this.refusals = new PermanentRefusals(deps.giveUpAfter ?? DEFAULT_GIVE_UP_AFTER, PERMANENT_REFUSALS);
    this.setMaxListeners(0); // every client held during a failover waits on role events
    this.machine = new RoleMachine(options.role, options.failuresToSwitch, deps.history.pairTerm());
    this.mirror = new SessionMirror(deps.history);
    this.journal = new Journal(options.journalCapacity);
    this.writer = new JournalWriter(this.journal, deps.sessions, () => this.machine.role === 'primary');
    this.settings = { chunkSize: options.chunkSize, chunkTimeoutMs: options.chunkTimeoutMs, maxSessionsSyncAtOnce: options.maxSessionsSyncAtOnce, addpTimeoutMs: options.addpTimeoutMs };
    this.readinessTracker = new ReadinessTracker(options.readyAfterMs ?? DEFAULT_READY_AFTER_MS, this.clock);
    this.autoRestore = new AutoRestore(options.failuresToSwitch);
    this.identity = { pairName: options.pairName, masters: deps.masters, secret: options.secret };
    if (options.haPort !== undefined) {
      const lineage = (): Lineage | undefined => (this.source?.isLoaded ? this.source.lineage() : undefined);
      this.server = new HaServer({ host: options.haHost ?? '127.0.0.1', port: options.haPort, tls: options.haTls, identity: this.identity, lineage, logger: deps.logger }, (connection, hello, proof) => {
        const live = this.link;
        if (live?.isOpen) {
          // Knowing the secret is not enough to take the link from a backup that still answers.
          const silentMs = live.silentForMs();
          if (silentMs < this.options.addpTimeoutMs) {
            return { code: ErrorCode.HA_MISMATCH, message: `a live peer is linked (heard from ${Math.round(silentMs)} ms ago); a new connection replaces it only once it stops answering` };
          }
          this.deps.logger.warn({ event: 'HA-016', silentMs: Math.round(silentMs), from: connection.remoteAddress }, 'HA link replaced: the linked peer went silent and a new connection authenticated');
          live.close('replaced by a new connection of the peer');
        }
        // Roles are settled here first, so the Welcome tells the dialer the role we hold now.
        this.settleRoles(hello.role, hello.term ?? 0, hello.clientEndpoint);
        const own = lineage();
        connection.send({ kind: HaKind.Welcome, version: 1, proof, role: this.machine.role, term: this.machine.term, clientEndpoint: this.deps.clientEndpoint(), ...(this.received ? { received: this.received } : {}), ...(own ? { lineage: own } : {}) });
        this.link = new PairLink(connection, this, hello.received, hello.clientEndpoint);
        return undefined;
      });
    }
  }

  /** The primary's sessions as this member, while backup, knows them. */
  get mirroredSessions(): ReadonlyMap<string, SessionRecord> {
    return this.mirror.sessions;
  }

  get logger(): Logger {
    return this.deps.logger;
  }

  get linkUp(): boolean {
    return this.link?.isOpen === true;
  }

  role(): HaRole {
    return this.machine.role;
  }

  get acceptClientsInBackupMode(): boolean {
    return this.options.acceptClientsInBackupMode;
  }

  primaryEndpoint(): string | undefined {
    return this.machine.role === 'primary' ? this.deps.clientEndpoint() : this.peerClientEndpoint;
  }

  /**
   * While the link is down and the backup probes a vanished primary, a client that arrives is held
   * until the promotion (or until the detection window passed), so a failover costs it one
   * connection, not a storm of refused retries.
   */
  awaitPromotion(): Promise<void> {
    if (this.machine.role !== 'backup' || this.linkUp || this.options.acceptClientsInBackupMode) return Promise.resolve();
    const windowMs = this.options.heartbeatIntervalMs * (this.options.failuresToSwitch + 1);
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.off('role-event', onEvent);
        resolve();
      };
      const onEvent = (event: RoleEvent): void => {
        if (event.id === 'HA-004' || event.id === 'HA-008' || event.id === 'HA-001') done();
      };
      const timer = setTimeout(done, windowMs);
      this.on('role-event', onEvent);
    });
  }

  async start(source: Replica, upstream: ReplicaUpstream): Promise<void> {
    this.source = source;
    this.upstream = upstream;
    if (this.options.configReloadDelayIfPrimary) {
      this.protectedMode = new ProtectedMode(
        upstream,
        {
          isPrimary: () => this.machine.role === 'primary',
          linkUp: () => this.linkUp,
          peerStatus: () => this.readinessTracker.peerStatus,
          peerClientEndpoint: () => this.peerClientEndpoint,
          notifyReloaded: (seq) => this.link?.notify({ reloadedAt: seq }),
          switchover: (options) => this.switchover(options),
          logger: this.deps.logger,
        },
        { timeoutMs: this.options.protectedModeTimeoutMs ?? DEFAULT_PROTECTED_MODE_TIMEOUT_MS, probeTimeoutMs: this.options.heartbeatIntervalMs },
        this.clock,
      );
    }
    // Seqs of another lineage mean other changes: the pair links again, and the handshake checks both lineages.
    source.onRebased(() => this.link?.close('this member now follows another database lineage'));
    await this.server?.start();
    this.stopApplied = source.onApplied((change, credential) => {
      if (this.machine.role === 'primary') this.journal.append({ k: 'change', change, ...(credential !== undefined ? { credential } : {}) });
      else this.journalCheck.ownApplied(change);
    });
    this.positionTimer = setInterval(() => this.writer.writePositions(), this.options.chunkTimeoutMs);
    this.positionTimer.unref();
    this.heartbeat = setInterval(() => void this.beat(), this.options.heartbeatIntervalMs);
    this.heartbeat.unref();
    if (this.options.peer) void this.dialPeer();
    this.deps.logger.info({ event: 'HA-000', role: this.machine.role, configured: this.options.role, pair: this.options.pairName, haPort: this.server?.port, peer: this.options.peer }, 'pair member started');
  }

  /** One heartbeat: redial a lost link (dialing side); probe the primary when the role machine asks. */
  private async beat(): Promise<void> {
    if (this.stopped) return;
    if (!this.link && this.options.peer && !this.dialing) void this.dialPeer();
    this.readinessTracker.beat(this.source?.appliedSeq() ?? 0, this.journal.lastRecord);
    this.startWaitingSwitchover();
    if (this.machine.role === 'backup') {
      this.link?.sendStatus({
        loaded: this.source?.isLoaded === true,
        appliedSeq: this.source?.appliedSeq() ?? 0,
        acceptsClients: this.options.acceptClientsInBackupMode,
        canReload: this.upstream !== undefined && this.upstream.disconnectedForMs() < RELOAD_REACH_MS,
      });
    }
    void this.protectedMode?.checkBackup();
    this.considerTakingBack();
    if (!this.machine.shouldProbe) return;
    // The primary's client port once a handshake told us where it is; before that only its HA
    // port is known, and an open HA port (even one that refuses us) is a live primary.
    const answered = this.peerClientEndpoint
      ? await probe(this.peerClientEndpoint, this.options.heartbeatIntervalMs, 'answer', this.clock)
      : this.options.peer
        ? await probe(this.options.peer, this.options.heartbeatIntervalMs, 'connect', this.clock)
        : false;
    if (this.stopped || !this.machine.shouldProbe) return;
    this.emit('probe', answered);
    this.onRoleEvents(this.machine.onProbe(answered));
  }

  private async dialPeer(): Promise<void> {
    this.dialing = true;
    const outcome = await dialPair({
      peer: this.options.peer!,
      tls: this.options.peerTls,
      connectTimeoutMs: this.options.heartbeatIntervalMs,
      welcomeTimeoutMs: Math.max(2_000, this.options.addpTimeoutMs),
      pairName: this.identity.pairName,
      masters: this.identity.masters,
      secret: this.options.secret,
      hello: () => ({
        role: this.machine.role,
        term: this.machine.term,
        clientEndpoint: this.deps.clientEndpoint(),
        received: this.received,
        lineage: this.source?.isLoaded ? this.source.lineage() : undefined,
      }),
      lineage: () => (this.source?.isLoaded ? this.source.lineage() : undefined),
      onLinked: (connection, welcome) => {
        if (this.stopped) {
          connection.destroy({ message: 'stopping', local: true });
          return;
        }
        this.settleRoles(welcome.role, welcome.term ?? 0, welcome.clientEndpoint);
        this.link = new PairLink(connection, this, welcome.received, welcome.clientEndpoint);
      },
    });
    this.dialing = false;
    if (outcome.kind === 'failed' && outcome.reason) {
      this.lastMisdial = outcome.reason;
      this.misdialed.note();
    }
    if (outcome.kind === 'refused') {
      this.deps.logger.error({ code: outcome.code, reason: outcome.message }, 'HA peer refused');
      this.emit('refused', { code: outcome.code, message: outcome.message });
    }
    if (this.refusals.note(outcome.kind === 'refused' ? outcome.code : undefined)) {
      this.emit('gave-up', new GaveUp(outcome.kind === 'refused' ? outcome.code : '', `the pair peer ${this.options.peer} refused this member ${this.refusals.consecutive} times in a row (${outcome.kind === 'refused' ? `${outcome.code}: ${outcome.message}` : ''}); check --ha-secret (CFGPROXY_HA_SECRET) and that both run the same version`));
    }
  }

  /** The handshake is done: roles are settled (the listener first), then the link streams the right way. */
  private settleRoles(peerRole: HaRole, peerTerm: number, peerClientEndpoint: string): void {
    this.peerClientEndpoint = peerClientEndpoint;
    this.readinessTracker.linked();
    this.deps.logger.info({ peerRole, peerTerm, peer: peerClientEndpoint, role: this.machine.role, term: this.machine.term }, 'HA link up');
    this.onRoleEvents(this.machine.onLinkUp(peerRole, peerTerm));
  }

  onLinkClosed(link: PairLink, reason: string): void {
    if (this.link !== link) return;
    this.link = null;
    this.dialing = false;
    this.deps.logger.warn({ reason }, 'HA link closed');
    this.onRoleEvents(this.machine.onLinkDown());
    this.protectedMode?.onLinkDown();
  }

  /** Auto-restore: a configured primary serving as backup asks for the role back once it has been healthy long enough. */
  private considerTakingBack(): void {
    const healthy = this.options.autoRestorePrimary === true && this.options.role === 'primary' && this.machine.role === 'backup' && this.linkUp && this.source?.isLoaded === true;
    if (!this.autoRestore.beat(healthy)) return;
    this.deps.logger.info({ event: 'HA-012', healthyBeats: this.autoRestore.beats }, 'auto-restore: asking for the primary role back');
    this.link?.notify('take-back');
  }

  onPeerStatus(status: PeerStatus): void {
    this.readinessTracker.onPeerStatus(status);
    this.startWaitingSwitchover();
  }

  /** Whether a switchover would go well now, and if not why [PROTO-HA-11]. */
  readiness(): Readiness {
    return this.readinessTracker.evaluate({
      role: this.machine.role,
      linkUp: this.linkUp,
      loaded: this.source?.isLoaded === true,
      appliedSeq: this.source?.appliedSeq() ?? 0,
      ackedUpTo: this.traffic.ackedUpTo,
    });
  }

  onPeerRequest(request: 'take-back' | 'backup-reloaded'): void {
    if (request === 'take-back') {
      if (this.machine.role === 'primary' && this.options.role === 'backup') void this.switchover();
      return;
    }
    this.protectedMode?.onBackupReloaded();
  }

  /** Every client session now, as journal 'open' entries. */
  sessionsSnapshot(): Array<Extract<JournalRecord, { k: 'open' }>> {
    return this.writer.snapshot();
  }

  /** Session events go to the journal while this proxy is the primary. */
  sessionObserver(): SessionObserver {
    return this.writer;
  }

  onRecords(records: JournalRecord[]): void {
    for (const record of records) {
      if (record.k !== 'change') {
        this.mirror.apply(record);
        continue;
      }
      // Verified against this member's own master stream, never applied from the primary's word.
      this.readinessTracker.onJournalChange(record.change.seq);
      this.journalCheck.forwardedChange(record.change);
    }
    this.emit('records', records.length);
  }

  /**
   * The manual switchover [PROTO-HA-6], on the primary: stop taking requests, flush the journal,
   * let the backup take over once it has every change we applied, then send our clients to it.
   * One request, one decision [PROTO-HA-14]: refused with the reason, or carried out. With
   * `waitReadyMs`, a pair not ready yet is watched for that long: the heartbeat or backup status
   * that makes it ready starts the hand-over in the same step, so "ready, then refused" cannot be.
   */
  async switchover(options: { force?: boolean; waitReadyMs?: number } = {}): Promise<{ ok: boolean; message: string }> {
    const refusal = this.switchoverRefusal(options.force === true);
    if (refusal === undefined) return this.handOver();
    const waitReadyMs = options.waitReadyMs ?? 0;
    if (waitReadyMs <= 0 || this.machine.role !== 'primary') return { ok: false, message: refusal };
    if (this.readyWaiter) return { ok: false, message: 'another switchover is already waiting for the pair to be ready' };
    return new Promise((resolve) => {
      // On the pair's clock, so a test can drive the wait.
      const timer = this.clock.setTimeout(() => {
        this.readyWaiter = undefined;
        resolve({ ok: false, message: `${this.switchoverRefusal(false) ?? 'the pair was not ready'}, after waiting ${waitReadyMs / 1000} s` });
      }, waitReadyMs);
      this.readyWaiter = { resolve, timer };
    });
  }

  /** Why a switchover may not start now, or undefined. */
  private switchoverRefusal(force: boolean): string | undefined {
    if (this.machine.role !== 'primary') return `this member is the backup; ask the primary${this.peerClientEndpoint ? ` (${this.peerClientEndpoint})` : ''}`;
    if (!this.link?.isOpen) return 'the HA link is down: no backup to hand over to';
    const readiness = this.readiness();
    if (!readiness.ready && !force) return `the pair is not ready for a switchover: ${readiness.reason} (force overrides)`;
    return undefined;
  }

  /** After anything readiness depends on changed: a waiting switchover starts now, if it may. */
  private startWaitingSwitchover(): void {
    const waiter = this.readyWaiter;
    if (!waiter || this.switchoverRefusal(false) !== undefined) return;
    this.readyWaiter = undefined;
    this.clock.clearTimeout(waiter.timer);
    waiter.resolve(this.handOver());
  }

  /** The hand-over itself: its first steps (the role given up, the journal stopped) run before this returns its promise. */
  private async handOver(): Promise<{ ok: boolean; message: string }> {
    const link = this.link!;
    this.onRoleEvents(this.machine.handOver());
    link.stopSending();
    const outcome = await link.requestSwitchover(this.source?.appliedSeq() ?? 0, SWITCHOVER_TIMEOUT_MS);
    if (!outcome.ok) {
      this.onRoleEvents(this.machine.handOverFailed(outcome.message));
      if (link.isOpen) link.startSending();
      return outcome;
    }
    this.deps.disconnectClients({ code: ErrorCode.BACKUP_MODE, message: `switchover: the primary is now ${this.peerClientEndpoint}` });
    return { ok: true, message: `the primary is now ${this.peerClientEndpoint}` };
  }

  /** The backup's half of a switchover: take over once every change up to `seq` is applied. */
  async takeOver(seq: number): Promise<{ ok: boolean; message: string }> {
    if (this.machine.role !== 'backup') return { ok: false, message: 'not the backup' };
    if (!(await this.source?.waitForSeq(seq, SWITCHOVER_TIMEOUT_MS / 2))) return { ok: false, message: `did not reach seq ${seq} in time` };
    this.onRoleEvents(this.machine.takeOver());
    this.link?.startSending();
    return { ok: true, message: 'took over' };
  }

  private onRoleEvents(events: RoleEvent[]): void {
    // The term is persisted before anything acts on the new role [PROTO-HA-12].
    if (this.machine.term !== this.savedTerm) {
      this.savedTerm = this.machine.term;
      this.deps.history.savePairTerm(this.machine.term);
    }
    for (const event of events) {
      const { id, what, ...fields } = event;
      this.deps.logger.info({ event: id, role: this.machine.role, ...fields }, what);
      this.emit('role-event', event);
      if (id === 'HA-006' || id === 'HA-010') {
        // Back to backup: clients go to the primary, which restores their sessions.
        this.deps.disconnectClients({ code: ErrorCode.BACKUP_MODE, message: `this proxy stepped down to backup; the primary is at ${this.peerClientEndpoint ?? 'its peer'}` });
      }
    }
  }

  /** The pair's state for /ha and `cfgproxy status`. */
  status(): Record<string, unknown> {
    const role = this.machine.role;
    const lag = role === 'primary' && this.linkUp ? this.journal.lastRecord - this.traffic.ackedUpTo : 0;
    return {
      role,
      term: this.machine.term,
      configuredRole: this.options.role,
      pairName: this.options.pairName,
      link: this.linkUp ? 'up' : 'down',
      // Where the other member takes clients (learned at the handshake), and its HA port when this member dials it.
      peer: this.peerClientEndpoint ?? null,
      peerHaPort: this.options.peer ?? null,
      primaryEndpoint: this.primaryEndpoint() ?? null,
      journal: { lastRecord: this.journal.lastRecord, lag, ...this.traffic, mirroredSessions: this.mirroredSessions.size },
      readyForSwitchover: this.readiness().ready ? 1 : 0,
      notReadyBecause: this.readiness().reason ?? null,
      readyForUpgrade: role === 'backup' ? 1 : 0,
      protectedMode: this.protectedMode?.describe() ?? 'off',
    };
  }

  /** On SIGTERM: a primary with a live backup hands over before it exits. */
  async handOverIfPrimary(): Promise<void> {
    if (this.machine.role === 'primary' && this.linkUp) {
      const outcome = await this.switchover();
      this.deps.logger.info({ ok: outcome.ok, reason: outcome.message }, 'hand-over before exit');
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.readyWaiter) {
      this.clock.clearTimeout(this.readyWaiter.timer);
      this.readyWaiter.resolve(Promise.resolve({ ok: false, message: 'this member is stopping' }));
      this.readyWaiter = undefined;
    }
    this.protectedMode?.stop();
    if (this.heartbeat) clearInterval(this.heartbeat);
    if (this.positionTimer) clearInterval(this.positionTimer);
    this.stopApplied?.();
    this.link?.close('stopping');
    await this.server?.stop();
  }
}
