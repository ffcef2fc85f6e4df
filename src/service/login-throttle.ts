import { LRUCache } from 'lru-cache';
import { CfgError, ErrorCode } from '../../protocol/index.js';

interface Failures {
  count: number;
  /** Until then further attempts are refused without a password check. */
  blockedUntil: number;
}

export interface LoginThrottleSettings {
  /** Failures of one user name before it is slowed down. */
  perUser: number;
  /** Failures from one address before it is slowed down (a NAT may hide many honest users). */
  perAddress: number;
  /** The first block; each further failure doubles it… */
  baseBlockMs: number;
  /** …up to this. */
  maxBlockMs: number;
}

export const DEFAULT_LOGIN_THROTTLE: LoginThrottleSettings = { perUser: 5, perAddress: 20, baseBlockMs: 1_000, maxBlockMs: 5 * 60_000 };

/**
 * Failed logins, by user name and by address, with exponential backoff [ARCH-8]: past a few
 * failures the next attempt waits 1 s, then 2, 4… up to 5 minutes, refused with LOGIN_THROTTLED
 * before any password is checked, so guessing costs the guesser, not the server. A success
 * clears the user's count. Bounded memory: the least recently seen keys are forgotten first.
 */
export class LoginThrottle {
  private readonly failures = new LRUCache<string, Failures>({ max: 100_000 });

  constructor(
    private readonly settings: LoginThrottleSettings = DEFAULT_LOGIN_THROTTLE,
    private readonly now: () => number = Date.now,
  ) {}

  /** Throws LOGIN_THROTTLED while `user` or `address` is blocked. */
  check(user: string, address: string): void {
    const now = this.now();
    for (const key of [`user:${user}`, `address:${address}`]) {
      const entry = this.failures.get(key);
      if (entry && entry.blockedUntil > now) {
        const seconds = Math.ceil((entry.blockedUntil - now) / 1000);
        throw new CfgError(ErrorCode.LOGIN_THROTTLED, `too many failed logins for this ${key.startsWith('user') ? 'user' : 'address'}; retry in ${seconds} s`, { details: { retryInMs: entry.blockedUntil - now } });
      }
    }
  }

  /** Records a failure; returns true when it started (or lengthened) a block, for the log. */
  failed(user: string, address: string): boolean {
    const blockedUser = this.count(`user:${user}`, this.settings.perUser);
    const blockedAddress = this.count(`address:${address}`, this.settings.perAddress);
    return blockedUser || blockedAddress;
  }

  succeeded(user: string): void {
    this.failures.delete(`user:${user}`);
  }

  private count(key: string, allowed: number): boolean {
    const entry = this.failures.get(key) ?? { count: 0, blockedUntil: 0 };
    entry.count += 1;
    this.failures.set(key, entry);
    if (entry.count < allowed) return false;
    const blockMs = Math.min(this.settings.maxBlockMs, this.settings.baseBlockMs * 2 ** (entry.count - allowed));
    entry.blockedUntil = this.now() + blockMs;
    return true;
  }
}
