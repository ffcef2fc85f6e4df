import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { JournalRecord } from '../../protocol/index.js';
import { continueJournal, Journal } from '../../src/ha/journal.js';

const close = (r: number): JournalRecord => ({ r, k: 'close', id: `s${r}` }) as unknown as JournalRecord;

describe('journal continuity [PROTO-SEQ-2]', () => {
  it('journal - the records a journal hands out continue each other; any record dropped or repeated breaks the stream', () => {
    fc.assert(
      fc.property(fc.integer({ min: 2, max: 60 }), fc.nat(), fc.boolean(), (count, pick, repeat) => {
        const journal = new Journal(1000);
        for (let i = 0; i < count; i += 1) journal.append({ k: 'close', id: `s${i}` } as never);
        const records = journal.after(0)!;
        expect(continueJournal(records, 0, false).broken).toBeUndefined();
        const i = pick % records.length;
        const damaged = repeat ? [...records.slice(0, i + 1), records[i], ...records.slice(i + 1)] : [...records.slice(0, i), ...records.slice(i + 1)];
        // Dropping the very last record leaves a stream that is merely shorter.
        if (!repeat && i === records.length - 1) expect(continueJournal(damaged, 0, false).broken).toBeUndefined();
        else expect(continueJournal(damaged, 0, false).broken).toMatch(/follows record/);
      }),
    );
  });

  it('journal - a snapshot (reset, then sessions at its number) is followed by the next record', () => {
    const reset = { r: 7, k: 'reset' } as JournalRecord;
    const sessions = [7, 7, 7].map((r) => ({ ...close(r) }));
    expect(continueJournal([reset, ...sessions, close(8), close(9)], 0, false)).toEqual({ inSnapshot: false });
    expect(continueJournal([reset, ...sessions], 0, false)).toEqual({ inSnapshot: true });
    expect(continueJournal([close(7)], 7, true).broken).toBeUndefined();
    expect(continueJournal([close(9)], 7, true).broken).toMatch(/record 9 follows record 7/);
    expect(continueJournal([close(7)], 7, false).broken).toMatch(/record 7 follows record 7/);
  });
});
