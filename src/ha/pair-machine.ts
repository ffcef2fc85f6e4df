import type { HaRole, HaStatusMessage } from '../../protocol/index.js';

/**
 * The whole decision logic of one member of a warm-standby pair [ARCH-6] as one pure function,
 * in the shape of etcd raft's `Ready`: `step(state, input, now)` returns the next state and the
 * effects the driver (`HaNode`) must carry out, in order. The driver feeds every tick, message and
 * outcome in and owns no decision and no timer of its own, so any interleaving of crashes,
 * partitions, switchovers and slow probes can be run in memory (test/unit/pair-machine.test.ts).
 *
 * - Roles and terms: the backup promotes itself only when the HA link is down AND
 *   `failuresToSwitch` probes of the primary in a row failed. Every promotion raises the term,
 *   persisted before anything acts on it [PROTO-HA-12]. Linked, the higher term wins, a tie going
 *   to the configured primary; two backups: the configured primary takes the role at a new term.
 * - Switchover [PROTO-HA-6, PROTO-HA-14]: one request is refused with its reason or carried out;
 *   with `waitReadyMs`, the tick or Status that makes the pair ready starts it in the same step.
 * - Readiness [PROTO-HA-11], auto-restore (take-back), protected mode, link replacement, and the
 *   clients held while a vanished primary is being probed.
 */

/** What the backup tells the primary every heartbeat [PROTO-HA-11]. */
export type PeerStatus = Omit<HaStatusMessage, 'kind'>;

export interface PairConfig {
  readonly configured: HaRole;
  readonly failuresToSwitch: number;
  readonly heartbeatMs: number;
  /** `--ready-after`: a pair is ready for a switchover only after its link has been up this long. */
  readonly readyAfterMs: number;
  readonly acceptClientsInBackupMode: boolean;
  readonly autoRestorePrimary: boolean;
  /** Protected mode's deadline (`--protected-mode-timeout`); undefined: protected mode is off. */
  readonly protectedModeTimeoutMs: number | undefined;
  /** A linked peer silent this long (the ADDP timeout) may be replaced by a new authenticated connection. */
  readonly silentLinkMs: number;
  /** This member dials its peer (it was given `--peer`). */
  readonly dials: boolean;
}

/** What the driver reads off its proxy for the machine, at each tick and with a request. */
export interface MemberFacts {
  readonly loaded: boolean;
  readonly appliedSeq: number;
  /** The number of the last record of this member's journal. */
  readonly journalRecord: number;
  /** As primary: the last journal record the backup acknowledged. */
  readonly ackedUpTo: number;
  /** A master is connected, or was lost only moments ago: a reload can start soon. */
  readonly canReload: boolean;
}

/** Who asked for a switchover: it decides who hears the outcome. */
export type SwitchoverOrigin = { readonly by: 'request'; readonly id: number } | { readonly by: 'take-back' } | { readonly by: 'protected-mode' };

export type SwitchoverPhase =
  | { readonly phase: 'waiting-ready'; readonly id: number; readonly deadline: number; readonly waitMs: number }
  /** The primary gave up its role and asked the backup to take over. */
  | { readonly phase: 'handing-over'; readonly origin: SwitchoverOrigin }
  /** The backup, asked to take over, waits until it applied the primary's last seq. */
  | { readonly phase: 'catching-up'; readonly seq: number };

export interface ProtectedModeState {
  /** The master's history expired and this primary serves its cache instead of reloading. */
  readonly deferred: boolean;
  readonly deadline: number | undefined;
  /** The backup said it reloaded. */
  readonly peerReloaded: boolean;
  /** The backup's client port answered the last probe. */
  readonly backupAnswers: boolean;
  /** HA-019 is said when the reason changes, not at every reload asked. */
  readonly lastRefusal: string | undefined;
}

