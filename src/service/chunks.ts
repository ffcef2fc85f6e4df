import type { ConfigObject } from '../../protocol/index.js';

/**
 * About how many bytes an object takes on the wire: its strings and a few bytes per value. Cheap
 * (no encoding), and close enough to keep a chunk of objects well under every frame limit.
 */
export function approximateBytes(value: unknown): number {
  if (typeof value === 'string') return value.length + 5;
  if (typeof value !== 'object' || value === null) return 9;
  let total = 5;
  if (Array.isArray(value)) for (const item of value) total += approximateBytes(item);
  else for (const [key, item] of Object.entries(value)) total += key.length + 1 + approximateBytes(item);
  return total;
}

/**
 * Splits `objects` into chunks of at most `maxObjects` objects and about `maxBytes` bytes (a chunk
 * holds at least one object) [PROTO-READ-1]: two large objects never make one oversized frame.
 */
export function* chunksOf(objects: ConfigObject[], maxObjects: number, maxBytes: number): Generator<ConfigObject[]> {
  let start = 0;
  while (start < objects.length) {
    let end = start;
    let bytes = 0;
    while (end < objects.length && end - start < maxObjects) {
      const size = approximateBytes(objects[end]);
      if (end > start && bytes + size > maxBytes) break;
      bytes += size;
      end += 1;
    }
    yield objects.slice(start, end);
    start = end;
  }
}
