import type { HaRole } from '../../protocol/index.js';

/** Mode changes, as structured log events with stable ids. */
export type RoleEvent =
  | { id: 'HA-001'; what: 'link up'; peerRole: HaRole }
  | { id: 'HA-002'; what: 'link down' }
  | { id: 'HA-003'; what: 'primary unreachable'; failures: number; failuresToSwitch: number }
  | { id: 'HA-004'; what: 'promoted to primary'; failures: number }
  | { id: 'HA-005'; what: 'link down but the primary answers: staying backup' }
  | { id: 'HA-006'; what: 'two primaries: stepping down (the peer holds the higher term)' }
  | { id: 'HA-007'; what: 'switchover: handing over to the peer' }
  | { id: 'HA-008'; what: 'switchover: took over from the peer' }
  | { id: 'HA-009'; what: 'switchover failed: primary again'; reason: string }
  | { id: 'HA-010'; what: 'joined a pair whose peer is already primary: serving as backup' }
  | { id: 'HA-014'; what: 'linked to a peer that is backup too: the configured primary takes the role' };

/** Everything the role logic knows: a value, replaced by each step, never mutated. */
export interface RoleState {
  readonly configured: HaRole;
  readonly failuresToSwitch: number;
  readonly role: HaRole;
  /** Raised by every promotion; persisted by the driver; the higher wins [PROTO-HA-12]. */
  readonly term: number;
  readonly linkUp: boolean;
  /** Failed probes of the primary in a row, while the link is down. */
  readonly failures: number;
  /** Linked to the peer at least once since start (a restarted configured primary has not). */
  readonly everLinked: boolean;
  /** HA-005 is said once per outage of the link, not at every heartbeat. */
  readonly saidPrimaryAnswers: boolean;
}

/** What happens to a member, as the driver observes it. */
export type RoleInput =
  | { kind: 'link-up'; peerRole: HaRole; peerTerm: number }
  | { kind: 'link-down' }
  | { kind: 'probe'; answered: boolean }
  | { kind: 'hand-over' }
  | { kind: 'hand-over-failed'; reason: string }
  | { kind: 'take-over' };

export function initialRoleState(configured: HaRole, failuresToSwitch: number, term = 0): RoleState {
  return { configured, failuresToSwitch, role: configured, term, linkUp: false, failures: 0, everLinked: false, saidPrimaryAnswers: false };
}

/**
 * The role of one proxy of a pair [ARCH-6] as one pure function, after etcd's raft: the state and
 * an input in, the next state and the events to log and act on out. No sockets, timers or clocks,
 * so any interleaving can be tested in memory.
 *
 * - The backup promotes itself only when the HA link is down AND `failuresToSwitch` probes of the
 *   primary's client port in a row failed; while the primary still answers it stays backup.
 * - Every promotion raises the **term**, which the driver persists before acting and both members
 *   tell each other on the link [PROTO-HA-12]. Two primaries on a link: the lower term steps down,
 *   a tie going to the configured primary. Two backups: the configured primary takes the role at a
 *   new term. Linked, both hold the higher term. So whatever crashes, restarts and partitions came
 *   before, a link leaves exactly one primary.
 */
