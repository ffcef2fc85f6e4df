import { timingSafeEqual, createHash } from 'node:crypto';
import type { Server, Socket } from 'node:net';
import {
  encodeFrame,
  ErrorCode,
  HA_PROTOCOL_VERSIONS,
  HaKind,
  Kind,
  validateHaMessage,
  type HaHelloMessage,
  type HaMessage,
  type HaRole,
  type JournalRecord,
} from '../../protocol/index.js';
import { AddpMonitor } from '../net/addp.js';
import { systemClock } from '../net/clock.js';
import { Connection, DEFAULT_CONNECTION_LIMITS } from '../net/connection.js';
import { boundPort, listen } from '../net/listener.js';
import type { TlsFiles } from '../net/tls-options.js';
import type { Logger } from '../util/logger.js';
import type { Journal } from './journal.js';

/** What both sides must agree on before anything else [PROTO-HA-1]. */
export interface PairIdentity {
  pairName: string;
  masters: string[];
  secret: string;
}

export interface HaServerOptions {
  host: string;
  port: number;
  tls?: TlsFiles;
  identity: PairIdentity;
  /** Records per Records frame, and the longest a record waits for its frame. */
  chunkSize: number;
  chunkTimeoutMs: number;
  /** Sessions per second sent in a full sessions snapshot. */
  maxSessionsSyncAtOnce: number;
  addpTimeoutMs: number;
  /** Where clients reach this proxy (known once its client port is bound). */
  clientEndpoint(): string;
  role(): HaRole;
  /** The current client sessions, as journal 'open' entries, for a snapshot. */
  sessionsSnapshot(): Array<Extract<JournalRecord, { k: 'open' }>>;
  logger: Logger;
}

export interface HaLinkStats {
  connected: boolean;
  recordsSent: number;
  bytesSent: number;
  ackedUpTo: number;
  snapshots: number;
}

/**
 * The primary's HA sync port: accepts its backup, checks that both are one pair, then streams
 * the journal in acknowledged chunks; a backup that cannot resume gets a paced sessions snapshot
 * first [PROTO-HA-1..5].
 */
export class HaServer {
  readonly stats: HaLinkStats = { connected: false, recordsSent: 0, bytesSent: 0, ackedUpTo: 0, snapshots: 0 };
  /** Peers refused at the Hello (wrong pair, masters, secret or version). */
  refusals = 0;
  private server: Server | null = null;
  private link: BackupLink | null = null;

  constructor(
    private readonly journal: Journal,
    private readonly options: HaServerOptions,
  ) {}

  get port(): number {
    if (!this.server) throw new Error('HA port is not listening');
    return boundPort(this.server);
  }

  get lag(): number {
    return this.stats.connected ? this.journal.lastRecord - this.stats.ackedUpTo : this.journal.lastRecord;
  }

  async start(): Promise<void> {
    this.server = await listen({ host: this.options.host, port: this.options.port, tls: this.options.tls }, (socket) => this.accept(socket));
  }

  private accept(socket: Socket): void {
    const connection = new Connection<HaMessage>(socket, DEFAULT_CONNECTION_LIMITS, validateHaMessage);
    const helloTimer = setTimeout(() => connection.close({ code: ErrorCode.NOT_REGISTERED, message: 'no Hello within 10 s' }), 10_000);
    helloTimer.unref();
    connection.setHandler({
      onMessage: (message) => {
        if (message.kind !== HaKind.Hello) {
          connection.close({ code: ErrorCode.NOT_REGISTERED, message: 'send Hello first' });
          return;
        }
        clearTimeout(helloTimer);
        const refusal = this.check(message);
        if (refusal) {
          this.refusals += 1;
          this.options.logger.error({ peer: connection.remoteAddress, code: refusal.code, reason: refusal.message }, 'HA peer refused');
          connection.close(refusal);
          return;
        }
        this.link?.close('replaced by a new connection of the backup');
        this.link = new BackupLink(connection, message, this.journal, this.options, this.stats);
      },
      onInvalidMessage: (error) => connection.close({ code: error.code, message: error.message }),
      onClose: () => clearTimeout(helloTimer),
    });
  }

  private check(hello: HaHelloMessage): { code: typeof ErrorCode.HA_MISMATCH | typeof ErrorCode.HA_AUTH_FAILED | typeof ErrorCode.UNSUPPORTED_VERSION; message: string } | undefined {
    const { identity } = this.options;
    if (!hello.versions.some((v) => (HA_PROTOCOL_VERSIONS as readonly number[]).includes(v))) {
      return { code: ErrorCode.UNSUPPORTED_VERSION, message: `no common HA protocol version (peer: ${hello.versions.join(', ')})` };
    }
    if (!sameSecret(hello.secret, identity.secret)) return { code: ErrorCode.HA_AUTH_FAILED, message: 'wrong pair secret' };
    if (hello.pairName !== identity.pairName) {
      return { code: ErrorCode.HA_MISMATCH, message: `pair name differs: this proxy is in pair '${identity.pairName}', the peer in '${hello.pairName}'` };
    }
    if ([...hello.masters].sort().join(',') !== [...identity.masters].sort().join(',')) {
      return { code: ErrorCode.HA_MISMATCH, message: `masters differ: this proxy uses ${identity.masters.join(',')}, the peer ${hello.masters.join(',')}` };
    }
    return undefined;
  }

