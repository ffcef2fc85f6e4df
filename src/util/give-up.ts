/**
 * The default of `--give-up-after`: never. A server that cannot log in retries with backoff and
 * says why each time: a refusal may end (a password fixed at the master), and an exit would hand
 * whoever can cause refusals a way to stop it.
 */
export const DEFAULT_GIVE_UP_AFTER = 0;

/**
 * Counts refusals that retrying cannot cure (wrong credentials, a wrong pair secret, a peer of
 * another pair or version), so a server misconfigured that way stops with a clear message instead
 * of warning every second forever. Any other outcome (a master down, a timeout) resets the count:
 * those are what retrying is for. `limit` 0 never gives up.
 */
export class PermanentRefusals {
  private count = 0;

  constructor(
    private readonly limit: number,
    private readonly permanent: ReadonlySet<string>,
  ) {}

  /** Notes an outcome (an error code, or undefined for success); true when it is time to give up. */
  note(code: string | undefined): boolean {
    this.count = code !== undefined && this.permanent.has(code) ? this.count + 1 : 0;
    return this.limit > 0 && this.count >= this.limit;
  }

  get consecutive(): number {
    return this.count;
  }
}

/** What a server reports when it gives up: the last refusal, and how often it came in a row. */
export class GaveUp extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'GaveUp';
  }
}
