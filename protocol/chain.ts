import { hash } from 'node:crypto';

/**
 * The chain hash of the position before any change [PROTO-LINEAGE-7]: 32 hex zeros. A log that
 * starts later (pruned, or made before chains existed) starts from it too.
 */
export const GENESIS_CHAIN = '0'.repeat(32);

const CHAIN = /^[0-9a-f]{32}$/;

export function isChain(value: unknown): value is string {
  return typeof value === 'string' && CHAIN.test(value);
}

/**
 * The chain hash after one change [PROTO-LINEAGE-7]: the first 16 bytes of SHA-256 over the
 * previous change's chain (its 32 hex characters, ASCII) followed by this change's frame as it is
 * encoded without its `chain` field, in hex. Like Raft's log matching: two logs that hold the same
 * chain at a seq hold the same changes up to it.
 */
export function nextChain(previous: string, frameWithoutChain: Uint8Array): string {
  // One-shot hash: half the cost of createHash().update().digest() on the commit path.
  return hash('sha256', Buffer.concat([Buffer.from(previous, 'latin1'), frameWithoutChain]), 'hex').slice(0, 32);
}

/** `chain` as a msgpack key (fixstr). */
const CHAIN_KEY = Buffer.from([0xa5, ...Buffer.from('chain', 'latin1')]);

/**
 * The frame that carries its chain: the frame without it (u32 length, then a msgpack map) with one
 * more entry, `chain`, appended — the bytes `encodeFrame({ ...message, chain })` gives, made without
 * encoding the message a second time (a commit is hashed over the first encoding anyway).
 */
export function withChain(frameWithoutChain: Buffer, chain: string): Buffer {
  const head = frameWithoutChain[4]!;
  let count: number;
  let headerBytes: number;
  if (head >= 0x80 && head <= 0x8f) [count, headerBytes] = [head & 0x0f, 1]; // fixmap
  else if (head === 0xde) [count, headerBytes] = [frameWithoutChain.readUInt16BE(5), 3]; // map16
  else throw new Error('a change frame is a msgpack map of fewer than 65535 entries');
  count += 1;
  const header = count <= 15 ? Buffer.from([0x80 | count]) : Buffer.from([0xde, count >> 8, count & 0xff]);
  const length = Buffer.alloc(4);
  const frame = Buffer.concat([length, header, frameWithoutChain.subarray(4 + headerBytes), CHAIN_KEY, Buffer.from([0xd9, chain.length]), Buffer.from(chain, 'latin1')]);
  frame.writeUInt32BE(frame.length - 4, 0);
  return frame;
}
