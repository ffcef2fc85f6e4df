import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { decodeFrame, encodeFrame, GENESIS_CHAIN, isChain, nextChain, withChain, type Message } from '../../protocol/index.js';
import { discontinuity } from '../../src/store/commit-record.js';

const vectors = JSON.parse(readFileSync(new URL('../../protocol/vectors/chain.json', import.meta.url), 'utf8')) as {
  lineage: { id: string; generation: number };
  changes: Array<{ previous: string; message: Message; frameWithoutChainHex: string; chain: string; frameHex: string }>;
};

describe('chain hashes [PROTO-LINEAGE-7]', () => {
  it('chain - the golden vectors: each chain follows the previous one over the frame without it, and the frame sent carries it', () => {
    let previous = GENESIS_CHAIN;
    for (const row of vectors.changes) {
      expect(row.previous).toBe(previous);
      const withoutChain = encodeFrame(row.message);
      expect(withoutChain.toString('hex')).toBe(row.frameWithoutChainHex);
      expect(nextChain(previous, withoutChain)).toBe(row.chain);
      expect(encodeFrame({ ...row.message, chain: row.chain } as Record<string, unknown>).toString('hex')).toBe(row.frameHex);
      expect(withChain(withoutChain, row.chain).toString('hex')).toBe(row.frameHex); // the master's way: no second encoding
      expect(decodeFrame(Buffer.from(row.frameHex, 'hex'))).toMatchObject({ seq: (row.message as { seq: number }).seq, chain: row.chain });
      expect(isChain(row.chain)).toBe(true);
      previous = row.chain;
    }
  });

  it('chain - frames of any map size take their chain as a second encoding would give it (fixmap, the step to map16, map16)', () => {
    const chain = 'f'.repeat(32);
    for (const size of [3, 14, 15, 16, 40]) {
      const wide: Record<string, unknown> = { kind: 9 };
      for (let i = 1; i < size; i += 1) wide[`k${i}`] = i;
      expect(withChain(encodeFrame(wide), chain).toString('hex'), `${size} entries`).toBe(encodeFrame({ ...wide, chain }).toString('hex'));
    }
  });

  it('chain - one byte of difference anywhere before a seq gives another chain at it', () => {
    const frames = vectors.changes.map((row) => Buffer.from(row.frameWithoutChainHex, 'hex'));
    const chainOf = (list: Buffer[]): string => list.reduce((previous, frame) => nextChain(previous, frame), GENESIS_CHAIN);
    const changed = frames.map((frame) => Buffer.from(frame));
    changed[0][changed[0].length - 1] ^= 1;
    expect(chainOf(changed)).not.toBe(chainOf(frames));
  });

  it('chain - a master tells a database it did not last commit to: older generation, a log that ends early, another change at the seq', () => {
    const lineage = { id: 'db-1', generation: 3 };
    const history = (newestSeq: number, chains: Record<number, string>) => ({ lineage, newestSeq, chainAt: (seq: number) => chains[seq] });
    const recorded = { lineage, seq: 1339, chain: 'a'.repeat(32) };
    expect(discontinuity(recorded, history(1339, { 1339: 'a'.repeat(32) }))).toBeUndefined();
    expect(discontinuity(recorded, history(1400, { 1339: 'a'.repeat(32) }))).toBeUndefined(); // a crash before the record caught up
    expect(discontinuity(recorded, history(1336, {}))).toMatch(/ends at seq 1336/);
    expect(discontinuity(recorded, history(1341, { 1339: 'b'.repeat(32) }))).toMatch(/another change at seq 1339/);
    expect(discontinuity({ ...recorded, lineage: { id: 'db-1', generation: 4 } }, history(1339, {}))).toMatch(/generation 3/);
    expect(discontinuity({ ...recorded, lineage: { id: 'db-2', generation: 3 } }, history(1, {}))).toBeUndefined(); // another database, on purpose
    expect(discontinuity(undefined, history(1, {}))).toBeUndefined();
    expect(discontinuity(recorded, history(1341, {}))).toBeUndefined(); // pruned: cannot be told
  });
});