  async stop(): Promise<void> {
    this.link?.close('server stopping');
    const server = this.server;
    this.server = null;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

function sameSecret(a: string, b: string): boolean {
  // Compare digests so neither the length nor the content leaks through timing.
  return timingSafeEqual(createHash('sha256').update(a).digest(), createHash('sha256').update(b).digest());
}

/** One connected backup: resume or snapshot, then the live journal in acknowledged chunks. */
class BackupLink {
  private sentUpTo: number;
  private pending: JournalRecord[] = [];
  private chunkTimer: NodeJS.Timeout | null = null;
  private snapshotTimer: NodeJS.Timeout | null = null;
  private streaming = false;
  private readonly stopListening: () => void;
  private readonly addp: AddpMonitor;
  private open = true;

  constructor(
    private readonly connection: Connection<HaMessage>,
    hello: HaHelloMessage,
    private readonly journal: Journal,
    private readonly options: HaServerOptions,
    private readonly stats: HaLinkStats,
  ) {
    const resume = hello.resume?.id === journal.id ? journal.after(hello.resume.lastRecord) : undefined;
    const resumed = resume !== undefined;
    this.sentUpTo = resumed ? hello.resume!.lastRecord : journal.lastRecord;
    stats.connected = true;
    stats.ackedUpTo = this.sentUpTo;
    connection.send({
      kind: HaKind.Welcome,
      version: 1,
      sessionId: journal.id,
      resumed,
      role: options.role(),
      clientEndpoint: options.clientEndpoint(),
    });
    options.logger.info({ peer: connection.remoteAddress, peerRole: hello.role, resumed, from: this.sentUpTo, journal: journal.lastRecord }, 'HA backup connected');
    connection.setHandler({
      onMessage: (message) => this.onMessage(message),
      onInvalidMessage: (error) => connection.close({ code: error.code, message: error.message }),
      onClose: (reason) => this.onClose(reason.message),
    });
    this.addp = new AddpMonitor(
      options.addpTimeoutMs,
      {
        lastReceivedAt: () => connection.lastReceivedAt,
        sendPoll: (n) => connection.send({ kind: Kind.AddpPoll, n }),
        onTimeout: () => connection.destroy({ code: ErrorCode.ADDP_TIMEOUT, message: 'backup silent on the HA link', local: true }),
      },
      systemClock,
    );
    this.addp.start();
    this.stopListening = journal.onAppend(() => this.onAppend());
    if (resumed) this.startStreaming();
    else this.sendSnapshot();
  }

  private onMessage(message: HaMessage): void {
    if (message.kind === Kind.AddpPoll) this.connection.send({ kind: Kind.AddpReply, n: message.n });
    else if (message.kind === HaKind.Ack) this.stats.ackedUpTo = Math.max(this.stats.ackedUpTo, message.upTo);
  }

  /** Every session as it is now, paced at maxSessionsSyncAtOnce per second; the journal follows. */
  private sendSnapshot(): void {
    this.stats.snapshots += 1;
    const at = this.journal.lastRecord;
    const sessions = this.options.sessionsSnapshot().map((s) => ({ ...s, r: at }));
    this.send([{ r: at, k: 'reset' }]);
    const perTick = Math.max(1, this.options.maxSessionsSyncAtOnce);
    let offset = 0;
    const tick = (): void => {
      this.snapshotTimer = null;
      if (!this.open) return;
      const slice = sessions.slice(offset, offset + perTick);
      offset += slice.length;
      for (let i = 0; i < slice.length; i += this.options.chunkSize) this.send(slice.slice(i, i + this.options.chunkSize));
      if (offset < sessions.length) this.snapshotTimer = setTimeout(tick, 1000);
      else {
        this.options.logger.info({ sessions: sessions.length, at }, 'HA sessions snapshot sent');
        this.startStreaming();
      }
    };
    tick();
  }

  private startStreaming(): void {
    this.streaming = true;
    const missed = this.journal.after(this.sentUpTo);
    if (missed === undefined) {
      // The ring moved past us while the snapshot was paced: start over.
      this.streaming = false;
      this.sentUpTo = this.journal.lastRecord;
      this.sendSnapshot();
      return;
    }
    for (let i = 0; i < missed.length; i += this.options.chunkSize) this.send(missed.slice(i, i + this.options.chunkSize));
  }

  private onAppend(): void {
    if (!this.streaming) return;
    const fresh = this.journal.after(this.sentUpTo);
    if (!fresh) return;
    this.pending.push(...fresh);
    this.sentUpTo = this.journal.lastRecord;
    if (this.pending.length >= this.options.chunkSize) this.flushPending();
    else if (!this.chunkTimer) this.chunkTimer = setTimeout(() => this.flushPending(), this.options.chunkTimeoutMs);
  }

  private flushPending(): void {
    if (this.chunkTimer) clearTimeout(this.chunkTimer);
    this.chunkTimer = null;
    const records = this.pending;
    this.pending = [];
    for (let i = 0; i < records.length; i += this.options.chunkSize) this.send(records.slice(i, i + this.options.chunkSize));
  }

  private send(records: JournalRecord[]): void {
    if (records.length === 0 || !this.open) return;
    const last = records[records.length - 1].r;
    if (last > this.sentUpTo) this.sentUpTo = last;
    const frame = encodeFrame({ kind: HaKind.Records, records });
    this.connection.writeFrame(frame);
    this.stats.recordsSent += records.length;
    this.stats.bytesSent += frame.length;
  }

  close(why: string): void {
    this.connection.close({ code: ErrorCode.SERVER_SHUTTING_DOWN, message: why });
  }

  private onClose(reason: string): void {
    this.open = false;
    this.stats.connected = false;
    this.addp.stop();
    this.stopListening();
    if (this.chunkTimer) clearTimeout(this.chunkTimer);
    if (this.snapshotTimer) clearTimeout(this.snapshotTimer);
    this.options.logger.warn({ reason }, 'HA backup disconnected');
  }
}
