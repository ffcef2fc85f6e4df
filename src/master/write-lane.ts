/**
 * What a write changes (its object, its names) and what its checks read besides (the objects it
 * references), for deciding which writes may be in flight together; or `barrier` for a write that
 * changes what every check reads (folders, tenants, permissions, accounts) and so runs alone.
 */
export type WriteKeys = { barrier: true } | { barrier: false; writes: readonly string[]; reads: readonly string[] };

interface Waiting {
  keys: WriteKeys;
  start(): void;
}

/**
 * Runs a master's writes so that each is checked against every write before it. A write that
 * finds nothing in flight runs at once, in the caller's step: with SQLite's synchronous commit a
 * whole write stays one synchronous step and the lane costs nothing. A write whose commit is a
 * promise (PostgreSQL) stays in flight until it settles; meanwhile a later write starts only if
 * it conflicts with none of the writes in flight (no check of one can depend on the other), so
 * independent writes share the database's round trips and fsyncs. Writes start in arrival order:
 * one that must wait holds up those behind it.
 */
export class WriteLane {
  private readonly inFlight = new Set<WriteKeys>();
  private readonly waiting: Waiting[] = [];

  /** `keys` is asked for only when something is in flight. */
  run<T>(keys: () => WriteKeys, write: () => T | Promise<T>): Promise<T> {
    if (this.inFlight.size === 0 && this.waiting.length === 0) return this.start(keys, write);
    const wanted = keys();
    return new Promise<T>((resolve, reject) => {
      this.waiting.push({ keys: wanted, start: () => this.start(() => wanted, write).then(resolve, reject) });
      this.pump();
    });
  }

  private start<T>(keys: () => WriteKeys, write: () => T | Promise<T>): Promise<T> {
    let result: T | Promise<T>;
    try {
      result = write();
    } catch (error) {
      return Promise.reject(error);
    }
    if (!(result instanceof Promise)) return Promise.resolve(result);
    // A write in flight says what it holds (nothing landed since it started: the keys are as then).
    const held = keys();
    this.inFlight.add(held);
    const release = (): void => {
      this.inFlight.delete(held);
      this.pump();
    };
    result.then(release, release);
    return result;
  }

  private pump(): void {
    while (this.waiting.length > 0) {
      const next = this.waiting[0]!;
      if (!this.mayStart(next.keys)) return;
      this.waiting.shift();
      next.start();
    }
  }

  private mayStart(keys: WriteKeys): boolean {
    if (this.inFlight.size === 0) return true;
    if (keys.barrier) return false;
    // Two writes conflict when one changes what the other changes or reads; reading the same is fine.
    for (const held of this.inFlight) {
      if (held.barrier) return false;
      for (const key of keys.writes) if (held.writes.includes(key) || held.reads.includes(key)) return false;
      for (const key of keys.reads) if (held.writes.includes(key)) return false;
    }
    return true;
  }
}
