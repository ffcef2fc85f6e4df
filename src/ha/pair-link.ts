import {
  encodeFrame,
  ErrorCode,
  HaKind,
  Kind,
  type HaMessage,
  type HaRole,
  type JournalPosition,
  type JournalRecord,
} from '../../protocol/index.js';
import type { Connection } from '../net/connection.js';
import { approximateBytes } from '../util/approximate-bytes.js';
import type { Logger } from '../util/logger.js';
import { continueJournal, type Journal } from './journal.js';
import type { PeerStatus, TakeOverOutcome } from './pair-machine.js';
import { systemClock } from '../util/clock.js';

/** Counters of the journal traffic, kept across links. */
export interface JournalTraffic {
  recordsSent: number;
  bytesSent: number;
  recordsReceived: number;
  bytesReceived: number;
  snapshots: number;
  /** The last record of our journal the peer acknowledged. */
  ackedUpTo: number;
}

/** What a link needs from the pair member that owns it. */
export interface PairLinkHost {
  /** The backup's Status [PROTO-HA-11]. */
  onPeerStatus(status: PeerStatus): void;
  role(): HaRole;
  readonly journal: Journal;
  readonly traffic: JournalTraffic;
  readonly settings: { chunkSize: number; chunkTimeoutMs: number; maxSessionsSyncAtOnce: number; addpTimeoutMs: number };
  /** Every current client session, as journal 'open' entries (for a snapshot). */
  sessionsSnapshot(): Array<Extract<JournalRecord, { k: 'open' }>>;
  /** How far we got in the peer's journal; kept across links so a new link resumes. */
  received: JournalPosition | undefined;
  onRecords(records: JournalRecord[]): void;
  /** As backup: the primary asks us to take over once `seq` is applied; answered with `replyTakeOver`. */
  onTakeOverAsked(seq: number): void;
  onLinkClosed(link: PairLink, reason: string): void;
  /** The peer asks for the primary role back, or reports it finished a protected-mode reload. */
  onPeerRequest(request: 'take-back' | 'backup-reloaded'): void;
  readonly logger: Logger;
}

/** About how many bytes of journal records one Records frame carries. */
const RECORDS_FRAME_BYTES = 4 * 1024 * 1024;

/**
 * An established HA link, whichever side dialed: the side that is primary streams its journal
 * (resuming after the peer's position, or a paced sessions snapshot first) in acknowledged
 * chunks; the other stores what it receives. A switchover turns the stream around on the same
 * link [PROTO-HA-3..6].
 */
export class PairLink {
  private sentUpTo = 0;
  private pending: JournalRecord[] = [];
  private chunkTimer: unknown = null;
  private snapshotTimer: unknown = null;
  private sending = false;
  private stopListening: (() => void) | null = null;
  private open = true;
  private switchoverReply: ((outcome: { outcome: TakeOverOutcome; message: string }) => void) | null = null;

  constructor(
    private readonly connection: Connection<HaMessage>,
    private readonly host: PairLinkHost,
    /** How far the peer got in our journal, from its Hello or Welcome. */
    private peerReceived: JournalPosition | undefined,
    readonly peerClientEndpoint: string,
  ) {
    connection.socket.on('data', (chunk: Buffer) => (host.traffic.bytesReceived += chunk.length));
    connection.setHandler({
      onMessage: (message) => this.onMessage(message),
      onInvalidMessage: (error) => connection.close({ code: error.code, message: error.message }),
      onClose: (reason) => this.onClose(reason.message),
    });
    connection.startKeepalive(host.settings.addpTimeoutMs);
  }

  get isOpen(): boolean {
    return this.open;
  }

  /** How long the peer has said nothing (ADDP polls it when idle, so a live peer is never silent for long). */
  silentForMs(): number {
    return this.connection.silentForMs();
  }

  /** As primary: stream the journal, from where the peer is or from a sessions snapshot. */
  startSending(): void {
    if (this.sending || !this.open) return;
    this.sending = true;
    const { journal } = this.host;
    const resumed = this.peerReceived?.journalId === journal.id && journal.after(this.peerReceived.lastRecord) !== undefined;
    this.connection.send({ kind: HaKind.StreamStart, journalId: journal.id, resumed });
    this.stopListening = journal.onAppend(() => this.onAppend());
    if (resumed) {
      this.sentUpTo = this.peerReceived!.lastRecord;
      this.sendMissed();
    } else {
      this.sendSnapshot();
    }
  }

