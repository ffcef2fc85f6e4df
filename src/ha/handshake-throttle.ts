import { LRUCache } from 'lru-cache';
import { sourceRange } from '../net/source-range.js';
import { systemClock } from '../util/clock.js';

/** Failed Hellos from one source range before it is turned away at connect. */
const ALLOWED_FAILURES = 10;
const BASE_BLOCK_MS = 1_000;
const MAX_BLOCK_MS = 60_000;
/** Refusals are logged at most this often, with how many there were. */
export const REFUSAL_LOG_INTERVAL_MS = 10_000;

/**
 * Failed HA handshakes by source range (IPv4 /24, IPv6 /64) [PROTO-HA-13]: past ten failures the
 * range's connections are closed at once, without a challenge, for 1 s doubling up to a minute, so
 * guessing the pair secret is slow and costs the member nothing but an accept. A peer of the pair
 * proves itself on its first Hello and is never counted.
 */
export class HandshakeThrottle {
  private readonly failures = new LRUCache<string, { count: number; blockedUntil: number }>({ max: 10_000 });

  constructor(private readonly now: () => number = () => systemClock.now()) {}

  /** True while connections from `address`'s range are turned away. */
  blocked(address: string | undefined): boolean {
    const entry = address === undefined ? undefined : this.failures.get(sourceRange(address));
    return entry !== undefined && entry.blockedUntil > this.now();
  }

  failed(address: string | undefined): void {
    if (address === undefined) return;
    const key = sourceRange(address);
    const entry = this.failures.get(key) ?? { count: 0, blockedUntil: 0 };
    entry.count += 1;
    if (entry.count >= ALLOWED_FAILURES) entry.blockedUntil = this.now() + Math.min(MAX_BLOCK_MS, BASE_BLOCK_MS * 2 ** Math.min(entry.count - ALLOWED_FAILURES, 16));
    this.failures.set(key, entry);
  }
}

/**
 * One log line per interval for many alike events: the first at once (a misconfigured peer is seen
 * straight away), the rest summed into the next line, so a flood cannot fill the disk.
 */
export class SummedLog {
  private pending = 0;
  private loggedAt = -Infinity;

  constructor(
    private readonly write: (count: number) => void,
    private readonly intervalMs: number,
    private readonly now: () => number = () => systemClock.now(),
  ) {}

  note(): void {
    this.pending += 1;
    const now = this.now();
    if (now - this.loggedAt < this.intervalMs) return;
    this.loggedAt = now;
    const count = this.pending;
    this.pending = 0;
    this.write(count);
  }
}
