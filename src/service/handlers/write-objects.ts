import { CfgError, ErrorCode, Kind, type CreateObjectMessage, type DeleteObjectMessage, type UpdateObjectMessage } from '../../../protocol/index.js';
import { requireSameLineage } from '../../model/lineage.js';
import type { Principal } from '../../model/permissions.js';
import type { ClientSession } from '../session.js';

type WriteMessage = CreateObjectMessage | UpdateObjectMessage | DeleteObjectMessage;

/** CreateObject [PROTO-WRITE-1]: answered with the new dbid and the change's seq. */
export async function handleCreateObject(session: ClientSession, message: CreateObjectMessage): Promise<void> {
  const outcome = await session.host.source.create(writer(session, message), message.object);
  session.send({ kind: Kind.WriteResult, id: message.id, ...outcome });
}

/** UpdateObject [PROTO-WRITE-2]: a delta; an empty delta commits nothing and returns the current seq. */
export async function handleUpdateObject(session: ClientSession, message: UpdateObjectMessage): Promise<void> {
  const outcome = await session.host.source.update(writer(session, message), message.type, message.dbid, message.delta);
  session.send({ kind: Kind.WriteResult, id: message.id, ...outcome });
}

/** DeleteObject [PROTO-WRITE-3]: refused with OBJECT_IN_USE while anything references the object. */
export async function handleDeleteObject(session: ClientSession, message: DeleteObjectMessage): Promise<void> {
  const outcome = await session.host.source.delete(writer(session, message), message.type, message.dbid);
  session.send({ kind: Kind.WriteResult, id: message.id, ...outcome });
}

/**
 * Whose permissions a write is checked against: the session's user, or the person a proxy names
 * [PROTO-PROXY-4]. A write made against another lineage is refused first: its dbids may name other
 * objects here [PROTO-LINEAGE-5].
 */
function writer(session: ClientSession, message: WriteMessage): Principal {
  requireSameLineage(session.host.source.lineage(), message.lineage, 'the write');
  if (message.onBehalfOf === undefined) return session.requirePrincipal();
  if (!session.isProxy) throw new CfgError(ErrorCode.PERMISSION_DENIED, 'only a proxy may write on behalf of another person');
  const principal = session.host.source.principal(message.onBehalfOf);
  if (!principal) throw new CfgError(ErrorCode.AUTH_FAILED, `person ${message.onBehalfOf} does not exist or is disabled`);
  return principal;
}
