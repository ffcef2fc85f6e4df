import type { HaStatusMessage } from '../../protocol/index.js';
import { systemClock, type Clock } from '../net/clock.js';

/** What the backup tells the primary every heartbeat [PROTO-HA-11]. */
export type PeerStatus = Omit<HaStatusMessage, 'kind'>;

/** What readiness needs to know of this member at the moment it is asked. */
export interface ReadinessFacts {
  role: 'primary' | 'backup';
  linkUp: boolean;
  loaded: boolean;
  appliedSeq: number;
  /** As primary: the last journal record the backup acknowledged. */
  ackedUpTo: number;
}

export interface Readiness {
  ready: boolean;
  reason?: string;
}

/**
 * Whether a switchover would go well now, and if not why [PROTO-HA-11]. The primary: the link has
 * been up `--ready-after`, the backup has loaded, has applied every change this member had one
 * heartbeat ago, and has acknowledged the journal up to where it was then (so every session is
 * mirrored). The backup: linked, loaded, and it has applied every change the journal brought.
 * Comparing with one heartbeat ago, not with now, is what lets a busy pair be ready at all: the
 * backup's Status is always a heartbeat old.
 */
export class ReadinessTracker {
  private linkUpAt = 0;
  private peer: PeerStatus | undefined;
  private previousBeat = { appliedSeq: 0, journalRecord: 0 };
  private currentBeat = { appliedSeq: 0, journalRecord: 0 };
  /** As backup: the seq of the newest change the primary's journal carried. */
  private journalChangeSeq = 0;

  constructor(
    private readonly readyAfterMs: number,
    private readonly clock: Clock = systemClock,
  ) {}

  /** A link came up: its age starts at zero and the backup has told nothing yet. */
  linked(): void {
    this.linkUpAt = this.clock.now();
    this.peer = undefined;
  }

  /** The backup's last Status, as the primary heard it. */
  get peerStatus(): PeerStatus | undefined {
    return this.peer;
  }

  onPeerStatus(status: PeerStatus): void {
    this.peer = status;
  }

  /** Each heartbeat, where this member is: the next heartbeat compares the backup with it. */
  beat(appliedSeq: number, journalRecord: number): void {
    this.previousBeat = this.currentBeat;
    this.currentBeat = { appliedSeq, journalRecord };
  }

  /** As backup: a change record of the primary's journal (verified elsewhere) says how far the primary is. */
  onJournalChange(seq: number): void {
    this.journalChangeSeq = Math.max(this.journalChangeSeq, seq);
  }

  evaluate(facts: ReadinessFacts): Readiness {
    const not = (reason: string): Readiness => ({ ready: false, reason });
    if (!facts.linkUp) return not('the HA link is down');
    if (!facts.loaded) return not('this member has not loaded the configuration');
    if (facts.role === 'backup') {
      return facts.appliedSeq >= this.journalChangeSeq ? { ready: true } : not(`this backup is at seq ${facts.appliedSeq}, the primary's journal at ${this.journalChangeSeq}`);
    }
    const upMs = this.clock.now() - this.linkUpAt;
    if (upMs < this.readyAfterMs) return not(`the link has been up ${Math.round(upMs / 1000)} s of the ${this.readyAfterMs / 1000} s --ready-after asks`);
    const peer = this.peer;
    if (!peer?.loaded) return not('the backup has not loaded the configuration');
    if (peer.appliedSeq < this.previousBeat.appliedSeq) return not(`the backup is at seq ${peer.appliedSeq}, behind ${this.previousBeat.appliedSeq}`);
    if (facts.ackedUpTo < this.previousBeat.journalRecord) return not(`the backup has acknowledged journal record ${facts.ackedUpTo} of ${this.previousBeat.journalRecord}: sessions are still being mirrored`);
    return { ready: true };
  }
}