export function step(state: RoleState, input: RoleInput): { state: RoleState; events: RoleEvent[] } {
  switch (input.kind) {
    case 'link-up': {
      const { peerRole, peerTerm } = input;
      const higher = Math.max(state.term, peerTerm);
      const linked: RoleState = { ...state, linkUp: true, failures: 0, everLinked: true, term: higher };
      const events: RoleEvent[] = [{ id: 'HA-001', what: 'link up', peerRole }];
      if (peerRole === 'backup' && state.role === 'backup') {
        if (state.configured !== 'primary') return { state: linked, events };
        events.push({ id: 'HA-014', what: 'linked to a peer that is backup too: the configured primary takes the role' });
        return { state: { ...linked, role: 'primary', term: higher + 1 }, events };
      }
      const bothPrimary = peerRole === 'primary' && state.role === 'primary';
      const yields = bothPrimary && (peerTerm > state.term || (peerTerm === state.term && state.configured === 'backup'));
      if (!yields) return { state: linked, events };
      events.push(
        !state.everLinked && state.configured === 'primary'
          ? { id: 'HA-010', what: 'joined a pair whose peer is already primary: serving as backup' }
          : { id: 'HA-006', what: 'two primaries: stepping down (the peer holds the higher term)' },
      );
      return { state: { ...linked, role: 'backup' }, events };
    }
    case 'link-down':
      if (!state.linkUp) return { state, events: [] };
      return { state: { ...state, linkUp: false, failures: 0, saidPrimaryAnswers: false }, events: [{ id: 'HA-002', what: 'link down' }] };
    case 'probe': {
      if (state.role !== 'backup' || state.linkUp) return { state, events: [] };
      if (input.answered) {
        if (state.saidPrimaryAnswers) return { state: { ...state, failures: 0 }, events: [] };
        return { state: { ...state, failures: 0, saidPrimaryAnswers: true }, events: [{ id: 'HA-005', what: 'link down but the primary answers: staying backup' }] };
      }
      const failures = state.failures + 1;
      if (failures < state.failuresToSwitch) {
        return { state: { ...state, failures }, events: [{ id: 'HA-003', what: 'primary unreachable', failures, failuresToSwitch: state.failuresToSwitch }] };
      }
      return { state: { ...state, failures, role: 'primary', term: state.term + 1 }, events: [{ id: 'HA-004', what: 'promoted to primary', failures }] };
    }
    case 'hand-over':
      if (state.role !== 'primary') return { state, events: [] };
      return { state: { ...state, role: 'backup' }, events: [{ id: 'HA-007', what: 'switchover: handing over to the peer' }] };
    case 'hand-over-failed':
      return { state: { ...state, role: 'primary' }, events: [{ id: 'HA-009', what: 'switchover failed: primary again', reason: input.reason }] };
    case 'take-over':
      if (state.role !== 'backup') return { state, events: [] };
      return { state: { ...state, role: 'primary', term: state.term + 1, failures: 0 }, events: [{ id: 'HA-008', what: 'switchover: took over from the peer' }] };
  }
}

/** Holds one member's RoleState and steps it: the driver's handle on the pure function. */
export class RoleMachine {
  private state: RoleState;

  constructor(configured: HaRole, failuresToSwitch: number, term = 0) {
    this.state = initialRoleState(configured, failuresToSwitch, term);
  }

  get configured(): HaRole {
    return this.state.configured;
  }

  get role(): HaRole {
    return this.state.role;
  }

  get term(): number {
    return this.state.term;
  }

  get linkUp(): boolean {
    return this.state.linkUp;
  }

  /** Whether the heartbeat should probe the primary now. */
  get shouldProbe(): boolean {
    return this.state.role === 'backup' && !this.state.linkUp;
  }

  onLinkUp(peerRole: HaRole, peerTerm = 0): RoleEvent[] {
    return this.apply({ kind: 'link-up', peerRole, peerTerm });
  }

  onLinkDown(): RoleEvent[] {
    return this.apply({ kind: 'link-down' });
  }

  /** The result of one heartbeat probe of the primary's client port (only asked while the link is down). */
  onProbe(primaryAnswered: boolean): RoleEvent[] {
    return this.apply({ kind: 'probe', answered: primaryAnswered });
  }

  /** A graceful switchover, on the primary: it stops being primary before the peer takes over. */
  handOver(): RoleEvent[] {
    return this.apply({ kind: 'hand-over' });
  }

  /** The switchover did not complete: the former primary takes its role back. */
  handOverFailed(reason: string): RoleEvent[] {
    return this.apply({ kind: 'hand-over-failed', reason });
  }

  /** A graceful switchover, on the backup, once it has every change the primary had. */
  takeOver(): RoleEvent[] {
    return this.apply({ kind: 'take-over' });
  }

  private apply(input: RoleInput): RoleEvent[] {
    const next = step(this.state, input);
    this.state = next.state;
    return next.events;
  }
}
