import { open, rm } from 'node:fs/promises';
import { CfgError, ErrorCode, Kind, type BackupDatabaseMessage } from '../../../protocol/index.js';
import { pacingHighWater } from '../limits.js';
import type { ClientSession } from '../session.js';
import { systemClock } from '../../util/clock.js';

/** Bytes of the copy per BackupChunk: well under every frame limit. */
const BACKUP_CHUNK_BYTES = 1024 * 1024;

/**
 * BackupDatabase [PROTO-BACKUP-1], administrators only: the server takes an online copy of its
 * configuration database into a private temporary file beside it (writes go on meanwhile), streams
 * it at the pace the client reads, and deletes it. The copy keeps identity, seq, dbids and password hashes,
 * and is marked as a backup, so a master started on it begins a new generation.
 */
export async function handleBackupDatabase(session: ClientSession, message: BackupDatabaseMessage): Promise<void> {
  const principal = session.requirePrincipal();
  if (!principal.isAdmin) throw new CfgError(ErrorCode.PERMISSION_DENIED, `${principal.user} may not back up the database: it holds every password hash (administrators only)`);
  const { source, limits } = session.host;
  if (!source.backupDatabase) {
    throw new CfgError(ErrorCode.UNKNOWN_KIND, `a ${source.serverKind} keeps no configuration database; back up the master`);
  }
  const backup = source.backupDatabase.bind(source);
  await session.runCancellable(message.id, async (cancellation) => {
    const startedAt = systemClock.now();
    const mark = await backup();
    const path = mark.path;
    try {
      const file = await open(path, 'r');
      try {
        const { size } = await file.stat();
        let sent = 0;
        while (sent < size) {
          if (!(await cancellation.paced(pacingHighWater(limits)))) return;
          const data = Buffer.allocUnsafe(Math.min(BACKUP_CHUNK_BYTES, size - sent));
          const { bytesRead } = await file.read(data, 0, data.length, sent);
          if (bytesRead === 0) break;
          session.send({ kind: Kind.BackupChunk, id: message.id, data: data.subarray(0, bytesRead), size });
          sent += bytesRead;
        }
        if (!(await cancellation.paced(pacingHighWater(limits)))) return;
        session.send({ kind: Kind.BackupEnd, id: message.id, size: sent, seq: mark.seq, lineage: mark.lineage });
        session.logger.info({ client: session.clientName, user: principal.user, bytes: sent, seq: mark.seq, ms: Math.round(systemClock.now() - startedAt) }, 'database backup sent');
      } finally {
        await file.close();
      }
    } finally {
      await rm(path, { force: true });
    }
  });
}
