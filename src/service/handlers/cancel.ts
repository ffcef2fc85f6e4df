import type { CancelMessage } from '../../../protocol/index.js';
import type { ClientSession } from '../session.js';

/** Cancel [PROTO-CANCEL-1]: the client no longer waits for a long request; no answer. */
export function handleCancel(session: ClientSession, message: CancelMessage): void {
  if (session.cancel(message.id)) session.logger.info({ session: session.id, client: session.clientName, request: message.id }, 'request withdrawn by the client');
}