export interface PairState {
  readonly config: PairConfig;
  readonly now: number;
  readonly role: HaRole;
  readonly term: number;
  readonly linkUp: boolean;
  readonly linkUpAt: number;
  /** Linked to the peer at least once since start (a restarted configured primary has not). */
  readonly everLinked: boolean;
  /** Where the peer takes clients, learned at the handshake. */
  readonly peerClientEndpoint: string | undefined;
  readonly dialing: boolean;
  /** A probe is out: a slow one is not doubled by the next heartbeat. */
  readonly probing: { readonly primary: boolean; readonly backup: boolean };
  /** Failed probes of the primary in a row, while the link is down. */
  readonly failures: number;
  /** HA-005 is said once per outage of the link. */
  readonly saidPrimaryAnswers: boolean;
  readonly facts: MemberFacts;
  /** The backup's last Status, as the primary heard it on this link. */
  readonly peer: PeerStatus | undefined;
  /** This member at the last two heartbeats: the backup's Status is compared with the older. */
  readonly beats: { readonly previous: Beat; readonly current: Beat };
  /** As backup: the seq of the newest change the primary's journal carried. */
  readonly journalChangeSeq: number;
  readonly switchover: SwitchoverPhase | undefined;
  /** Auto-restore: healthy heartbeats in a row as a configured primary serving as backup. */
  readonly healthyBeats: number;
  readonly askedBack: boolean;
  readonly protectedMode: ProtectedModeState;
  /** Clients that arrived while a vanished primary is probed are held until a promotion, a link, or this time. */
  readonly holdClientsUntil: number | undefined;
}

interface Beat {
  readonly appliedSeq: number;
  readonly journalRecord: number;
}

export type TakeOverOutcome = 'done' | 'refused' | 'no-answer';

export type PairInput =
  /** A heartbeat, with this member's facts now. */
  | { kind: 'tick'; facts: MemberFacts }
  /** A handshake completed: the listener steps this before its Welcome (an effect), the dialer on the Welcome. */
  | { kind: 'linked'; side: 'listener' | 'dialer'; peerRole: HaRole; peerTerm: number; peerClientEndpoint: string }
  | { kind: 'unlinked'; reason: string }
  /** An authenticated connection of the peer arrives; `liveLinkSilentMs` when a link is up. */
  | { kind: 'link-offered'; liveLinkSilentMs: number | undefined }
  | { kind: 'dial-ended' }
  | { kind: 'probed'; target: 'primary' | 'backup'; answered: boolean }
  | { kind: 'peer-status'; status: PeerStatus }
  | { kind: 'journal-change'; seq: number }
  | { kind: 'switchover'; id: number; force: boolean; waitReadyMs: number; facts: MemberFacts }
  /** As primary handing over: the backup's answer, or none in time. */
  | { kind: 'take-over-answered'; outcome: TakeOverOutcome; message: string }
  /** As backup: the primary asks us to take over once `seq` is applied. */
  | { kind: 'take-over-asked'; seq: number }
  | { kind: 'caught-up'; ok: boolean }
  | { kind: 'peer-asks-back' }
  /** Protected mode: the master's history expired; may this member reload now? */
  | { kind: 'reload-asked' }
  /** A reload (not the first load) finished at `seq`. */
  | { kind: 'reloaded'; seq: number }
  | { kind: 'peer-reloaded' }
  /** A client arrived while this member is backup. */
  | { kind: 'client-waiting' }
  | { kind: 'stop' };

/** Log events with stable ids [PROTO-HA]; the driver logs and emits them. */
export type PairEvent =
  | { id: 'HA-001'; what: 'link up'; peerRole: HaRole }
  | { id: 'HA-002'; what: 'link down'; reason: string }
  | { id: 'HA-003'; what: 'primary unreachable'; failures: number; failuresToSwitch: number }
  | { id: 'HA-004'; what: 'promoted to primary'; failures: number }
  | { id: 'HA-005'; what: 'link down but the primary answers: staying backup' }
  | { id: 'HA-006'; what: 'two primaries: stepping down (the peer holds the higher term)' }
  | { id: 'HA-007'; what: 'switchover: handing over to the peer' }
  | { id: 'HA-008'; what: 'switchover: took over from the peer' }
  | { id: 'HA-009'; what: 'switchover failed: primary again'; reason: string }
  | { id: 'HA-010'; what: 'joined a pair whose peer is already primary: serving as backup' }
  | { id: 'HA-012'; what: 'auto-restore: asking for the primary role back'; healthyBeats: number }
  | { id: 'HA-013'; what: 'protected mode: switched over to the reloaded backup'; ok: boolean; reason: string }
  | { id: 'HA-014'; what: 'linked to a peer that is backup too: the configured primary takes the role' }
  | { id: 'HA-016'; what: 'HA link replaced: the linked peer went silent and a new connection authenticated'; silentMs: number }
  | { id: 'HA-017'; what: 'protected mode ended: reloading now'; reason: string }
  | { id: 'HA-019'; what: 'protected mode not entered: reloading now'; reason: string };

