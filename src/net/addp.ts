import type { Clock } from '../util/clock.js';

/** What the keepalive needs from the link it guards. */
export interface AddpLink {
  /** When bytes last arrived from the peer, on the monitor's clock. */
  lastReceivedAt(): number;
  sendPoll(n: number): void;
  /** The peer did not answer a poll in time: drop it. */
  onTimeout(silentForMs: number): void;
  /** Trace output when tracing is on; receives one line per poll. */
  trace?(line: string): void;
}

/**
 * ADDP-style keepalive for one side of one link [PROTO-ADDP-1..4]: when the peer has been
 * silent for `timeoutMs`, poll it; when it stays silent for another `timeoutMs`, give up.
 * Any frame from the peer counts as an answer. A timeout of 0 turns the monitor off.
 */
export class AddpMonitor {
  private timer: unknown = null;
  private pollSentAt: number | null = null;
  private pollNumber = 0;
  private state: 'idle' | 'running' | 'stopped' = 'idle';

  constructor(
    private readonly timeoutMs: number,
    private readonly link: AddpLink,
    private readonly clock: Clock,
  ) {}

  start(): void {
    if (this.timeoutMs <= 0 || this.state !== 'idle') return;
    this.state = 'running';
    this.schedule(this.timeoutMs);
  }

  stop(): void {
    this.state = 'stopped';
    if (this.timer !== null) this.clock.clearTimeout(this.timer);
    this.timer = null;
  }

  private schedule(delayMs: number): void {
    this.timer = this.clock.setTimeout(() => this.check(), Math.max(1, delayMs));
  }

  private check(): void {
    this.timer = null;
    if (this.state !== 'running') return;
    const now = this.clock.now();
    const lastReceivedAt = this.link.lastReceivedAt();
    if (this.pollSentAt !== null) {
      if (lastReceivedAt >= this.pollSentAt) {
        this.pollSentAt = null; // answered (by a reply or by any other frame)
      } else if (now - this.pollSentAt >= this.timeoutMs) {
        this.stop();
        this.link.onTimeout(now - lastReceivedAt);
        return;
      } else {
        this.schedule(this.pollSentAt + this.timeoutMs - now);
        return;
      }
    }
    const silentMs = now - lastReceivedAt;
    if (silentMs < this.timeoutMs) {
      this.schedule(this.timeoutMs - silentMs);
      return;
    }
    this.pollNumber += 1;
    this.pollSentAt = now;
    this.link.trace?.(`addp poll #${this.pollNumber} after ${Math.round(silentMs)} ms of silence`);
    this.link.sendPoll(this.pollNumber);
    this.schedule(this.timeoutMs);
  }
}
