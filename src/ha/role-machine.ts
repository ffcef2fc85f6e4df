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

/**
 * The role of one proxy of a pair [ARCH-6], pure: no sockets, no timers. The backup promotes
 * itself only when the HA link is down AND `failuresToSwitch` probes of the primary's client port
 * in a row failed; while the primary still answers it stays backup (no two primaries).
 *
 * Every promotion raises the member's **term**, which the driver persists and both members tell
 * each other on the link [PROTO-HA-12]. On a link with two primaries (a healed partition, or a
 * configured primary restarted after a failover) the lower term steps down, a tie going to the
 * configured primary; on a link with two backups the configured primary takes the role at a new
 * term. Once linked, both hold the higher term. So whatever crashes, restarts and partitions came
 * before, a link leaves exactly one primary.
 */
export class RoleMachine {
  private current: HaRole;
  private currentTerm: number;
  private linkIsUp = false;
  private failures = 0;
  /** Linked to the peer at least once since start: a later "both primary" is a healed partition. */
  private everLinked = false;
  /** HA-005 is logged once per outage of the link, not at every heartbeat. */
  private saidPrimaryAnswers = false;

  constructor(
    readonly configured: HaRole,
    private readonly failuresToSwitch: number,
    /** The term persisted by an earlier run (0 for a new member). */
    term = 0,
  ) {
    this.current = configured;
    this.currentTerm = term;
  }

  /** Raised by every promotion; the higher term wins on a link with two primaries. */
  get term(): number {
    return this.currentTerm;
  }

  get role(): HaRole {
    return this.current;
  }

  get linkUp(): boolean {
    return this.linkIsUp;
  }

  /** The HA link is established; `peerRole` and `peerTerm` are what the other side says. */
  onLinkUp(peerRole: HaRole, peerTerm = 0): RoleEvent[] {
    this.linkIsUp = true;
    this.failures = 0;
    const firstLink = !this.everLinked;
    this.everLinked = true;
    const events: RoleEvent[] = [{ id: 'HA-001', what: 'link up', peerRole }];
    const higher = Math.max(this.currentTerm, peerTerm);
    if (peerRole === 'backup' && this.current === 'backup') {
      // Both backup (the promoted member crashed and came back as configured backup while the other
      // waited as backup): a linked pair always has one primary, and ties go to the configured one.
      if (this.configured === 'primary') {
        this.current = 'primary';
        this.currentTerm = higher + 1;
        events.push({ id: 'HA-014', what: 'linked to a peer that is backup too: the configured primary takes the role' });
      } else this.currentTerm = higher;
      return events;
    }
    const bothPrimary = peerRole === 'primary' && this.current === 'primary';
    // The lower term steps down; on a tie, the member configured as backup.
    const yields = bothPrimary && (peerTerm > this.currentTerm || (peerTerm === this.currentTerm && this.configured === 'backup'));
    this.currentTerm = higher;
    if (!yields) return events;
    this.current = 'backup';
    events.push(
      firstLink && this.configured === 'primary'
        ? { id: 'HA-010', what: 'joined a pair whose peer is already primary: serving as backup' }
        : { id: 'HA-006', what: 'two primaries: stepping down (the peer holds the higher term)' },
    );
    return events;
  }

  onLinkDown(): RoleEvent[] {
    if (!this.linkIsUp) return [];
    this.linkIsUp = false;
    this.failures = 0;
    this.saidPrimaryAnswers = false;
    return [{ id: 'HA-002', what: 'link down' }];
  }

  /** The result of one heartbeat probe of the primary's client port (only asked while the link is down). */
  onProbe(primaryAnswered: boolean): RoleEvent[] {
    if (this.current !== 'backup' || this.linkIsUp) return [];
    if (primaryAnswered) {
      this.failures = 0;
      if (this.saidPrimaryAnswers) return [];
      this.saidPrimaryAnswers = true;
      return [{ id: 'HA-005', what: 'link down but the primary answers: staying backup' }];
    }
    this.failures += 1;
    if (this.failures < this.failuresToSwitch) {
      return [{ id: 'HA-003', what: 'primary unreachable', failures: this.failures, failuresToSwitch: this.failuresToSwitch }];
    }
    this.current = 'primary';
    this.currentTerm += 1;
    return [{ id: 'HA-004', what: 'promoted to primary', failures: this.failures }];
  }

  /** A graceful switchover, on the primary: it stops being primary before the peer takes over. */
  handOver(): RoleEvent[] {
    if (this.current !== 'primary') return [];
    this.current = 'backup';
    return [{ id: 'HA-007', what: 'switchover: handing over to the peer' }];
  }

  /** The switchover did not complete: the former primary takes its role back. */
  handOverFailed(reason: string): RoleEvent[] {
    this.current = 'primary';
    return [{ id: 'HA-009', what: 'switchover failed: primary again', reason }];
  }

  /** A graceful switchover, on the backup, once it has every change the primary had. */
  takeOver(): RoleEvent[] {
    if (this.current !== 'backup') return [];
    this.current = 'primary';
    this.currentTerm += 1;
    this.failures = 0;
    return [{ id: 'HA-008', what: 'switchover: took over from the peer' }];
  }

  /** Whether the heartbeat should probe the primary now. */
  get shouldProbe(): boolean {
    return this.current === 'backup' && !this.linkIsUp;
  }
}
