import type { ExternalMethod } from '../model/external-account.js';
import { systemClock } from '../util/clock.js';

/**
 * A directory that checks passwords of accounts it holds (LDAP, RADIUS) [PROTO-HELLO-7]. Each
 * server asks its own, configured on it, with no master round trip.
 */
export interface PasswordDirectory {
  readonly method: ExternalMethod;
  /** Where it asks, for logs and the status page (no secrets). */
  readonly describe: string;
  /**
   * Whether `password` is the password of `id` there. Rejects with DirectoryUnavailable when no
   * answer could be had (unreachable, timed out, refused to work): that is not a wrong password.
   */
  verify(id: string, password: string): Promise<boolean>;
  close(): Promise<void>;
}

/** The directory gave no answer: the login can be neither accepted nor refused as wrong. */
export class DirectoryUnavailable extends Error {
  override readonly name = 'DirectoryUnavailable';
}

/** Runs `work` with a deadline: past `timeoutMs` it rejects with DirectoryUnavailable saying `what`. */
export async function withDeadline<T>(work: Promise<T>, timeoutMs: number, what: string): Promise<T> {
  let timer: unknown;
  const deadline = new Promise<never>((_, reject) => {
    timer = systemClock.setTimeout(() => reject(new DirectoryUnavailable(`${what} timed out after ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    return await Promise.race([work, deadline]);
  } finally {
    systemClock.clearTimeout(timer);
  }
}
