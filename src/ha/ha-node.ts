import { EventEmitter } from 'node:events';
import { ErrorCode, HaKind, type HaRole, type JournalPosition, type JournalRecord, type Lineage } from '../../protocol/index.js';
import type { HistoryLog, SessionRecord } from '../history/history-log.js';
import { every, systemClock, type Clock } from '../util/clock.js';
import { DEFAULT_GIVE_UP_AFTER, GaveUp, PermanentRefusals } from '../util/give-up.js';
import { SummedLog } from './handshake-throttle.js';
import type { Logger } from '../util/logger.js';
import { DEFAULT_PROTECTED_MODE_TIMEOUT_MS, DEFAULT_READY_AFTER_MS, type HaOptions } from './ha-options.js';
import { HaServer, type PairIdentity } from './ha-server.js';
import { JournalCheck } from './journal-check.js';
import { JournalWriter, type JournaledSession } from './journal-writer.js';
import { Journal } from './journal.js';
import { dialPair } from './pair-dialer.js';
import { probe } from './probe.js';
import { describeProtectedMode, initialPairState, readiness, step, type MemberFacts, type PairEffect, type PairEvent, type PairInput, type PairState, type PeerStatus, type Readiness } from './pair-machine.js';
import { PairLink, type JournalTraffic, type PairLinkHost } from './pair-link.js';
import type { PairRole, Replica, ReplicaUpstream } from './replica.js';
import { SessionMirror } from './session-mirror.js';

/**
 * A backup that lost its master within this long is taken to be reconnecting, so it can still
 * reload: when a whole pair lost the master, the primary may reconnect a moment before its backup.
 */
const RELOAD_REACH_MS = 10_000;

/**
 * How long a switchover waits for the peer to take over: meanwhile neither member takes new
 * sessions, so it is short; a ready backup takes over in milliseconds.
 */
const SWITCHOVER_TIMEOUT_MS = 1_000;

interface HaNodeDeps {
  history: HistoryLog;
  masters: string[];
  clientEndpoint(): string;
  sessions(): Iterable<JournaledSession>;
  disconnectClients(error: { code: typeof ErrorCode.BACKUP_MODE; message: string }): void;
  logger: Logger;
  /** Time for probes, readiness and protected mode's deadline; tests inject their own. */
  clock?: Clock;
  /** Consecutive permanent refusals of the peer (wrong secret, version) before giving up (0: never). */
  giveUpAfter?: number;
}

/** What a peer says that dialing again with the same secret cannot change. */
const PERMANENT_REFUSALS: ReadonlySet<string> = new Set([ErrorCode.HA_AUTH_FAILED, ErrorCode.UNSUPPORTED_VERSION]);

type Outcome = { ok: boolean; message: string };

/**
 * One proxy's part in a warm-standby pair: the driver of the pure pair machine
 * (`pair-machine.ts`). It feeds the machine every heartbeat, handshake, message and outcome, and
 * carries out the effects the machine returns: persisting the term, dialing, probing, sending on
 * the HA link, starting and stopping the journal stream, refusing and releasing clients. It
 * decides nothing itself. It also carries the journal data: the session journal it writes while
 * primary and the mirror it keeps while backup.
 * Events: `role-event` (every logged PairEvent), `records`, `probe`, `refused`, `gave-up`.
 */
