/**
 * Resolves once `condition` holds, checking every few milliseconds; rejects after `timeoutMs`.
 * For state that emits no event (a semaphore's free places, a file's size); anything that
 * emits an event is awaited on the event instead.
 */
export function until(condition: () => boolean, timeoutMs = 10_000, what = 'the condition'): Promise<void> {
  return new Promise((resolve, reject) => {
    const deadline = performance.now() + timeoutMs;
    const check = (): void => {
      if (condition()) return resolve();
      if (performance.now() > deadline) return reject(new Error(`${what} did not hold within ${timeoutMs} ms`));
      setTimeout(check, 10);
    };
    check();
  });
}
