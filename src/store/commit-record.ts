import { closeSync, openSync, readFileSync, writeSync } from 'node:fs';
import type { Lineage } from '../../protocol/index.js';

/** A position in a database's history: its lineage, a seq, and the chain hash there [PROTO-LINEAGE-7]. */
export interface CommittedPosition {
  lineage: Lineage;
  seq: number;
  chain?: string;
}

/** The record is one fixed-size write at offset 0: small enough that a crash cannot tear it. */
const RECORD_BYTES = 256;

/**
 * The last position this master committed, kept in a small file beside its database
 * (`<db>.head`). The database alone cannot tell that it was put back: a copy restored by hand holds
 * its own history and nothing else. Written after the event-loop turn that committed (one write
 * for all of a turn's commits), so it lags the database by at most that turn but is never ahead.
 */
export class CommitRecord {
  private pending: CommittedPosition | undefined;
  private scheduled: NodeJS.Immediate | null = null;
  private fd: number | undefined;

  constructor(readonly path: string) {}

  read(): CommittedPosition | undefined {
    let text: string;
    try {
      text = readFileSync(this.path, 'utf8').trim(); // padded with spaces
    } catch {
      return undefined;
    }
    try {
      const parsed = JSON.parse(text) as CommittedPosition;
      return typeof parsed.seq === 'number' && typeof parsed.lineage?.id === 'string' ? parsed : undefined;
    } catch {
      return undefined; // foreign: as if there were none
    }
  }

  note(position: CommittedPosition): void {
    this.pending = position;
    this.scheduled ??= setImmediate(() => this.flush());
  }

  /** Writes what was noted, over the previous record. */
  flush(): void {
    if (this.scheduled) clearImmediate(this.scheduled);
    this.scheduled = null;
    const position = this.pending;
    this.pending = undefined;
    if (!position) return;
    try {
      this.fd ??= openSync(this.path, 'w', 0o600);
      const record = Buffer.alloc(RECORD_BYTES, 0x20);
      record.write(JSON.stringify(position));
      writeSync(this.fd, record, 0, RECORD_BYTES, 0);
    } catch {
      // A full disk: the record lags further, which is safe (it is only ever behind).
    }
  }

  close(): void {
    this.flush();
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }
}

/** What a database says of its own history, for `discontinuity`. */
export interface DatabaseHistory {
  lineage: Lineage;
  newestSeq: number;
  /** The chain hash the database's log holds at `seq`; undefined when it no longer (or never) held one. */
  chainAt(seq: number): string | undefined;
}

/**
 * Why a database is not the one this master last committed to, or undefined when it is (or cannot
 * be told) [PROTO-LINEAGE-1]: an older generation than the one committed, a log that ends before
 * the last committed seq, or another change at that seq. Another lineage id is another database
 * put in place on purpose, with a seq space of its own: nothing to mix.
 */
export function discontinuity(recorded: CommittedPosition | undefined, db: DatabaseHistory): string | undefined {
  if (!recorded || recorded.lineage.id !== db.lineage.id) return undefined;
  if (recorded.lineage.generation > db.lineage.generation) return `it is of generation ${db.lineage.generation}, but this master last committed in generation ${recorded.lineage.generation}`;
  if (recorded.lineage.generation < db.lineage.generation) return undefined;
  if (db.newestSeq < recorded.seq) return `its log ends at seq ${db.newestSeq}, but this master last committed seq ${recorded.seq}`;
  const chain = db.chainAt(recorded.seq);
  if (recorded.chain !== undefined && chain !== undefined && chain !== recorded.chain) return `it holds another change at seq ${recorded.seq} than the one this master committed`;
  return undefined;
}