export type PairEffect =
  /** First of a step's effects whenever the term changed: nothing acts on a role before its term is on disk. */
  | { kind: 'persist-term'; term: number }
  | { kind: 'log'; level: 'info' | 'warn'; event: PairEvent }
  | { kind: 'dial' }
  /** The listener answers the handshake with the role and term it holds after this step. */
  | { kind: 'send-welcome' }
  /** Probe the primary (its client port, or its HA port before a handshake told where that is) or the backup's client port. */
  | { kind: 'probe'; target: 'primary' | 'backup' }
  | { kind: 'send-status'; status: PeerStatus }
  | { kind: 'notify-peer'; what: 'take-back' | { reloadedAt: number } }
  | { kind: 'start-journal' }
  | { kind: 'stop-journal' }
  /** Ask the backup to take over once it applied this member's applied seq (read when performed). */
  | { kind: 'request-take-over' }
  | { kind: 'wait-for-seq'; seq: number }
  | { kind: 'reply-take-over'; ok: boolean; message: string }
  | { kind: 'answer-switchover'; id: number; ok: boolean; message: string }
  /** Every client goes (BACKUP_MODE with this message): the other member serves and restores them. */
  | { kind: 'disconnect-clients'; message: string }
  | { kind: 'release-held-clients' }
  | { kind: 'answer-reload'; allowed: boolean }
  /** The reload protected mode deferred starts; `force`: without asking again. */
  | { kind: 'release-reload'; force: boolean }
  | { kind: 'refuse-link'; message: string }
  | { kind: 'close-link'; reason: string };

export interface Readiness {
  ready: boolean;
  reason?: string;
}

export interface StepResult {
  state: PairState;
  effects: PairEffect[];
}

const NO_FACTS: MemberFacts = { loaded: false, appliedSeq: 0, journalRecord: 0, ackedUpTo: 0, canReload: false };
const NO_BEAT: Beat = { appliedSeq: 0, journalRecord: 0 };

/** A member as it starts: its configured role, at the term it persisted. */
export function initialPairState(config: PairConfig, term = 0, now = 0): PairState {
  return {
    config,
    now,
    role: config.configured,
    term,
    linkUp: false,
    linkUpAt: now,
    everLinked: false,
    peerClientEndpoint: undefined,
    dialing: false,
    probing: { primary: false, backup: false },
    failures: 0,
    saidPrimaryAnswers: false,
    facts: NO_FACTS,
    peer: undefined,
    beats: { previous: NO_BEAT, current: NO_BEAT },
    journalChangeSeq: 0,
    switchover: undefined,
    healthyBeats: 0,
    askedBack: false,
    protectedMode: { deferred: false, deadline: undefined, peerReloaded: false, backupAnswers: false, lastRefusal: undefined },
    holdClientsUntil: undefined,
  };
}

type Draft = { -readonly [K in keyof PairState]: PairState[K] };

/** One step: the input at time `now` in, the next state and the effects to carry out, in order, out. */
export function step(state: PairState, input: PairInput, now: number): StepResult {
  const s: Draft = { ...state, now: Math.max(state.now, now) };
  const out: PairEffect[] = [];
  apply(s, input, out);
  if (s.term !== state.term) out.unshift({ kind: 'persist-term', term: s.term });
  return { state: s, effects: out };
}

