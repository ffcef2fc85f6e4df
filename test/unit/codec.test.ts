import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { CfgError, encodeFrame, FrameDecoder, Kind, type Message, type ProtocolError } from '../../protocol/index.js';
import { VECTOR_MESSAGES } from '../helpers/vectors.js';

interface Row { name: string; message?: Message; hex: string; error?: string }
// Binary fields are written `{ "binaryHex": "…" }` in the vector file (JSON has no bytes).
const reviveBinary = (_key: string, value: unknown): unknown =>
  typeof value === 'object' && value !== null && typeof (value as { binaryHex?: unknown }).binaryHex === 'string' ? Buffer.from((value as { binaryHex: string }).binaryHex, 'hex') : value;
const rows = (JSON.parse(readFileSync(new URL('../../protocol/vectors/frames.json', import.meta.url), 'utf8'), reviveBinary) as { frames: Row[] }).frames;

function decodeAll(chunks: Buffer[]): { messages: Message[]; errors: string[] } {
  const messages: Message[] = [];
  const errors: string[] = [];
  const decoder = new FrameDecoder({
    onMessage: (m) => messages.push(m),
    onInvalidMessage: (e: CfgError) => errors.push(e.code),
    onProtocolError: (e: ProtocolError) => errors.push(e.code),
  }, 1024 * 1024);
  for (const chunk of chunks) decoder.push(chunk);
  return { messages, errors };
}

describe('codec - golden frames', () => {
  it('codec - the vector file holds every message of the test table', () => {
    expect(rows.filter((r) => !r.error).map((r) => r.name)).toEqual(VECTOR_MESSAGES.map((v) => v.name));
  });

  it('codec - every client message kind has a golden frame', () => {
    const covered = new Set(VECTOR_MESSAGES.map((v) => v.message.kind));
    expect(Object.entries(Kind).filter(([, kind]) => !covered.has(kind)).map(([name]) => name)).toEqual([]);
  });

  for (const row of rows.filter((r) => !r.error)) {
    const frame = Buffer.from(row.hex, 'hex');
    it(`codec - ${row.name}: encodes to the golden bytes`, () => {
      expect(encodeFrame(row.message!).toString('hex')).toBe(row.hex);
    });
    it(`codec - ${row.name}: decodes whole, byte by byte and split at every point`, () => {
      expect(decodeAll([frame]).messages).toEqual([row.message]);
      expect(decodeAll([...frame].map((b) => Buffer.from([b]))).messages).toEqual([row.message]);
      for (let cut = 1; cut < frame.length; cut += 1) {
        expect(decodeAll([frame.subarray(0, cut), frame.subarray(cut)]).messages).toEqual([row.message]);
      }
    });
  }

  for (const row of rows.filter((r) => r.error)) {
    it(`codec - ${row.name}: fails with ${row.error}`, () => {
      expect(decodeAll([Buffer.from(row.hex, 'hex')]).errors).toEqual([row.error]);
    });
  }

  it('codec - a bad frame between good ones costs only itself', () => {
    const good = encodeFrame({ kind: 17, n: 1 });
    const { messages, errors } = decodeAll([Buffer.concat([good, Buffer.from('000000029201', 'hex'), good])]);
    expect(messages).toHaveLength(2);
    expect(errors).toEqual(['UNDECODABLE_FRAME']);
  });

  it('codec - an oversized frame is refused from its header, before its body arrives', () => {
    const { messages, errors } = decodeAll([Buffer.from([0x00, 0x20, 0x00, 0x00])]);
    expect(messages).toEqual([]);
    expect(errors).toEqual(['FRAME_TOO_LARGE']);
  });

  it('codec - a seeded run of random and mutated frames never throws out of the decoder', () => {
    let seed = 12345;
    const random = (): number => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
    const frames = rows.filter((r) => !r.error).map((r) => Buffer.from(r.hex, 'hex'));
    for (let i = 0; i < 2000; i += 1) {
      const base = Buffer.from(frames[Math.floor(random() * frames.length)]);
      for (let m = 0; m < 3; m += 1) base[4 + Math.floor(random() * (base.length - 4))] = Math.floor(random() * 256);
      const { messages, errors } = decodeAll([base]);
      expect(messages.length + errors.length).toBe(1);
    }
  });
});
