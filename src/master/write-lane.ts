/**
 * Runs a master's writes one at a time, from their checks to their landing in memory, so each is
 * checked against every write before it and seqs are issued in commit order. A write that finds
 * nothing in flight runs at once, in the caller's step: with SQLite's synchronous commit a whole
 * write stays one synchronous step and the lane costs nothing. A commit that is a promise
 * (PostgreSQL) holds the lane until it settles.
 */
export class WriteLane {
  private tail: Promise<void> | undefined;

  run<T>(write: () => T | Promise<T>): Promise<T> {
    if (this.tail === undefined) {
      let result: T | Promise<T>;
      try {
        result = write();
      } catch (error) {
        return Promise.reject(error);
      }
      return result instanceof Promise ? this.hold(result) : Promise.resolve(result);
    }
    return this.hold(this.tail.then(write));
  }

  private hold<T>(pending: Promise<T>): Promise<T> {
    const settled = pending.then(
      () => undefined,
      () => undefined,
    );
    this.tail = settled;
    void settled.then(() => {
      if (this.tail === settled) this.tail = undefined;
    });
    return pending;
  }
}
