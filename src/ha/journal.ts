import { randomUUID } from 'node:crypto';
import type { JournalRecord } from '../../protocol/index.js';
import { approximateBytes } from '../util/approximate-bytes.js';
import { Ring } from '../util/ring.js';

/** The journal's memory bound: past it the oldest records go, and a backup that needs them gets a snapshot [ARCH-5]. */
export const DEFAULT_JOURNAL_BYTES = 64 * 1024 * 1024;

type WithoutR<T> = T extends unknown ? Omit<T, 'r'> : never;
export type JournalEntry = WithoutR<JournalRecord>;

/**
 * The primary's session journal [PROTO-HA-3]: numbered records of client-session events and
 * applied changes, kept in a ring bounded by count and bytes so a backup that reconnects is sent
 * only what it missed.
 * A backup further behind than the ring reaches gets a snapshot of the sessions instead.
 */
export class Journal {
  /** Identifies this journal's numbering: a restarted primary starts a new one. */
  readonly id = randomUUID();
  private readonly records: Ring<JournalRecord>;
  private nextR = 1;
  private readonly listeners = new Set<() => void>();

  constructor(capacity: number, maxBytes = DEFAULT_JOURNAL_BYTES) {
    this.records = new Ring<JournalRecord>(capacity, { maxBytes, sizeOf: approximateBytes });
  }

  /** What the records in memory take, about. */
  get bytes(): number {
    return this.records.size;
  }

  get lastRecord(): number {
    return this.nextR - 1;
  }

  append(entry: JournalEntry): void {
    this.records.push({ ...entry, r: this.nextR++ } as JournalRecord);
    for (const listener of this.listeners) listener();
  }

  /** The records after `r`, or undefined when the ring no longer reaches back so far. */
  after(r: number): JournalRecord[] | undefined {
    const first = this.records.at(0)?.r ?? this.nextR;
    if (r + 1 < first) return undefined;
    return this.records.from(r + 1 - first);
  }

  onAppend(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}

/**
 * Whether `records` continue a journal received up to `last` [PROTO-SEQ-2]: each record is the next
 * number, except a snapshot's (a `reset` record, then its sessions at the same number). `broken`
 * says why not; otherwise `inSnapshot` is where the stream now stands.
 */
export function continueJournal(records: readonly JournalRecord[], last: number, inSnapshot: boolean): { broken?: string; inSnapshot: boolean } {
  for (const record of records) {
    if (record.k === 'reset') inSnapshot = true;
    else if (!(inSnapshot && record.r === last) && record.r !== last + 1) return { broken: `journal record ${record.r} follows record ${last}`, inSnapshot };
    else if (record.r !== last) inSnapshot = false;
    last = record.r;
  }
  return { inSnapshot };
}
