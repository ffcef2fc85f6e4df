import { encodeFrame, Kind, type ObjectType } from '../../protocol/index.js';
import type { ObjectPlacement } from './filter.js';

export type ChangeOp = 'created' | 'updated' | 'deleted';

/**
 * One committed change, as fan-out, the history log and replay see it. `frame` is the encoded
 * notification, made once at commit and written as-is to every subscriber and to the log
 * [ARCH-4]. `previous` is where the object was before an update that moved it, so subscribers
 * of its old tenant or folder learn it left.
 */
export interface ChangeRecord extends ObjectPlacement {
  seq: number;
  at: number;
  /** The chain hash at `seq` [PROTO-LINEAGE-7]; absent for changes logged before chains, or made up by a proxy's reload. */
  chain?: string;
  op: ChangeOp;
  type: ObjectType;
  previous?: { tenant: number; folder: number };
  frame: Buffer;
  /** For proxies only, written just before `frame`: the CredentialChanged of this seq. */
  proxyFrame?: Buffer;
  /**
   * For readers the change took the object away from (it moved where they may not read): an
   * ObjectDeleted marked `outOfView`, without the content. Encoded when first needed.
   */
  outOfViewFrame?: Buffer;
}

/** Which notification a session gets for a change it receives. */
export type ChangeView = 'full' | 'out-of-view';

/** The out-of-view notification of a change, encoded once and kept with it. */
export function outOfViewFrame(change: ChangeRecord): Buffer {
  change.outOfViewFrame ??= encodeFrame({ kind: Kind.ObjectDeleted, seq: change.seq, at: change.at, type: change.type, dbid: change.dbid, outOfView: true, ...(change.chain ? { chain: change.chain } : {}) });
  return change.outOfViewFrame;
}

/** The changes after a seq, or word that the log no longer reaches back that far. */
export type ChangesAfter =
  | { kind: 'changes'; changes: Iterable<ChangeRecord> }
  | { kind: 'expired'; oldestSeq: number };
