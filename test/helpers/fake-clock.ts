import type { Clock } from '../../src/util/clock.js';

/** A clock the test moves by hand: timers fire in order as `advance` passes their time. */
export class FakeClock implements Clock {
  time = 0;
  private timers: Array<{ at: number; callback: () => void; handle: number }> = [];
  private nextHandle = 1;
  now(): number { return this.time; }
  setTimeout(callback: () => void, delayMs: number): unknown {
    const handle = this.nextHandle++;
    this.timers.push({ at: this.time + delayMs, callback, handle });
    return handle;
  }
  clearTimeout(handle: unknown): void { this.timers = this.timers.filter((t) => t.handle !== handle); }
  advance(ms: number): void {
    const end = this.time + ms;
    for (;;) {
      this.timers.sort((a, b) => a.at - b.at);
      const next = this.timers[0];
      if (!next || next.at > end) break;
      this.timers.shift();
      this.time = next.at;
      next.callback();
    }
    this.time = end;
  }
}
