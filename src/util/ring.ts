/**
 * The newest items, oldest first, bounded by count and (with `sizeOf`) by bytes [ARCH-5]: a push
 * past either bound evicts the oldest. The array is compacted now and then instead of shifted on
 * every push.
 */
export class Ring<T> {
  private items: T[] = [];
  private start = 0;
  private bytes = 0;

  constructor(
    private readonly capacity: number,
    private readonly bounds: { maxBytes: number; sizeOf(item: T): number } | undefined = undefined,
  ) {}

  get length(): number {
    return this.items.length - this.start;
  }

  /** The bytes the items take, by `sizeOf` (0 without a byte bound). */
  get size(): number {
    return this.bytes;
  }

  /** Adds an item; returns the newest one it evicted, if any. */
  push(item: T): T | undefined {
    this.items.push(item);
    if (this.bounds) this.bytes += this.bounds.sizeOf(item);
    let evicted: T | undefined;
    // The newest item always stays, however large.
    while (this.length > 1 && (this.length > this.capacity || (this.bounds !== undefined && this.bytes > this.bounds.maxBytes))) {
      evicted = this.items[this.start];
      if (this.bounds) this.bytes -= this.bounds.sizeOf(evicted);
      // The slot is cleared now, not at the next compaction: an evicted item must not stay reachable.
      this.items[this.start] = undefined as T;
      this.start += 1;
    }
    if (this.start >= Math.max(1024, this.length)) {
      this.items = this.items.slice(this.start);
      this.start = 0;
    }
    return evicted;
  }

  /** The item `index` places after the oldest. */
  at(index: number): T | undefined {
    return index < 0 || index >= this.length ? undefined : this.items[this.start + index];
  }

  /** The items from `index` on, as a new array. */
  from(index: number): T[] {
    return this.items.slice(this.start + Math.max(0, index));
  }

  /** The index of the first item for which `isAfter` holds (items must be ordered by it). */
  firstIndex(isAfter: (item: T) => boolean): number {
    let lo = 0;
    let hi = this.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (isAfter(this.items[this.start + mid])) hi = mid;
      else lo = mid + 1;
    }
    return lo;
  }

  /** Drops the oldest items while `isOld` holds for them; returns how many. */
  dropWhile(isOld: (item: T) => boolean): number {
    let dropped = 0;
    while (this.length > 0 && isOld(this.items[this.start]!)) {
      if (this.bounds) this.bytes -= this.bounds.sizeOf(this.items[this.start]!);
      this.items[this.start] = undefined as T;
      this.start += 1;
      dropped += 1;
    }
    return dropped;
  }

  clear(): void {
    this.items = [];
    this.start = 0;
    this.bytes = 0;
  }
}