  /** No longer primary: the stream stops (the peer will send its own). */
  stopSending(): void {
    this.sending = false;
    this.stopListening?.();
    this.stopListening = null;
    if (this.chunkTimer) systemClock.clearTimeout(this.chunkTimer);
    if (this.snapshotTimer) systemClock.clearTimeout(this.snapshotTimer);
    this.chunkTimer = this.snapshotTimer = null;
    this.pending = [];
  }

  /** As primary: ask the peer to take over once it has applied `seq`. */
  requestSwitchover(seq: number, timeoutMs: number): Promise<{ outcome: TakeOverOutcome; message: string }> {
    return new Promise((resolve) => {
      const timer = systemClock.setTimeout(() => finish({ outcome: 'no-answer', message: `the backup did not take over within ${timeoutMs} ms` }), timeoutMs);
      const finish = (outcome: { outcome: TakeOverOutcome; message: string }): void => {
        systemClock.clearTimeout(timer);
        this.switchoverReply = null;
        resolve(outcome);
      };
      this.switchoverReply = finish;
      this.flushPending();
      this.connection.send({ kind: HaKind.Switchover, seq });
    });
  }

  /** Set by a `reset` record: the sessions of a snapshot that follow carry its number. */
  private inSnapshot = false;

  private journalBreak(records: readonly JournalRecord[]): string | undefined {
    const outcome = continueJournal(records, this.host.received?.lastRecord ?? 0, this.inSnapshot);
    if (outcome.broken === undefined) this.inSnapshot = outcome.inSnapshot;
    return outcome.broken;
  }

  private onMessage(message: HaMessage): void {
    switch (message.kind) {
      case HaKind.StreamStart:
        this.inSnapshot = false;
        if (!message.resumed || this.host.received?.journalId !== message.journalId) this.host.received = { journalId: message.journalId, lastRecord: 0 };
        return;
      case HaKind.Records: {
        // Only a backup stores what its primary streams: a primary applies nobody's records, so a
        // peer that knows the secret cannot write sessions, passwords or changes into it.
        if (this.host.role() !== 'backup') {
          this.host.logger.warn({ event: 'HA-015', records: message.records.length }, 'journal records from the peer refused: this member is primary');
          return;
        }
        const records = message.records;
        if (records.length === 0) return;
        const broken = this.journalBreak(records);
        if (broken) {
          // Nothing of a broken stream is applied: the next link resumes after the last good record [PROTO-SEQ-2].
          this.host.logger.error({ event: 'HA-021', reason: broken, lastRecord: this.host.received?.lastRecord }, 'the journal stream from the primary lost or repeated records: dropping the link');
          this.connection.close({ code: ErrorCode.SEQ_GAP, message: broken });
          return;
        }
        this.host.onRecords(records);
        this.host.traffic.recordsReceived += records.length;
        const upTo = records[records.length - 1].r;
        if (this.host.received) this.host.received.lastRecord = upTo;
        this.connection.send({ kind: HaKind.Ack, upTo });
        return;
      }
      case HaKind.Ack:
        this.host.traffic.ackedUpTo = Math.max(this.host.traffic.ackedUpTo, message.upTo);
        return;
      case HaKind.Switchover:
        this.host.onTakeOverAsked(message.seq);
        return;
      case HaKind.SwitchoverDone:
        this.switchoverReply?.({ outcome: message.ok ? 'done' : 'refused', message: message.message });
        return;
      case HaKind.TakeBack:
        this.host.onPeerRequest('take-back');
        return;
      case HaKind.Status: {
        const { kind: _kind, ...status } = message;
        this.host.onPeerStatus(status);
        return;
      }
      case HaKind.BackupReloaded:
        this.host.onPeerRequest('backup-reloaded');
        return;
      case Kind.Error:
        this.host.logger.error({ code: message.code, reason: message.message }, 'HA peer reported an error');
        return;
      default:
        return;
    }
  }