function apply(s: Draft, input: PairInput, out: PairEffect[]): void {
  switch (input.kind) {
    case 'tick':
      return tick(s, input.facts, out);
    case 'linked':
      return linked(s, input, out);
    case 'unlinked':
      return unlinked(s, input.reason, out);
    case 'link-offered': {
      if (!s.linkUp || input.liveLinkSilentMs === undefined) return;
      const silentMs = Math.round(input.liveLinkSilentMs);
      // Knowing the secret is not enough to take the link from a peer that still answers.
      if (input.liveLinkSilentMs < s.config.silentLinkMs) {
        out.push({ kind: 'refuse-link', message: `a live peer is linked (heard from ${silentMs} ms ago); a new connection replaces it only once it stops answering` });
        return;
      }
      log(out, 'warn', { id: 'HA-016', what: 'HA link replaced: the linked peer went silent and a new connection authenticated', silentMs });
      out.push({ kind: 'close-link', reason: 'replaced by a new connection of the peer' });
      unlinked(s, 'replaced by a new connection of the peer', out);
      return;
    }
    case 'dial-ended':
      s.dialing = false;
      return;
    case 'probed':
      return probed(s, input.target, input.answered, out);
    case 'peer-status':
      s.peer = input.status;
      startWaitingSwitchover(s, out);
      return;
    case 'journal-change':
      s.journalChangeSeq = Math.max(s.journalChangeSeq, input.seq);
      return;
    case 'switchover':
      s.facts = input.facts;
      return requestSwitchover(s, input, out);
    case 'take-over-answered':
      return takeOverAnswered(s, input.outcome, input.message, out);
    case 'take-over-asked':
      if (s.role !== 'backup' || !s.linkUp) {
        out.push({ kind: 'reply-take-over', ok: false, message: 'not the backup' });
        return;
      }
      s.switchover = { phase: 'catching-up', seq: input.seq };
      out.push({ kind: 'wait-for-seq', seq: input.seq });
      return;
    case 'caught-up': {
      const phase = s.switchover;
      if (phase?.phase !== 'catching-up') return; // the link went meanwhile: the primary stays primary
      s.switchover = undefined;
      if (!input.ok || s.role !== 'backup') {
        out.push({ kind: 'reply-take-over', ok: false, message: `did not reach seq ${phase.seq} in time` });
        return;
      }
      becomePrimary(s, out, { id: 'HA-008', what: 'switchover: took over from the peer' });
      out.push({ kind: 'start-journal' }, { kind: 'reply-take-over', ok: true, message: 'took over' });
      return;
    }
    case 'peer-asks-back':
      if (s.role === 'primary' && s.config.configured === 'backup') startSwitchover(s, { by: 'take-back' }, false, out);
      return;
    case 'reload-asked':
      return reloadAsked(s, out);
    case 'reloaded':
      if (s.config.protectedModeTimeoutMs !== undefined && s.role !== 'primary') out.push({ kind: 'notify-peer', what: { reloadedAt: input.seq } });
      return;
    case 'peer-reloaded':
      if (s.config.protectedModeTimeoutMs === undefined) return;
      s.protectedMode = { ...s.protectedMode, peerReloaded: true };
      if (s.protectedMode.deferred) switchToReloadedBackup(s, out);
      return;
    case 'client-waiting':
      if (s.role !== 'backup' || s.linkUp || s.config.acceptClientsInBackupMode) {
        out.push({ kind: 'release-held-clients' });
        return;
      }
      // Long enough for the probes that would promote this member: a failover costs a client one connection.
      s.holdClientsUntil = Math.max(s.holdClientsUntil ?? 0, s.now + s.config.heartbeatMs * (s.config.failuresToSwitch + 1));
      return;
    case 'stop':
      if (s.switchover?.phase === 'waiting-ready') out.push({ kind: 'answer-switchover', id: s.switchover.id, ok: false, message: 'this member is stopping' });
      s.switchover = undefined;
      releaseHeldClients(s, out);
      return;
  }
}

function log(out: PairEffect[], level: 'info' | 'warn', event: PairEvent): void {
  out.push({ kind: 'log', level, event });
}

