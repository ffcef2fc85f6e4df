import { randomUUID } from 'node:crypto';
import type { JournalRecord } from '../../protocol/index.js';

type WithoutR<T> = T extends unknown ? Omit<T, 'r'> : never;
export type JournalEntry = WithoutR<JournalRecord>;

/**
 * The primary's session journal [PROTO-HA-3]: numbered records of client-session events and
 * applied changes, kept in a bounded ring so a backup that reconnects is sent only what it missed.
 * A backup further behind than the ring reaches gets a snapshot of the sessions instead.
 */
export class Journal {
  /** Identifies this journal's numbering: a restarted primary starts a new one. */
  readonly id = randomUUID();
  private records: JournalRecord[] = [];
  private start = 0;
  private nextR = 1;
  private readonly listeners = new Set<() => void>();

  constructor(private readonly capacity: number) {}

  get lastRecord(): number {
    return this.nextR - 1;
  }

  append(entry: JournalEntry): void {
    this.records.push({ ...entry, r: this.nextR++ } as JournalRecord);
    if (this.records.length - this.start > this.capacity) {
      this.start += 1;
      // Compact now and then rather than shifting on every append.
      if (this.start > this.capacity) {
        this.records = this.records.slice(this.start);
        this.start = 0;
      }
    }
    for (const listener of this.listeners) listener();
  }

  /** The records after `r`, or undefined when the ring no longer reaches back so far. */
  after(r: number): JournalRecord[] | undefined {
    const first = this.records[this.start]?.r ?? this.nextR;
    if (r + 1 < first) return undefined;
    return this.records.slice(this.start + (r + 1 - first));
  }

  onAppend(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}
