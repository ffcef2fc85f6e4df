import type { JournalRecord, NotificationFilter } from '../../protocol/index.js';
import type { Journal } from './journal.js';

/** What the journal records of a client session (the service's JournaledSession is one). */
export interface JournaledSession {
  readonly id: string;
  readonly state: string;
  readonly personDbid: number;
  readonly clientName: string;
  readonly clientType: string;
  readonly lastDeliveredSeq: number;
  readonly subscriptions: ReadonlyMap<string, NotificationFilter>;
}

/**
 * The primary's side of the session journal [PROTO-HA-3]: client sessions opening, changing
 * subscriptions and closing become records while `journaling()` (this member is primary), and
 * positions are batched: one record per tick for the sessions whose position moved.
 */
export class JournalWriter {
  private readonly positions = new Map<string, number>();

  constructor(
    private readonly journal: Journal,
    private readonly sessions: () => Iterable<JournaledSession>,
    private readonly journaling: () => boolean,
  ) {}

  sessionOpened(session: JournaledSession): void {
    if (!this.journaling()) return;
    this.journal.append(openRecord(session));
    this.positions.set(session.id, session.lastDeliveredSeq);
  }

  sessionChanged(session: JournaledSession): void {
    if (this.journaling()) this.journal.append({ k: 'subs', id: session.id, subs: [...session.subscriptions.values()] });
  }

  sessionClosed(session: JournaledSession): void {
    if (!this.journaling()) return;
    this.journal.append({ k: 'close', id: session.id });
    this.positions.delete(session.id);
  }

  /** One tick: a `pos` record for the sessions whose position moved since the last. */
  writePositions(): void {
    if (!this.journaling()) return;
    const moved: Array<[string, number]> = [];
    for (const session of this.sessions()) {
      if (session.state !== 'active') continue;
      if (this.positions.get(session.id) === session.lastDeliveredSeq) continue;
      this.positions.set(session.id, session.lastDeliveredSeq);
      moved.push([session.id, session.lastDeliveredSeq]);
    }
    if (moved.length > 0) this.journal.append({ k: 'pos', positions: moved });
  }

  /** Every live session now, as `open` records (a sessions snapshot for a backup that needs one). */
  snapshot(): Array<Extract<JournalRecord, { k: 'open' }>> {
    return [...this.sessions()].filter((s) => s.state === 'active').map(openRecord);
  }
}

function openRecord(session: JournaledSession): Extract<JournalRecord, { k: 'open' }> {
  return { r: 0, k: 'open', id: session.id, person: session.personDbid, clientName: session.clientName, clientType: session.clientType, subs: [...session.subscriptions.values()], pos: session.lastDeliveredSeq };
}
