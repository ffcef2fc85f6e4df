import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { decodeBody, encodeFrame, HaKind, validateHaMessage, type HaMessage } from '../../protocol/index.js';
import { HA_VECTOR_MESSAGES } from '../helpers/ha-vectors.js';

const rows = (JSON.parse(readFileSync(new URL('../../protocol/vectors/ha-frames.json', import.meta.url), 'utf8')) as { frames: Array<{ name: string; message: HaMessage; hex: string }> }).frames;

describe('HA codec - golden frames', () => {
  it('ha codec - the vector file holds every message of the test table, and every HA kind has one', () => {
    expect(rows.map((r) => r.name)).toEqual(HA_VECTOR_MESSAGES.map((v) => v.name));
    const covered = new Set(HA_VECTOR_MESSAGES.map((v) => v.message.kind));
    expect(Object.entries(HaKind).filter(([, kind]) => !covered.has(kind)).map(([name]) => name)).toEqual([]);
  });

  for (const [i, row] of rows.entries()) {
    it(`ha codec - ${row.name}: encodes to the golden bytes and validates back to the same message`, () => {
      expect(encodeFrame(HA_VECTOR_MESSAGES[i]!.message as unknown as Record<string, unknown>).toString('hex')).toBe(row.hex);
      const frame = Buffer.from(row.hex, 'hex');
      expect(frame.readUInt32BE(0)).toBe(frame.length - 4);
      expect(validateHaMessage(decodeBody(frame.subarray(4)))).toEqual(row.message);
    });
  }
});
