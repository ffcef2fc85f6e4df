import type { Logger } from './logger.js';
import { systemClock } from './clock.js';

/**
 * Progress of a long job: a bar on stderr when it is a terminal, a log line every `logEveryMs`
 * otherwise (so a service log shows that a big load is moving, not hung).
 */
export class Progress {
  private readonly startedAt = systemClock.now();
  private lastLogAt = this.startedAt;
  private lastDrawAt = 0;
  private readonly tty = process.stderr.isTTY === true;
  private last: { done: number; total: number | undefined } | undefined;

  constructor(
    private readonly what: string,
    private readonly logger: Logger,
    private readonly logEveryMs = 2000,
  ) {}

  update(done: number, total: number | undefined): void {
    const now = systemClock.now();
    this.last = { done, total };
    if (this.tty && now - this.lastDrawAt >= 100) {
      this.lastDrawAt = now;
      this.draw(done, total);
    }
    if (!this.tty && now - this.lastLogAt >= this.logEveryMs) {
      this.lastLogAt = now;
      this.logger.info({ done, total }, `${this.what}: in progress`);
    }
  }

  /** Ends the bar at where the job got to (100% when it completed: the last update is drawn even if throttled); returns the elapsed milliseconds. */
  finish(): number {
    if (this.tty) {
      if (this.last) this.draw(this.last.done, this.last.total);
      process.stderr.write('\n');
    }
    return Math.round(systemClock.now() - this.startedAt);
  }

  private draw(done: number, total: number | undefined): void {
    const ratio = total ? Math.min(done / total, 1) : 0;
    const width = 30;
    const filled = Math.round(ratio * width);
    const bar = total ? `[${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${Math.round(ratio * 100)}% ` : '';
    process.stderr.write(`\r${this.what}: ${bar}${done.toLocaleString('en')}${total ? `/${total.toLocaleString('en')}` : ''}`);
  }
}
