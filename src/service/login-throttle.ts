import { LRUCache } from 'lru-cache';
import { CfgError, ErrorCode } from '../../protocol/index.js';
import { sourceRange } from '../net/source-range.js';

interface Failures {
  count: number;
  /** Until then the source is refused before any check (sources only). */
  blockedUntil: number;
}

export interface LoginThrottleSettings {
  /** Failures of one user name before its failed logins are answered late. */
  perAccount: number;
  /** Failures from one source range (IPv4 /24, IPv6 /64) before the range is refused for a while. */
  perSource: number;
  /** A source's first block; each further failure doubles it… */
  baseBlockMs: number;
  /** …up to this. */
  maxBlockMs: number;
  /** How late an account's first delayed failure is answered; each further failure doubles it… */
  baseDelayMs: number;
  /** …up to this (under the register deadline, so the answer always arrives). */
  maxDelayMs: number;
}

export const DEFAULT_LOGIN_THROTTLE: LoginThrottleSettings = { perAccount: 5, perSource: 20, baseBlockMs: 1_000, maxBlockMs: 5 * 60_000, baseDelayMs: 250, maxDelayMs: 4_000 };

/** Why a login was slowed, for `cfgproxy_logins_throttled_total{reason}`. */
export type ThrottleReason = 'source' | 'account';

/**
 * Failed logins [ARCH-8, PROTO-LIMIT-4], counted so that they slow the attacker and never lock the
 * owner out:
 * - by source range: past `perSource` failures the range is refused (LOGIN_THROTTLED, before any
 *   check) for 1 s, doubling up to 5 minutes. Only that range pays.
 * - by account: past `perAccount` failures each further *failed* login is answered late (250 ms,
 *   doubling up to 4 s), which caps how fast the account can be guessed. A correct login is never
 *   delayed or refused for others' failures, so nobody can keep an owner (or a proxy) out by
 *   failing for its name.
 * A success clears the account's count. Memory is bounded: the least recently seen keys go first.
 */
export class LoginThrottle {
  private readonly failures = new LRUCache<string, Failures>({ max: 100_000 });

  constructor(
    private readonly settings: LoginThrottleSettings = DEFAULT_LOGIN_THROTTLE,
    private readonly now: () => number = Date.now,
    /** A login was refused (`source`) or its failure answered late (`account`): for the metrics. */
    private readonly onThrottled: (reason: ThrottleReason) => void = () => undefined,
  ) {}

  /** Throws LOGIN_THROTTLED while the address's range is blocked. */
  checkSource(address: string): void {
    const entry = this.failures.get(`source:${sourceRange(address)}`);
    const now = this.now();
    if (!entry || entry.blockedUntil <= now) return;
    this.onThrottled('source');
    const seconds = Math.ceil((entry.blockedUntil - now) / 1000);
    throw new CfgError(ErrorCode.LOGIN_THROTTLED, `too many failed logins from this address range; retry in ${seconds} s`, { details: { retryInMs: entry.blockedUntil - now } });
  }

  /**
   * Records a failure. Returns how long to hold the AUTH_FAILED answer back (0: at once), and
   * whether this failure started or lengthened a source block (for the log).
   */
  failed(user: string, address: string): { delayMs: number; sourceBlocked: boolean } {
    const account = this.count(`account:${user}`);
    const source = this.count(`source:${sourceRange(address)}`);
    const { perAccount, perSource, baseBlockMs, maxBlockMs, baseDelayMs, maxDelayMs } = this.settings;
    const sourceBlocked = source.count >= perSource;
    if (sourceBlocked) source.blockedUntil = this.now() + Math.min(maxBlockMs, baseBlockMs * 2 ** Math.min(source.count - perSource, 30));
    const delayMs = account.count > perAccount ? Math.min(maxDelayMs, baseDelayMs * 2 ** Math.min(account.count - perAccount - 1, 30)) : 0;
    if (delayMs > 0) this.onThrottled('account');
    return { delayMs, sourceBlocked };
  }

  succeeded(user: string): void {
    this.failures.delete(`account:${user}`);
  }

  private count(key: string): Failures {
    const entry = this.failures.get(key) ?? { count: 0, blockedUntil: 0 };
    entry.count += 1;
    this.failures.set(key, entry);
    return entry;
  }
}
