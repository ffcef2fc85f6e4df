import { Kind, type CreateObjectMessage, type DeleteObjectMessage, type UpdateObjectMessage } from '../../../protocol/index.js';
import type { ClientSession } from '../session.js';

/** CreateObject [PROTO-WRITE-1]: answered with the new dbid and the change's seq. */
export async function handleCreateObject(session: ClientSession, message: CreateObjectMessage): Promise<void> {
  const outcome = await session.host.source.create(session.requirePrincipal(), message.object);
  session.send({ kind: Kind.WriteResult, id: message.id, ...outcome });
}

/** UpdateObject [PROTO-WRITE-2]: a delta; an empty delta commits nothing and returns the current seq. */
export async function handleUpdateObject(session: ClientSession, message: UpdateObjectMessage): Promise<void> {
  const outcome = await session.host.source.update(session.requirePrincipal(), message.type, message.dbid, message.delta);
  session.send({ kind: Kind.WriteResult, id: message.id, ...outcome });
}

/** DeleteObject [PROTO-WRITE-3]: refused with OBJECT_IN_USE while anything references the object. */
export async function handleDeleteObject(session: ClientSession, message: DeleteObjectMessage): Promise<void> {
  const outcome = await session.host.source.delete(session.requirePrincipal(), message.type, message.dbid);
  session.send({ kind: Kind.WriteResult, id: message.id, ...outcome });
}
