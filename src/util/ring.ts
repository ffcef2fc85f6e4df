/**
 * The newest `capacity` items, oldest first. A push past the capacity evicts the oldest; the
 * array is compacted now and then instead of shifted on every push.
 */
export class Ring<T> {
  private items: T[] = [];
  private start = 0;

  constructor(private readonly capacity: number) {}

  get length(): number {
    return this.items.length - this.start;
  }

  /** Adds an item; returns the one it evicted, if any. */
  push(item: T): T | undefined {
    this.items.push(item);
    if (this.length <= this.capacity) return undefined;
    const evicted = this.items[this.start];
    this.start += 1;
    if (this.start >= this.capacity) {
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

  clear(): void {
    this.items = [];
    this.start = 0;
  }
}
