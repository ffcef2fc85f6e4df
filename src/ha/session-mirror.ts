import type { JournalRecord } from '../../protocol/index.js';
import type { HistoryLog, SessionRecord } from '../history/history-log.js';

/**
 * A backup's copy of the primary's client sessions [PROTO-HA-3]: the journal's session records
 * applied to a map and to the history log, where a restore finds them after a failover (by the
 * client's position, or by session id alone [PROTO-RESTORE-5]).
 */
export class SessionMirror {
  readonly sessions = new Map<string, SessionRecord>();

  constructor(private readonly history: HistoryLog) {}

  /** Applies one session record; change records are not for the mirror. */
  apply(record: JournalRecord): void {
    switch (record.k) {
      case 'reset':
        this.sessions.clear();
        this.history.clearSessions();
        return;
      case 'open': {
        const session: SessionRecord = { id: record.id, personDbid: record.person, clientName: record.clientName, clientType: record.clientType, subscriptions: record.subs, lastSeq: record.pos, closed: false };
        this.sessions.set(record.id, session);
        this.history.recordSession(session);
        return;
      }
      case 'subs': {
        const session = this.sessions.get(record.id);
        if (session) this.history.recordSession(Object.assign(session, { subscriptions: record.subs }));
        return;
      }
      case 'pos':
        for (const [id, seq] of record.positions) {
          const session = this.sessions.get(id);
          if (session) this.history.recordSession(Object.assign(session, { lastSeq: seq }));
        }
        return;
      case 'close': {
        const session = this.sessions.get(record.id);
        if (session) this.history.recordSession({ ...session, closed: true });
        this.sessions.delete(record.id);
        return;
      }
      default:
        return;
    }
  }
}
