import { createHash } from 'node:crypto';

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
  return createHash('sha256').update(previous, 'ascii').update(frameWithoutChain).digest().subarray(0, 16).toString('hex');
}