function tick(s: Draft, facts: MemberFacts, out: PairEffect[]): void {
  s.facts = facts;
  s.beats = { previous: s.beats.current, current: { appliedSeq: facts.appliedSeq, journalRecord: facts.journalRecord } };
  if (s.config.dials && !s.linkUp && !s.dialing) {
    s.dialing = true;
    out.push({ kind: 'dial' });
  }
  expireWaitingSwitchover(s, out);
  startWaitingSwitchover(s, out);
  if (s.role === 'backup' && s.linkUp) {
    out.push({ kind: 'send-status', status: { loaded: facts.loaded, appliedSeq: facts.appliedSeq, acceptsClients: s.config.acceptClientsInBackupMode, canReload: facts.canReload } });
  }
  if (s.config.protectedModeTimeoutMs !== undefined) {
    if (s.role === 'primary' && s.linkUp && s.peerClientEndpoint !== undefined) {
      if (!s.probing.backup) {
        s.probing = { ...s.probing, backup: true };
        out.push({ kind: 'probe', target: 'backup' });
      }
    } else if (s.protectedMode.backupAnswers) {
      s.protectedMode = { ...s.protectedMode, backupAnswers: false };
    }
    const { deferred, deadline } = s.protectedMode;
    if (deferred && deadline !== undefined && s.now >= deadline) endProtectedMode(s, `the backup did not reload within ${s.config.protectedModeTimeoutMs} ms`, out);
  }
  considerTakingBack(s, out);
  if (s.holdClientsUntil !== undefined && s.now >= s.holdClientsUntil) releaseHeldClients(s, out);
  if (s.role === 'backup' && !s.linkUp && !s.probing.primary) {
    s.probing = { ...s.probing, primary: true };
    out.push({ kind: 'probe', target: 'primary' });
  }
}

function linked(s: Draft, input: Extract<PairInput, { kind: 'linked' }>, out: PairEffect[]): void {
  const { peerRole, peerTerm } = input;
  const wasEverLinked = s.everLinked;
  const ownTerm = s.term;
  s.linkUp = true;
  s.linkUpAt = s.now;
  s.everLinked = true;
  s.dialing = false;
  s.failures = 0;
  s.peer = undefined;
  s.peerClientEndpoint = input.peerClientEndpoint;
  s.term = Math.max(s.term, peerTerm);
  log(out, 'info', { id: 'HA-001', what: 'link up', peerRole });
  if (peerRole === 'backup' && s.role === 'backup' && s.config.configured === 'primary') {
    log(out, 'info', { id: 'HA-014', what: 'linked to a peer that is backup too: the configured primary takes the role' });
    s.role = 'primary';
    s.term += 1;
  } else if (peerRole === 'primary' && s.role === 'primary' && (peerTerm > ownTerm || (peerTerm === ownTerm && s.config.configured === 'backup'))) {
    stepDown(s, out, !wasEverLinked && s.config.configured === 'primary' ? { id: 'HA-010', what: 'joined a pair whose peer is already primary: serving as backup' } : { id: 'HA-006', what: 'two primaries: stepping down (the peer holds the higher term)' });
  }
  if (input.side === 'listener') out.push({ kind: 'send-welcome' });
  releaseHeldClients(s, out);
  if (s.role === 'primary') out.push({ kind: 'start-journal' });
}

/** Linked, two primaries: the one whose term is lower, or the configured backup at a tie, yields. */
function stepDown(s: Draft, out: PairEffect[], event: PairEvent): void {
  log(out, 'info', event);
  s.role = 'backup';
  s.healthyBeats = 0;
  out.push({ kind: 'stop-journal' }, { kind: 'disconnect-clients', message: `this proxy stepped down to backup; the primary is at ${s.peerClientEndpoint ?? 'its peer'}` });
}

function unlinked(s: Draft, reason: string, out: PairEffect[]): void {
  if (!s.linkUp) return;
  s.linkUp = false;
  s.failures = 0;
  s.saidPrimaryAnswers = false;
  s.peer = undefined;
  log(out, 'info', { id: 'HA-002', what: 'link down', reason });
  const phase = s.switchover;
  if (phase?.phase === 'handing-over') takeOverAnswered(s, 'refused', `the HA link closed: ${reason}`, out);
  else if (phase?.phase === 'catching-up') s.switchover = undefined;
  if (s.config.protectedModeTimeoutMs !== undefined) {
    s.protectedMode = { ...s.protectedMode, backupAnswers: false };
    endProtectedMode(s, 'the HA link went down', out);
  }
}

