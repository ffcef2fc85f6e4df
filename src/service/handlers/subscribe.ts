import { Kind, type SubscribeMessage, type UnsubscribeMessage } from '../../../protocol/index.js';
import type { ClientSession } from '../session.js';

/** Subscribe [PROTO-SUB-1]: live from the seq in the Ack on. */
export function handleSubscribe(session: ClientSession, message: SubscribeMessage): void {
  session.addSubscription(message.filter);
  session.host.sessionChanged(session);
  session.send({ kind: Kind.Ack, id: message.id, seq: session.host.source.appliedSeq() });
}

/** Unsubscribe [PROTO-SUB-3]: removing a filter that is not held is not an error. */
export function handleUnsubscribe(session: ClientSession, message: UnsubscribeMessage): void {
  if (session.removeSubscription(message.filter)) session.host.sessionChanged(session);
  session.send({ kind: Kind.Ack, id: message.id, seq: session.host.source.appliedSeq() });
}
