import { CfgError, ErrorCode, Kind, OBJECT_TYPES, type ConfigObject, type LoadSnapshotMessage } from '../../../protocol/index.js';
import { pacingHighWater } from '../limits.js';
import type { ClientSession } from '../session.js';

/**
 * LoadSnapshot [PROTO-PROXY-2]: everything, with the password hashes of the persons, for a proxy.
 * The object list is taken in one synchronous step at seq S (objects are immutable), then streamed
 * at the pace the proxy reads. At most `maxSnapshotLoads` proxies load at once; the others wait
 * (and go on serving their old data) [PROTO-PROXY-3].
 */
export async function handleLoadSnapshot(session: ClientSession, message: LoadSnapshotMessage): Promise<void> {
  if (!session.isProxy) throw new CfgError(ErrorCode.PERMISSION_DENIED, 'LoadSnapshot is for proxies (Register with clientType "proxy")');
  const { source, limits } = session.host;
  const release = await session.host.snapshotLoads.acquire();
  try {
    if (!session.connection.isOpen) return;
    const seq = source.appliedSeq();
    const objects: ConfigObject[] = [];
    for (const type of OBJECT_TYPES) for (const object of source.store.all(type)) objects.push(object);
    session.logger.info({ session: session.id, client: session.clientName, objects: objects.length, seq }, 'proxy snapshot load started');
    for (let start = 0; start < objects.length; start += limits.readChunkObjects) {
      if (!session.connection.isOpen) return;
      await session.connection.waitUntilQueuedBelow(pacingHighWater(limits));
      const chunk = objects.slice(start, start + limits.readChunkObjects);
      const credentials: Array<[number, string]> = [];
      for (const object of chunk) {
        const hash = object.type === 'Person' ? source.credentialOf(object.dbid) : undefined;
        if (hash !== undefined) credentials.push([object.dbid, hash]);
      }
      session.send({ kind: Kind.ObjectsChunk, id: message.id, objects: chunk, total: objects.length, ...(credentials.length > 0 ? { credentials } : {}) });
    }
    await session.connection.waitUntilQueuedBelow(pacingHighWater(limits));
    session.send({ kind: Kind.ReadEnd, id: message.id, total: objects.length, seq });
  } finally {
    release();
  }
}
