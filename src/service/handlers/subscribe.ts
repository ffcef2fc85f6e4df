import { CfgError, ErrorCode, Kind, type SubscribeMessage, type UnsubscribeMessage } from '../../../protocol/index.js';
import { sameLineage } from '../../model/lineage.js';
import type { ClientSession } from '../session.js';
import { replay, sameHistory } from './replay.js';

/** Subscribe [PROTO-SUB-1]: live from the seq in the Ack on; with `afterSeq`, from just after it [PROTO-SUB-5]. */
export function handleSubscribe(session: ClientSession, message: SubscribeMessage): void | Promise<void> {
  if (message.afterSeq !== undefined) return subscribeAfter(session, message, message.afterSeq);
  session.addSubscription(message.filter);
  session.host.sessionChanged(session);
  session.send({ kind: Kind.Ack, id: message.id, seq: session.host.source.appliedSeq() });
}

/**
 * A subscription that follows on from a position (a snapshot loaded at `afterSeq`): the session
 * stays out of the live stream while what came after is replayed, and joins it in the same step
 * as the replay's last read, as a restore does, so nothing is missed or sent twice.
 */
async function subscribeAfter(session: ClientSession, message: SubscribeMessage, afterSeq: number): Promise<void> {
  if (session.subscriptions.size > 0) throw new CfgError(ErrorCode.INVALID_MESSAGE, 'Subscribe with afterSeq must be the session\'s first subscription: a replay would repeat what its others were sent');
  if (afterSeq < session.lastDeliveredSeq) throw new CfgError(ErrorCode.INVALID_MESSAGE, `afterSeq ${afterSeq} is behind this session's position ${session.lastDeliveredSeq}`);
  const { source } = session.host;
  const seq = source.appliedSeq();
  const lineage = source.lineage();
  const position = { lastSeq: afterSeq, ...(message.chain !== undefined ? { chain: message.chain } : {}) };
  const history = !sameLineage(message.lineage ?? lineage, lineage) || afterSeq > seq || !sameHistory(source, position) ? ({ kind: 'expired', oldestSeq: seq + 1 } as const) : source.changesAfter(afterSeq);
  session.catchingUp = history.kind !== 'expired';
  session.addSubscription(message.filter);
  session.host.sessionChanged(session);
  session.send({ kind: Kind.Ack, id: message.id, seq });
  if (history.kind === 'expired') {
    const chain = source.chain();
    session.send({ kind: Kind.HistoryLogExpired, lastSeq: afterSeq, oldestSeq: history.oldestSeq, seq, lineage, ...(chain !== undefined ? { chain } : {}) });
    return;
  }
  await replay(session, afterSeq);
}

/** Unsubscribe [PROTO-SUB-3]: removing a filter that is not held is not an error. */
export function handleUnsubscribe(session: ClientSession, message: UnsubscribeMessage): void {
  if (session.removeSubscription(message.filter)) session.host.sessionChanged(session);
  session.send({ kind: Kind.Ack, id: message.id, seq: session.host.source.appliedSeq() });
}
