import { CfgError, ErrorCode, Kind, OBJECT_TYPES, type ConfigObject, type LoadSnapshotMessage } from '../../../protocol/index.js';
import { DECOY_KEY_DBID } from '../../model/credentials.js';
import { chunksOf } from '../chunks.js';
import { pacingHighWater } from '../limits.js';
import type { ClientSession } from '../session.js';
import { every, systemClock } from '../../util/clock.js';

/** While a load waits for its turn, an empty chunk this often tells the proxy it is queued, not lost. */
const QUEUED_HEARTBEAT_MS = 5_000;

/**
 * LoadSnapshot [PROTO-PROXY-2]: everything, with the password hashes of the persons, for a proxy.
 * The object list is taken in one synchronous step at seq S (objects are immutable), then streamed
 * at the pace the proxy reads. At most `maxSnapshotLoads` proxies load at once; the others wait
 * (and go on serving their old data), told every few seconds by an empty chunk that they are still
 * queued [PROTO-PROXY-3]. A load the proxy withdraws (Cancel) or
 * abandons (its connection closes) stops at the next chunk and frees its place [PROTO-CANCEL-1].
 */
export async function handleLoadSnapshot(session: ClientSession, message: LoadSnapshotMessage): Promise<void> {
  if (!session.isProxy) throw new CfgError(ErrorCode.PERMISSION_DENIED, 'LoadSnapshot is for proxies (Register with clientType "proxy")');
  const { source, limits } = session.host;
  await session.runCancellable(message.id, async (cancellation) => {
    const stopHeartbeat = every(systemClock, QUEUED_HEARTBEAT_MS, () => session.send({ kind: Kind.ObjectsChunk, id: message.id, objects: [] }));
    const release = await session.host.snapshotLoads.acquire().finally(stopHeartbeat);
    try {
      if (cancellation.cancelled) return;
      const seq = source.appliedSeq();
      const lineage = source.lineage();
      const chain = source.chain();
      const objects: ConfigObject[] = [];
      for (const type of OBJECT_TYPES) for (const object of source.store.all(type)) objects.push(object);
      session.logger.info({ session: session.id, client: session.clientName, objects: objects.length, seq }, 'proxy snapshot load started');
      let sent = 0;
      // The deployment's decoy key travels with the verifiers, in the first chunk [PROTO-PROXY-2].
      const decoyKey = source.credentialOf(DECOY_KEY_DBID);
      for (const chunk of chunksOf(objects, limits.readChunkObjects, limits.readChunkBytes)) {
        if (!(await cancellation.paced(pacingHighWater(limits)))) {
          session.logger.info({ session: session.id, client: session.clientName, sent, objects: objects.length }, 'proxy snapshot load cancelled');
          return;
        }
        sent += chunk.length;
        const credentials: Array<[number, string]> = sent === chunk.length && decoyKey !== undefined ? [[DECOY_KEY_DBID, decoyKey]] : [];
        for (const object of chunk) {
          const hash = object.type === 'Person' ? source.credentialOf(object.dbid) : undefined;
          if (hash !== undefined) credentials.push([object.dbid, hash]);
        }
        session.send({ kind: Kind.ObjectsChunk, id: message.id, objects: chunk, total: objects.length, ...(credentials.length > 0 ? { credentials } : {}) });
      }
      if (await cancellation.paced(pacingHighWater(limits))) session.send({ kind: Kind.ReadEnd, id: message.id, total: objects.length, seq, lineage, ...(chain ? { chain } : {}) });
    } finally {
      release();
    }
  });
}