  /** Every session as it is now, paced at maxSessionsSyncAtOnce per second; the journal follows. */
  private sendSnapshot(): void {
    this.host.traffic.snapshots += 1;
    const at = this.host.journal.lastRecord;
    this.sentUpTo = at;
    const sessions = this.host.sessionsSnapshot().map((s) => ({ ...s, r: at }));
    this.send([{ r: at, k: 'reset' }]);
    const perTick = Math.max(1, this.host.settings.maxSessionsSyncAtOnce);
    let offset = 0;
    const tick = (): void => {
      this.snapshotTimer = null;
      if (!this.open || !this.sending) return;
      const slice = sessions.slice(offset, offset + perTick);
      offset += slice.length;
      this.sendChunks(slice);
      if (offset < sessions.length) this.snapshotTimer = systemClock.setTimeout(tick, 1000);
      else {
        this.host.logger.info({ sessions: sessions.length, at }, 'HA sessions snapshot sent');
        this.sendMissed();
      }
    };
    tick();
  }

  /** The journal records after what was sent; a ring that moved past them means a new snapshot. */
  private sendMissed(): void {
    const missed = this.host.journal.after(this.sentUpTo);
    if (missed === undefined) {
      this.sendSnapshot();
      return;
    }
    this.sendChunks(missed);
    this.pending = [];
  }

  private onAppend(): void {
    if (!this.sending || this.snapshotTimer) return; // a snapshot in progress sends the journal after it
    const fresh = this.host.journal.after(this.sentUpTo);
    if (!fresh) return;
    this.pending.push(...fresh);
    this.sentUpTo = this.host.journal.lastRecord;
    if (this.pending.length >= this.host.settings.chunkSize) this.flushPending();
    else if (!this.chunkTimer) this.chunkTimer = systemClock.setTimeout(() => this.flushPending(), this.host.settings.chunkTimeoutMs);
  }

  private flushPending(): void {
    if (this.chunkTimer) systemClock.clearTimeout(this.chunkTimer);
    this.chunkTimer = null;
    const records = this.pending;
    this.pending = [];
    this.sendChunks(records);
  }

  /** Records frames of at most `chunkSize` records and about 4 MiB: large objects never make one oversized frame. */
  private sendChunks(records: JournalRecord[]): void {
    let start = 0;
    while (start < records.length) {
      let end = start;
      let bytes = 0;
      while (end < records.length && end - start < this.host.settings.chunkSize) {
        const size = approximateBytes(records[end]);
        if (end > start && bytes + size > RECORDS_FRAME_BYTES) break;
        bytes += size;
        end += 1;
      }
      this.send(records.slice(start, end));
      start = end;
    }
  }

  private send(records: JournalRecord[]): void {
    if (records.length === 0 || !this.open) return;
    const last = records[records.length - 1].r;
    if (last > this.sentUpTo) this.sentUpTo = last;
    const frame = encodeFrame({ kind: HaKind.Records, records });
    this.connection.writeFrame(frame);
    this.host.traffic.recordsSent += records.length;
    this.host.traffic.bytesSent += frame.length;
  }

  /** As backup: how far this member is, for the primary's readiness [PROTO-HA-11]. */
  sendStatus(status: PeerStatus): void {
    if (this.open) this.connection.send({ kind: HaKind.Status, ...status });
  }

  /** As backup: the outcome of the take-over the primary asked for. */
  replyTakeOver(outcome: { ok: boolean; message: string }): void {
    if (this.open) this.connection.send({ kind: HaKind.SwitchoverDone, ...outcome });
  }

  /** Tells the peer something it acts on: take-back (give us the role) or backup-reloaded. */
  notify(what: 'take-back' | { reloadedAt: number }): void {
    if (what === 'take-back') this.connection.send({ kind: HaKind.TakeBack });
    else this.connection.send({ kind: HaKind.BackupReloaded, seq: what.reloadedAt });
  }

  close(why: string): void {
    this.connection.close({ code: ErrorCode.SERVER_SHUTTING_DOWN, message: why });
  }

  private onClose(reason: string): void {
    if (!this.open) return;
    this.open = false;
    this.stopSending();
    this.switchoverReply?.({ outcome: 'refused', message: `the HA link closed: ${reason}` });
    this.host.onLinkClosed(this, reason);
  }
}