function probed(s: Draft, target: 'primary' | 'backup', answered: boolean, out: PairEffect[]): void {
  if (target === 'backup') {
    s.probing = { ...s.probing, backup: false };
    s.protectedMode = { ...s.protectedMode, backupAnswers: answered && s.role === 'primary' && s.linkUp };
    return;
  }
  s.probing = { ...s.probing, primary: false };
  if (s.role !== 'backup' || s.linkUp) return;
  if (answered) {
    s.failures = 0;
    if (!s.saidPrimaryAnswers) log(out, 'info', { id: 'HA-005', what: 'link down but the primary answers: staying backup' });
    s.saidPrimaryAnswers = true;
    return;
  }
  s.failures += 1;
  if (s.failures < s.config.failuresToSwitch) {
    log(out, 'info', { id: 'HA-003', what: 'primary unreachable', failures: s.failures, failuresToSwitch: s.config.failuresToSwitch });
    return;
  }
  becomePrimary(s, out, { id: 'HA-004', what: 'promoted to primary', failures: s.failures });
}

function becomePrimary(s: Draft, out: PairEffect[], event: PairEvent): void {
  s.role = 'primary';
  s.term += 1;
  s.failures = 0;
  log(out, 'info', event);
  releaseHeldClients(s, out);
}

function releaseHeldClients(s: Draft, out: PairEffect[]): void {
  if (s.holdClientsUntil === undefined) return;
  s.holdClientsUntil = undefined;
  out.push({ kind: 'release-held-clients' });
}

/**
 * Whether a switchover would go well now, and if not why [PROTO-HA-11]. The primary: the link has
 * been up `--ready-after`, the backup has loaded, has applied every change this member had one
 * heartbeat ago, and has acknowledged the journal up to where it was then (so every session is
 * mirrored). The backup: linked, loaded, and it has applied every change the journal brought.
 * Comparing with one heartbeat ago, not with now, is what lets a busy pair be ready at all: the
 * backup's Status is always a heartbeat old.
 */
export function readiness(s: PairState): Readiness {
  const not = (reason: string): Readiness => ({ ready: false, reason });
  if (!s.linkUp) return not('the HA link is down');
  if (!s.facts.loaded) return not('this member has not loaded the configuration');
  if (s.role === 'backup') {
    return s.facts.appliedSeq >= s.journalChangeSeq ? { ready: true } : not(`this backup is at seq ${s.facts.appliedSeq}, the primary's journal at ${s.journalChangeSeq}`);
  }
  const upMs = s.now - s.linkUpAt;
  if (upMs < s.config.readyAfterMs) return not(`the link has been up ${Math.round(upMs / 1000)} s of the ${s.config.readyAfterMs / 1000} s --ready-after asks`);
  const peer = s.peer;
  const then = s.beats.previous;
  if (!peer?.loaded) return not('the backup has not loaded the configuration');
  if (peer.appliedSeq < then.appliedSeq) return not(`the backup is at seq ${peer.appliedSeq}, behind ${then.appliedSeq}`);
  if (s.facts.ackedUpTo < then.journalRecord) return not(`the backup has acknowledged journal record ${s.facts.ackedUpTo} of ${then.journalRecord}: sessions are still being mirrored`);
  return { ready: true };
}

/** Why a switchover may not start now, or undefined. */
export function switchoverRefusal(s: PairState, force: boolean): string | undefined {
  if (s.role !== 'primary') return s.switchover?.phase === 'handing-over' ? 'a switchover is already in progress' : `this member is the backup; ask the primary${s.peerClientEndpoint ? ` (${s.peerClientEndpoint})` : ''}`;
  if (!s.linkUp) return 'the HA link is down: no backup to hand over to';
  const ready = readiness(s);
  if (!ready.ready && !force) return `the pair is not ready for a switchover: ${ready.reason} (force overrides)`;
  return undefined;
}

