import { Kind } from '../../../protocol/index.js';
import { sameLineage } from '../../model/lineage.js';
import { pacingHighWater } from '../limits.js';
import type { ClientSession } from '../session.js';
import type { ConfigSource } from '../source.js';

/**
 * Replays what a restored session missed [PROTO-RESTORE-2], paced: the log is read in batches and
 * the next batch waits until the client has taken the last, so a long absence cannot overrun the
 * client's byte limit. Live notifications are held off (`catchingUp`) until the replay reaches
 * the end of the log; the switch to live happens in the same synchronous step as that last read,
 * so no change is skipped or sent twice.
 */
export async function replay(session: ClientSession, afterSeq: number): Promise<number> {
  const { source, limits } = session.host;
  const highWater = pacingHighWater(limits);
  const parentOf = source.store.folderParent;
  let cursor = afterSeq;
  let replayed = 0;
  const lineage = source.lineage();
  try {
    for (;;) {
      // The server moved to another lineage while we paced: it has reset this session already.
      if (!sameLineage(source.lineage(), lineage)) return replayed;
      const history = source.changesAfter(cursor);
      if (history.kind === 'expired') {
        // Pruned while we paced: the client must re-read after all.
        const chain = source.chain();
        session.send({ kind: Kind.HistoryLogExpired, lastSeq: cursor, oldestSeq: history.oldestSeq, seq: source.appliedSeq(), lineage: source.lineage(), ...(chain !== undefined ? { chain } : {}) });
        return replayed;
      }
      session.requirePrincipal(); // an account removed meanwhile ends the replay
      let full = false;
      for (const change of history.changes) {
        cursor = change.seq;
        const view = session.view(change, parentOf);
        if (view) {
          if (!session.deliver(change, view)) return replayed;
          replayed += 1;
        }
        if (session.connection.queuedBytes >= highWater) {
          full = true;
          break; // leaving the loop closes the log's cursor before we wait
        }
      }
      if (!full) return replayed; // caught up: live from this very step
      await session.connection.waitUntilQueuedBelow(highWater / 2);
      if (!session.connection.isOpen) return replayed;
    }
  } finally {
    // Live from here: the session joins its audience in this same synchronous step.
    session.catchingUp = false;
    session.host.sessionChanged(session);
  }
}

/**
 * Whether this server's log holds, at the presented seq, the chain hash the client presents: Raft's
 * log matching [PROTO-LINEAGE-7]. A position without a chain (an older client), or at a seq whose
 * chain this server no longer knows, is taken on its lineage alone.
 */
export function sameHistory(source: ConfigSource, position: { lastSeq: number; chain?: string }): boolean {
  if (position.chain === undefined) return true;
  const known = chainAt(source, position.lastSeq);
  return known === undefined || known === position.chain;
}

/** The chain hash at `seq` in this server's log, or undefined when it no longer (or never) held it. */
export function chainAt(source: ConfigSource, seq: number): string | undefined {
  if (seq === source.appliedSeq()) return source.chain();
  const history = source.changesAfter(seq - 1);
  if (history.kind === 'expired') return undefined;
  for (const change of history.changes) return change.seq === seq ? change.chain : undefined;
  return undefined;
}
