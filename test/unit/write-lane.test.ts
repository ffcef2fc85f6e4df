import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { WriteLane, type WriteKeys } from '../../src/master/write-lane.js';

const keysArbitrary: fc.Arbitrary<WriteKeys> = fc.oneof(
  { weight: 1, arbitrary: fc.constant<WriteKeys>({ barrier: true }) },
  {
    weight: 6,
    arbitrary: fc.record({
      barrier: fc.constant(false as const),
      writes: fc.uniqueArray(fc.constantFrom('a', 'b', 'c', 'd', 'e'), { maxLength: 2 }),
      reads: fc.uniqueArray(fc.constantFrom('a', 'b', 'c', 'd', 'e'), { maxLength: 2 }),
    }),
  },
);

function conflict(x: WriteKeys, y: WriteKeys): boolean {
  if (x.barrier || y.barrier) return true;
  return x.writes.some((k) => y.writes.includes(k) || y.reads.includes(k)) || x.reads.some((k) => y.writes.includes(k));
}

describe('write lane', () => {
  it('write lane - a sync write runs in the caller\'s step and leaves nothing in flight', async () => {
    const lane = new WriteLane();
    let ran = false;
    const result = lane.run(() => ({ barrier: true }), () => {
      ran = true;
      return 7;
    });
    expect(ran).toBe(true); // before any await
    expect(await result).toBe(7);
  });

  it('write lane - property: conflicting writes are never in flight together, independent ones overlap, and writes start in arrival order', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.tuple(keysArbitrary, fc.integer({ min: 0, max: 3 })), { minLength: 1, maxLength: 25 }), async (writes) => {
        const lane = new WriteLane();
        const inFlight = new Map<number, WriteKeys>();
        const started: number[] = [];
        let overlapped = false;
        const done = writes.map(([keys, ticks], index) =>
          lane.run(
            () => keys,
            () => {
              for (const [, other] of inFlight) {
                expect(conflict(keys, other)).toBe(false);
                overlapped = true;
              }
              started.push(index);
              inFlight.set(index, keys);
              return (async () => {
                for (let t = 0; t <= ticks; t += 1) await Promise.resolve();
                inFlight.delete(index);
                return index;
              })();
            },
          ),
        );
        expect(await Promise.all(done)).toEqual(writes.map((_, i) => i));
        expect(started).toEqual(writes.map((_, i) => i));
        // Two independent writes in a row do overlap: the lane is not a plain queue.
        const independent = writes.some(([a], i) => i > 0 && !conflict(a, writes[i - 1]![0]));
        if (independent && writes.length === 2) expect(overlapped).toBe(true);
      }),
      { numRuns: 200 },
    );
  });

  it('write lane - a write that throws before going async releases nothing it did not hold, and the next one runs', async () => {
    const lane = new WriteLane();
    const slow = lane.run(() => ({ barrier: false, writes: ['a'], reads: [] }), () => new Promise<string>((resolve) => setTimeout(() => resolve('slow'), 5)));
    const failing = lane.run(() => ({ barrier: false, writes: ['a'], reads: [] }), () => {
      throw new Error('refused');
    });
    const after = lane.run(() => ({ barrier: true }), () => 'after');
    await expect(failing).rejects.toThrow('refused');
    expect(await slow).toBe('slow');
    expect(await after).toBe('after');
  });
});