function requestSwitchover(s: Draft, input: Extract<PairInput, { kind: 'switchover' }>, out: PairEffect[]): void {
  const refusal = switchoverRefusal(s, input.force);
  if (refusal === undefined) {
    handOver(s, { by: 'request', id: input.id }, out);
    return;
  }
  const refuse = (message: string): void => void out.push({ kind: 'answer-switchover', id: input.id, ok: false, message });
  if (input.waitReadyMs <= 0 || s.role !== 'primary') return refuse(refusal);
  if (s.switchover !== undefined) return refuse('another switchover is already waiting for the pair to be ready');
  s.switchover = { phase: 'waiting-ready', id: input.id, deadline: s.now + input.waitReadyMs, waitMs: input.waitReadyMs };
}

/** After anything readiness depends on changed: a waiting switchover starts now, if it may. */
function startWaitingSwitchover(s: Draft, out: PairEffect[]): void {
  const phase = s.switchover;
  if (phase?.phase !== 'waiting-ready' || switchoverRefusal(s, false) !== undefined) return;
  s.switchover = undefined;
  handOver(s, { by: 'request', id: phase.id }, out);
}

function expireWaitingSwitchover(s: Draft, out: PairEffect[]): void {
  const phase = s.switchover;
  if (phase?.phase !== 'waiting-ready' || s.now < phase.deadline) return;
  s.switchover = undefined;
  out.push({ kind: 'answer-switchover', id: phase.id, ok: false, message: `${switchoverRefusal(s, false) ?? 'the pair was not ready'}, after waiting ${phase.waitMs / 1000} s` });
}

/** A switchover this member decides itself (take-back, protected mode): carried out, or refused quietly. */
function startSwitchover(s: Draft, origin: SwitchoverOrigin, force: boolean, out: PairEffect[]): void {
  const waiting = s.switchover;
  if (waiting?.phase === 'waiting-ready') {
    s.switchover = undefined;
    out.push({ kind: 'answer-switchover', id: waiting.id, ok: false, message: `superseded by a switchover for ${origin.by}` });
  }
  const refusal = switchoverRefusal(s, force);
  if (refusal === undefined) handOver(s, origin, out);
  else finishSwitchover(s, origin, false, refusal, out);
}

/** The primary stops being primary before the peer takes over: no moment with two. */
function handOver(s: Draft, origin: SwitchoverOrigin, out: PairEffect[]): void {
  s.role = 'backup';
  s.switchover = { phase: 'handing-over', origin };
  log(out, 'info', { id: 'HA-007', what: 'switchover: handing over to the peer' });
  out.push({ kind: 'stop-journal' }, { kind: 'request-take-over' });
}

function takeOverAnswered(s: Draft, outcome: TakeOverOutcome, message: string, out: PairEffect[]): void {
  const phase = s.switchover;
  if (phase?.phase !== 'handing-over') return;
  s.switchover = undefined;
  if (outcome === 'done') {
    out.push({ kind: 'disconnect-clients', message: `switchover: the primary is now ${s.peerClientEndpoint}` });
    finishSwitchover(s, phase.origin, true, `the primary is now ${s.peerClientEndpoint}`, out);
    return;
  }
  if (outcome === 'no-answer' && s.linkUp) {
    // The backup may yet take over: linked, that would make two primaries. Without the link, the
    // next handshake settles the roles by term.
    out.push({ kind: 'close-link', reason: 'the backup did not answer the switchover' });
    unlinked(s, 'the backup did not answer the switchover', out);
  }
  s.role = 'primary';
  log(out, 'info', { id: 'HA-009', what: 'switchover failed: primary again', reason: message });
  if (s.linkUp) out.push({ kind: 'start-journal' });
  finishSwitchover(s, phase.origin, false, message, out);
}

function finishSwitchover(s: Draft, origin: SwitchoverOrigin, ok: boolean, message: string, out: PairEffect[]): void {
  if (origin.by === 'request') out.push({ kind: 'answer-switchover', id: origin.id, ok, message });
  if (origin.by === 'protected-mode') {
    log(out, 'info', { id: 'HA-013', what: 'protected mode: switched over to the reloaded backup', ok, reason: message });
    s.protectedMode = { ...s.protectedMode, deferred: false };
    out.push({ kind: 'release-reload', force: !ok });
  }
}

