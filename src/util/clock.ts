/**
 * The one home of time in src/: every duration is measured and every timer set through a Clock,
 * so the parts with logic of their own (keepalive, retries, the pair) take an injected one that
 * tests drive, and nothing else reads the process's timers directly.
 */
export interface Clock {
  /** Monotonic milliseconds (not wall time: for that, Date). */
  now(): number;
  /** A timer; it does not keep the process alive unless `keepAlive` (a client waiting to reconnect must). */
  setTimeout(callback: () => void, delayMs: number, keepAlive?: boolean): unknown;
  clearTimeout(handle: unknown): void;
}

export const systemClock: Clock = {
  now: () => performance.now(),
  setTimeout: (callback, delayMs, keepAlive = false) => {
    const timer = setTimeout(callback, delayMs);
    if (!keepAlive) timer.unref();
    return timer;
  },
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

/** Resolves after `delayMs` on `clock`. */
export function sleep(delayMs: number, clock: Clock = systemClock, keepAlive = false): Promise<void> {
  return new Promise((resolve) => clock.setTimeout(resolve, delayMs, keepAlive));
}

/** Runs `callback` every `intervalMs` on `clock` until the returned function is called. */
export function every(clock: Clock, intervalMs: number, callback: () => void, keepAlive = false): () => void {
  let handle: unknown;
  let stopped = false;
  const run = (): void => {
    if (stopped) return;
    handle = clock.setTimeout(run, intervalMs, keepAlive);
    callback();
  };
  handle = clock.setTimeout(run, intervalMs, keepAlive);
  return () => {
    stopped = true;
    clock.clearTimeout(handle);
  };
}
