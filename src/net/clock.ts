/** Time as the keepalive, retry and role logic see it; injected so tests can drive it. */
export interface Clock {
  now(): number;
  setTimeout(callback: () => void, delayMs: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const systemClock: Clock = {
  now: () => performance.now(),
  setTimeout: (callback, delayMs) => {
    const timer = setTimeout(callback, delayMs);
    timer.unref();
    return timer;
  },
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

/** Runs `callback` every `intervalMs` on `clock` until the returned function is called. */
export function every(clock: Clock, intervalMs: number, callback: () => void): () => void {
  let handle: unknown;
  let stopped = false;
  const run = (): void => {
    if (stopped) return;
    handle = clock.setTimeout(run, intervalMs);
    callback();
  };
  handle = clock.setTimeout(run, intervalMs);
  return () => {
    stopped = true;
    clock.clearTimeout(handle);
  };
}