/** Auto-restore: asks once per healthy stretch, so a pair never ping-pongs on every heartbeat. */
function considerTakingBack(s: Draft, out: PairEffect[]): void {
  const healthy = s.config.autoRestorePrimary && s.config.configured === 'primary' && s.role === 'backup' && s.linkUp && s.facts.loaded && s.switchover === undefined;
  s.healthyBeats = healthy ? s.healthyBeats + 1 : 0;
  if (!healthy) s.askedBack = false;
  if (!healthy || s.askedBack || s.healthyBeats < s.config.failuresToSwitch) return;
  s.askedBack = true;
  log(out, 'info', { id: 'HA-012', what: 'auto-restore: asking for the primary role back', healthyBeats: s.healthyBeats });
  out.push({ kind: 'notify-peer', what: 'take-back' });
}

/**
 * Why the primary cannot defer its reload now, or undefined when it can: the backup is linked,
 * accepts clients in backup mode, can reload itself, has loaded, and its client port answers.
 */
export function whyNotDefer(s: PairState): string | undefined {
  if (!s.linkUp) return 'the HA link is down';
  const peer = s.peer;
  if (!peer) return 'the backup has not reported its status';
  if (!peer.acceptsClients) return 'the backup does not accept clients in backup mode';
  if (!peer.canReload) return 'the backup has been cut off from every master, so it cannot reload soon';
  if (!peer.loaded) return 'the backup has not loaded the configuration';
  if (!s.protectedMode.backupAnswers) return "the backup's client port did not answer";
  return undefined;
}

/** For /ha: whether an expired history would be deferred now, and if not why. */
export function describeProtectedMode(s: PairState): string {
  if (s.config.protectedModeTimeoutMs === undefined) return 'off';
  if (s.role !== 'primary') return 'backup: reloads when its history expires, then tells the primary';
  const why = whyNotDefer(s);
  return why === undefined ? 'armed' : `not armed: ${why}`;
}

/**
 * Protected mode (`--config-reload-delay-if-primary`): when the master's history has expired, the
 * primary keeps serving its cache, the backup reloads first, the pair switches over, and the former
 * primary reloads as backup, so clients never wait on a reload. A deadline bounds how long stale
 * data may be served.
 */
function reloadAsked(s: Draft, out: PairEffect[]): void {
  const allow = (): void => void out.push({ kind: 'answer-reload', allowed: true });
  if (s.config.protectedModeTimeoutMs === undefined || s.role !== 'primary') return allow();
  if (s.protectedMode.deferred) return void out.push({ kind: 'answer-reload', allowed: false });
  const why = whyNotDefer(s);
  if (why !== undefined) {
    if (why !== s.protectedMode.lastRefusal) log(out, 'warn', { id: 'HA-019', what: 'protected mode not entered: reloading now', reason: why });
    s.protectedMode = { ...s.protectedMode, lastRefusal: why };
    return allow();
  }
  out.push({ kind: 'answer-reload', allowed: false });
  s.protectedMode = { ...s.protectedMode, deferred: true, deadline: s.protectedMode.deadline ?? s.now + s.config.protectedModeTimeoutMs };
  if (s.protectedMode.peerReloaded) switchToReloadedBackup(s, out);
}

function switchToReloadedBackup(s: Draft, out: PairEffect[]): void {
  s.protectedMode = { ...s.protectedMode, peerReloaded: false, deadline: undefined };
  // The backup has just reloaded: it is fresher than this member, whatever the readiness says.
  startSwitchover(s, { by: 'protected-mode' }, true, out);
}

function endProtectedMode(s: Draft, reason: string, out: PairEffect[]): void {
  s.protectedMode = { ...s.protectedMode, deadline: undefined };
  if (!s.protectedMode.deferred) return;
  s.protectedMode = { ...s.protectedMode, deferred: false };
  log(out, 'warn', { id: 'HA-017', what: 'protected mode ended: reloading now', reason });
  out.push({ kind: 'release-reload', force: true });
}
