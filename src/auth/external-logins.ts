import { createHmac, randomBytes } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import { CfgError, ErrorCode } from '../../protocol/index.js';
import type { ExternalAccount, ExternalMethod } from '../model/external-account.js';
import type { Logger } from '../util/logger.js';
import type { PasswordDirectory } from './directory.js';
import { systemClock } from '../util/clock.js';

export type DirectoryOutcome = 'accepted' | 'rejected' | 'unavailable';

export interface ExternalLoginsOptions {
  /** Keep a successful check this long (0: ask the directory every time). */
  cacheMs: number;
  logger: Logger;
  /** Told of every question put to a directory, with how long it took. */
  observe?: (method: ExternalMethod, outcome: DirectoryOutcome, seconds: number) => void;
  now?: () => number;
}

/** Longest password sent to a directory: RADIUS carries at most 128 bytes, and no one types more. */
const MAX_PASSWORD_BYTES = 128;
/** A directory outage is logged once per this many ms, with the count since. */
const UNAVAILABLE_LOG_INTERVAL_MS = 10_000;

/**
 * The logins of external accounts [PROTO-HELLO-7]: which directory checks whom, what never reaches
 * a directory (an empty password, which LDAP would take for an anonymous bind; a name with
 * control characters; an oversized password), the optional cache of successful checks, and the
 * difference between "wrong password" and "nobody could tell" (AUTH_UNAVAILABLE).
 */
export class ExternalLogins {
  private readonly cache: LRUCache<string, true> | undefined;
  /** Cache keys are keyed hashes of the password, never the password: a heap dump shows no passwords. */
  private readonly cacheKey = randomBytes(32);
  private readonly now: () => number;
  private readonly outage = new Map<ExternalMethod, { loggedAt: number; since: number }>();

  constructor(
    private readonly directories: ReadonlyMap<ExternalMethod, PasswordDirectory>,
    private readonly options: ExternalLoginsOptions,
  ) {
    this.now = options.now ?? Date.now;
    const now = this.now;
    this.cache = options.cacheMs > 0 ? new LRUCache({ max: 100_000, ttl: options.cacheMs, ttlAutopurge: false, ttlResolution: 0, perf: { now } }) : undefined;
  }

  /** The directories configured, by method, for the status page. */
  describe(): Record<string, string> {
    return Object.fromEntries([...this.directories].map(([method, directory]) => [method, directory.describe]));
  }

  /** Whether `password` is the account's directory password; throws AUTH_UNAVAILABLE when that cannot be told. */
  async check(account: ExternalAccount, password: string): Promise<boolean> {
    const directory = this.directories.get(account.method);
    if (!directory) {
      throw new CfgError(ErrorCode.AUTH_UNAVAILABLE, `this account logs in by ${account.method.toUpperCase()}, and this server has no ${account.method.toUpperCase()} directory configured`);
    }
    // eslint-disable-next-line no-control-regex -- control characters are what this refuses
    if (password === '' || Buffer.byteLength(password) > MAX_PASSWORD_BYTES || /[\x00-\x1f\x7f]/.test(account.id)) return false;
    const key = this.cache && `${account.method}\0${account.id}\0${createHmac('sha256', this.cacheKey).update(password).digest('base64')}`;
    if (key && this.cache!.get(key)) return true;
    const started = systemClock.now();
    try {
      const accepted = await directory.verify(account.id, password);
      this.options.observe?.(account.method, accepted ? 'accepted' : 'rejected', (systemClock.now() - started) / 1000);
      this.recovered(account.method);
      if (accepted && key) this.cache!.set(key, true);
      return accepted;
    } catch (error) {
      this.options.observe?.(account.method, 'unavailable', (systemClock.now() - started) / 1000);
      const reason = error instanceof Error ? error.message : String(error);
      this.unavailable(account.method, directory, reason);
      throw new CfgError(ErrorCode.AUTH_UNAVAILABLE, `the ${account.method.toUpperCase()} directory could not check this login (${reason}); local accounts still log in`);
    }
  }

  async close(): Promise<void> {
    await Promise.all([...this.directories.values()].map((directory) => directory.close()));
  }

  private unavailable(method: ExternalMethod, directory: PasswordDirectory, reason: string): void {
    const now = this.now();
    const state = this.outage.get(method);
    if (state && now - state.loggedAt < UNAVAILABLE_LOG_INTERVAL_MS) return;
    this.outage.set(method, { loggedAt: now, since: state?.since ?? now });
    this.options.logger.warn({ event: 'AUTH-002', method, directory: directory.describe, reason }, `${method.toUpperCase()} directory unavailable: its accounts get AUTH_UNAVAILABLE`);
  }

  private recovered(method: ExternalMethod): void {
    const state = this.outage.get(method);
    if (!state) return;
    this.outage.delete(method);
    this.options.logger.info({ event: 'AUTH-003', method, downMs: this.now() - state.since }, `${method.toUpperCase()} directory answers again`);
  }
}

