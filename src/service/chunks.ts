import type { ConfigObject } from '../../protocol/index.js';
import { approximateBytes } from '../util/approximate-bytes.js';

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