export class HaNode extends EventEmitter implements PairRole, PairLinkHost {
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
  private machine: PairState;
  /** Inputs that arrive while effects are carried out wait their turn, so each step sees the one before it whole. */
  private readonly queued: PairInput[] = [];
  private stepping = false;
  private link: PairLink | null = null;
  private readonly stopTimers: Array<() => void> = [];
  private stopApplied: (() => void) | null = null;
  private source: Replica | undefined;
  private upstream: ReplicaUpstream | undefined;
  private stopped = false;
  private nextRequest = 1;
  /** Switchover requests waiting for the machine's answer, by id. */
  private readonly answers = new Map<number, (outcome: Outcome) => void>();
  /** Clients held while a vanished primary is probed (awaitPromotion). */
  private held: Array<() => void> = [];
  private readonly journalCheck = new JournalCheck((seq, why) => {
    this.journalDisagreements += 1;
    this.deps.logger.warn({ event: 'HA-018', seq }, `journal change refused: ${why}`);
  });
  /** Change records of the primary that disagreed with this member's master stream. */
  journalDisagreements = 0;
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
    this.setMaxListeners(0);
    this.machine = initialPairState(
      {
        configured: options.role,
        failuresToSwitch: options.failuresToSwitch,
        heartbeatMs: options.heartbeatIntervalMs,
        readyAfterMs: options.readyAfterMs ?? DEFAULT_READY_AFTER_MS,
        acceptClientsInBackupMode: options.acceptClientsInBackupMode,
        autoRestorePrimary: options.autoRestorePrimary === true,
        protectedModeTimeoutMs: options.configReloadDelayIfPrimary ? (options.protectedModeTimeoutMs ?? DEFAULT_PROTECTED_MODE_TIMEOUT_MS) : undefined,
        silentLinkMs: options.addpTimeoutMs,
        dials: options.peer !== undefined,
      },
      deps.history.pairTerm(),
      this.clock.now(),
    );
    this.mirror = new SessionMirror(deps.history);
    this.journal = new Journal(options.journalCapacity);
    this.writer = new JournalWriter(this.journal, deps.sessions, () => this.machine.role === 'primary');
    this.settings = { chunkSize: options.chunkSize, chunkTimeoutMs: options.chunkTimeoutMs, maxSessionsSyncAtOnce: options.maxSessionsSyncAtOnce, addpTimeoutMs: options.addpTimeoutMs };
    this.identity = { pairName: options.pairName, masters: deps.masters, secret: options.secret };
    if (options.haPort !== undefined) {
      this.server = new HaServer({ host: options.haHost ?? '127.0.0.1', port: options.haPort, tls: options.haTls, identity: this.identity, lineage: () => this.lineage(), logger: deps.logger }, (connection, hello, proof) => {
        const live = this.link?.isOpen ? this.link : undefined;
        const refusal = this.input({ kind: 'link-offered', liveLinkSilentMs: live?.silentForMs() }).find((e) => e.kind === 'refuse-link');
        if (refusal) return { code: ErrorCode.HA_MISMATCH, message: refusal.message };
        // The listener settles the roles first, so its Welcome tells the dialer the role it holds now.
        this.link = new PairLink(connection, this, hello.received, hello.clientEndpoint);
        this.welcome = () => {
          const own = this.lineage();
          connection.send({ kind: HaKind.Welcome, version: 1, proof, role: this.machine.role, term: this.machine.term, clientEndpoint: this.deps.clientEndpoint(), ...(this.received ? { received: this.received } : {}), ...(own ? { lineage: own } : {}) });
        };
        this.linked('listener', hello.role, hello.term ?? 0, hello.clientEndpoint);
        return undefined;
      });
    }
  }

  /** The listener's Welcome, sent by the handshake's step (after the term is persisted, before the journal starts). */
  private welcome: (() => void) | undefined;

  /** The machine's state now (read-only: only steps change it). */
  get state(): PairState {
    return this.machine;
  }

  get term(): number {
    return this.machine.term;
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
    return this.machine.role === 'primary' ? this.deps.clientEndpoint() : this.machine.peerClientEndpoint;
  }

  /**
   * While the link is down and the backup probes a vanished primary, a client that arrives is held
   * until the promotion (or until the detection window passed), so a failover costs it one
   * connection, not a storm of refused retries. The machine says when.
   */
  awaitPromotion(): Promise<void> {
    return new Promise((resolve) => {
      this.held.push(resolve);
      this.input({ kind: 'client-waiting' });
    });
  }

  async start(source: Replica, upstream: ReplicaUpstream): Promise<void> {
    this.source = source;
    this.upstream = upstream;
    if (this.options.configReloadDelayIfPrimary) {
      upstream.setReloadGate(() => {
        const answer = this.input({ kind: 'reload-asked' }).find((e) => e.kind === 'answer-reload');
        return answer?.allowed !== false;
      });
      upstream.on('loaded', ({ first, seq }) => {
        if (!first) this.input({ kind: 'reloaded', seq });
      });
    }
    // Seqs of another lineage mean other changes: the pair links again, and the handshake checks both lineages.
    source.onRebased(() => this.link?.close('this member now follows another database lineage'));
    await this.server?.start();
    this.stopApplied = source.onApplied((change, credential) => {
      if (this.machine.role === 'primary') this.journal.append({ k: 'change', change, ...(credential !== undefined ? { credential } : {}) });
      else this.journalCheck.ownApplied(change);
    });
    this.stopTimers.push(
      every(this.clock, this.options.chunkTimeoutMs, () => this.writer.writePositions()),
      every(this.clock, this.options.heartbeatIntervalMs, () => this.input({ kind: 'tick', facts: this.facts() })),
    );
    this.deps.logger.info({ event: 'HA-000', role: this.machine.role, configured: this.options.role, pair: this.options.pairName, haPort: this.server?.port, peer: this.options.peer }, 'pair member started');
    this.input({ kind: 'tick', facts: this.facts() });
  }

  /** This member as the machine needs to know it now. */
  private facts(): MemberFacts {
    return {
      loaded: this.source?.isLoaded === true,
      appliedSeq: this.source?.appliedSeq() ?? 0,
      journalRecord: this.journal.lastRecord,
      ackedUpTo: this.traffic.ackedUpTo,
      canReload: this.upstream !== undefined && this.upstream.disconnectedForMs() < RELOAD_REACH_MS,
    };
  }

  private lineage(): Lineage | undefined {
    return this.source?.isLoaded ? this.source.lineage() : undefined;
  }

  /** One step of the machine; its effects are carried out in order. Returns the step's effects (none when queued behind another step). */
  private input(input: PairInput): PairEffect[] {
    if (this.stepping) {
      this.queued.push(input);
      return [];
    }
    this.stepping = true;
    try {
      const { state, effects } = step(this.machine, input, this.clock.now());
      this.machine = state;
      for (const effect of effects) this.perform(effect);
      for (let next = this.queued.shift(); next; next = this.queued.shift()) {
        const later = step(this.machine, next, this.clock.now());
        this.machine = later.state;
        for (const effect of later.effects) this.perform(effect);
      }
      return effects;
    } finally {
      this.stepping = false;
    }
  }

  private perform(effect: PairEffect): void {
    switch (effect.kind) {
      case 'persist-term':
        // Before anything acts on the new role [PROTO-HA-12].
        this.deps.history.savePairTerm(effect.term);
        return;
      case 'log':
        return this.report(effect.level, effect.event);
      case 'dial':
        if (!this.stopped) void this.dialPeer();
        return;
      case 'probe':
        void this.probe(effect.target).then((answered) => {
          if (this.stopped) return;
          if (effect.target === 'primary' && this.machine.role === 'backup' && !this.machine.linkUp) this.emit('probe', answered);
          this.input({ kind: 'probed', target: effect.target, answered });
        });
        return;
      case 'send-status':
        this.link?.sendStatus(effect.status);
        return;
      case 'notify-peer':
        this.link?.notify(effect.what);
        return;
      case 'send-welcome':
        this.welcome?.();
        this.welcome = undefined;
        return;
      case 'start-journal':
        this.link?.startSending();
        return;
      case 'stop-journal':
        this.link?.stopSending();
        return;
      case 'request-take-over': {
        const link = this.link;
        if (!link) return void this.queued.push({ kind: 'take-over-answered', outcome: 'refused', message: 'the HA link is down' });
        void link.requestSwitchover(this.source?.appliedSeq() ?? 0, SWITCHOVER_TIMEOUT_MS).then(({ outcome, message }) => this.input({ kind: 'take-over-answered', outcome, message }));
        return;
      }
      case 'wait-for-seq':
        void (this.source?.waitForSeq(effect.seq, SWITCHOVER_TIMEOUT_MS / 2) ?? Promise.resolve(false)).then((ok) => this.input({ kind: 'caught-up', ok }));
        return;
      case 'reply-take-over':
        this.link?.replyTakeOver({ ok: effect.ok, message: effect.message });
        return;
      case 'answer-switchover': {
        const answer = this.answers.get(effect.id);
        this.answers.delete(effect.id);
        answer?.({ ok: effect.ok, message: effect.message });
        return;
      }
      case 'disconnect-clients':
        this.deps.disconnectClients({ code: ErrorCode.BACKUP_MODE, message: effect.message });
        return;
      case 'release-held-clients': {
        const held = this.held;
        this.held = [];
        for (const release of held) release();
        return;
      }
      case 'release-reload':
        this.upstream?.releaseDeferredReload(effect.force);
        return;
      case 'close-link': {
        const link = this.link;
        this.link = null;
        link?.close(effect.reason);
        return;
      }
      case 'answer-reload':
      case 'refuse-link':
        return; // read off the step's effects by the caller that asked
    }
  }

  private report(level: 'info' | 'warn', event: PairEvent): void {
    const { id, what, ...fields } = event;
    this.deps.logger[level]({ event: id, role: this.machine.role, term: this.machine.term, ...fields }, what);
    this.emit('role-event', event);
  }

  /** The primary's client port once a handshake told us where it is; before that only its HA port is known, and an open HA port (even one that refuses us) is a live primary. */
  private probe(target: 'primary' | 'backup'): Promise<boolean> {
    const timeoutMs = this.options.heartbeatIntervalMs;
    const endpoint = this.machine.peerClientEndpoint;
    if (endpoint) return probe(endpoint, timeoutMs, 'answer', this.clock);
    if (target === 'primary' && this.options.peer) return probe(this.options.peer, timeoutMs, 'connect', this.clock);
    return Promise.resolve(false);
  }

  private async dialPeer(): Promise<void> {
    const outcome = await dialPair({
      peer: this.options.peer!,
      tls: this.options.peerTls,
      connectTimeoutMs: this.options.heartbeatIntervalMs,
      welcomeTimeoutMs: Math.max(2_000, this.options.addpTimeoutMs),
      pairName: this.identity.pairName,
      masters: this.identity.masters,
      secret: this.options.secret,
      hello: () => ({ role: this.machine.role, term: this.machine.term, clientEndpoint: this.deps.clientEndpoint(), received: this.received, lineage: this.lineage() }),
      lineage: () => this.lineage(),
      onLinked: (connection, welcome) => {
        if (this.stopped) {
          connection.destroy({ message: 'stopping', local: true });
          return;
        }
        this.link = new PairLink(connection, this, welcome.received, welcome.clientEndpoint);
        this.linked('dialer', welcome.role, welcome.term ?? 0, welcome.clientEndpoint);
      },
    });
    this.input({ kind: 'dial-ended' });
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

  /** The handshake is done, on either side: the machine settles the roles; the Welcome (listener) and the journal follow. */
  private linked(side: 'listener' | 'dialer', peerRole: HaRole, peerTerm: number, peerClientEndpoint: string): void {
    this.deps.logger.info({ peerRole, peerTerm, peer: peerClientEndpoint, role: this.machine.role, term: this.machine.term }, 'HA link up');
    this.input({ kind: 'linked', side, peerRole, peerTerm, peerClientEndpoint });
  }

  onLinkClosed(link: PairLink, reason: string): void {
    if (this.link !== link) return;
    this.link = null;
    this.deps.logger.warn({ reason }, 'HA link closed');
    this.input({ kind: 'unlinked', reason });
  }

  onPeerStatus(status: PeerStatus): void {
    this.input({ kind: 'peer-status', status });
  }

  /** Whether a switchover would go well now, and if not why [PROTO-HA-11]. */
  readiness(): Readiness {
    return readiness({ ...this.machine, now: this.clock.now(), facts: this.facts(), linkUp: this.linkUp });
  }

  onPeerRequest(request: 'take-back' | 'backup-reloaded'): void {
    this.input(request === 'take-back' ? { kind: 'peer-asks-back' } : { kind: 'peer-reloaded' });
  }

  onTakeOverAsked(seq: number): void {
    this.input({ kind: 'take-over-asked', seq });
  }

  /** Every client session now, as journal 'open' entries. */
  sessionsSnapshot(): Array<Extract<JournalRecord, { k: 'open' }>> {
    return this.writer.snapshot();
  }

  /** Session events go to the journal while this proxy is the primary. */
  sessionObserver(): JournalWriter {
    return this.writer;
  }

  onRecords(records: JournalRecord[]): void {
    let newest = 0;
    for (const record of records) {
      if (record.k !== 'change') {
        this.mirror.apply(record);
        continue;
      }
      // Verified against this member's own master stream, never applied from the primary's word.
      newest = Math.max(newest, record.change.seq);
      this.journalCheck.forwardedChange(record.change);
    }
    if (newest > 0) this.input({ kind: 'journal-change', seq: newest });
    this.emit('records', records.length);
  }

  /**
   * The manual switchover [PROTO-HA-6], on the primary: stop taking requests, flush the journal,
   * let the backup take over once it has every change we applied, then send our clients to it.
   * One request, one decision [PROTO-HA-14]: the machine refuses it with the reason or carries it
   * out; with `waitReadyMs`, the heartbeat or backup Status that makes the pair ready starts it.
   */
  switchover(options: { force?: boolean; waitReadyMs?: number } = {}): Promise<Outcome> {
    if (this.stopped) return Promise.resolve({ ok: false, message: 'this member is stopping' });
    const id = this.nextRequest++;
    return new Promise((resolve) => {
      this.answers.set(id, resolve);
      this.input({ kind: 'switchover', id, force: options.force === true, waitReadyMs: options.waitReadyMs ?? 0, facts: this.facts() });
    });
  }

  /** The pair's state for /ha and `cfgproxy status`. */
  status(): Record<string, unknown> {
    const role = this.machine.role;
    const lag = role === 'primary' && this.linkUp ? this.journal.lastRecord - this.traffic.ackedUpTo : 0;
    const ready = this.readiness();
    return {
      role,
      term: this.machine.term,
      configuredRole: this.options.role,
      pairName: this.options.pairName,
      link: this.linkUp ? 'up' : 'down',
      // Where the other member takes clients (learned at the handshake), and its HA port when this member dials it.
      peer: this.machine.peerClientEndpoint ?? null,
      peerHaPort: this.options.peer ?? null,
      primaryEndpoint: this.primaryEndpoint() ?? null,
      journal: { lastRecord: this.journal.lastRecord, lag, ...this.traffic, mirroredSessions: this.mirroredSessions.size },
      readyForSwitchover: ready.ready ? 1 : 0,
      notReadyBecause: ready.reason ?? null,
      readyForUpgrade: role === 'backup' ? 1 : 0,
      protectedMode: describeProtectedMode(this.machine),
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
    this.input({ kind: 'stop' });
    this.stopped = true;
    for (const answer of this.answers.values()) answer({ ok: false, message: 'this member is stopping' });
    this.answers.clear();
    for (const stop of this.stopTimers.splice(0)) stop();
    this.stopApplied?.();
    this.link?.close('stopping');
    await this.server?.stop();
  }
}
