import { Kind, type ReadObjectsMessage } from '../../../protocol/index.js';
import { chunksOf } from '../chunks.js';
import { pacingHighWater } from '../limits.js';
import type { ClientSession } from '../session.js';

/**
 * ReadObjects [PROTO-READ-1..3]: the matching objects the user may read, in chunks, then ReadEnd
 * with the total and the seq the read is a snapshot of. The object list is taken in one step
 * (objects are immutable), then streamed at the pace the client reads.
 */
export async function handleReadObjects(session: ClientSession, message: ReadObjectsMessage): Promise<void> {
  const { source, limits } = session.host;
  const principal = session.requirePrincipal();
  const seq = source.appliedSeq();
  const chain = source.chain();
  const parentOf = source.store.folderParent;
  const objects = source.store.find(message.objectType, message.filter).filter((object) => principal.canRead(object, parentOf));
  session.holdForRead(objects.length);
  try {
    for (const chunk of chunksOf(objects, limits.readChunkObjects, limits.readChunkBytes)) {
      if (!session.connection.isOpen) return;
      await session.connection.waitUntilQueuedBelow(pacingHighWater(limits));
      session.send({ kind: Kind.ObjectsChunk, id: message.id, objects: chunk });
    }
  } finally {
    session.releaseRead(objects.length);
  }
  session.send({ kind: Kind.ReadEnd, id: message.id, total: objects.length, seq, lineage: source.lineage(), ...(chain ? { chain } : {}) });
}
