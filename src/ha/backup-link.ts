import { EventEmitter } from 'node:events';
import net from 'node:net';
import {
  ErrorCode,
  HA_PROTOCOL_VERSIONS,
  HaKind,
  Kind,
  validateHaMessage,
  type HaMessage,
  type JournalRecord,
} from '../../protocol/index.js';
import { AddpMonitor } from '../net/addp.js';
import { systemClock } from '../net/clock.js';
import { Connection, DEFAULT_CONNECTION_LIMITS } from '../net/connection.js';
import { dial } from '../net/dial.js';
import { parseEndpoint, type Endpoint } from '../net/endpoint.js';
import type { TlsFiles } from '../net/tls-options.js';
import type { Logger } from '../util/logger.js';
import type { PairIdentity } from './ha-server.js';
import type { RoleEvent, RoleMachine } from './role-machine.js';

export interface BackupLinkOptions {
  /** The primary's HA sync port: `host:port` or `tls://host:port`. */
  peer: string;
  tls?: TlsFiles;
  identity: PairIdentity;
  addpTimeoutMs: number;
  heartbeatIntervalMs: number;
  machine: RoleMachine;
  /** Journal records from the primary, in order. */
  onRecords(records: JournalRecord[]): void;
  onRoleEvents(events: RoleEvent[]): void;
  logger: Logger;
}

/**
 * The backup's end of the HA link: connects to the primary's HA port (again and again while it is
 * down), resumes its HA session so only missed records come, acknowledges each chunk, and while the
 * link is down probes the primary's client port every heartbeat for the role machine [PROTO-HA-1..5].
 * It keeps connecting after a promotion too, so a healed partition is noticed.
 * Events: `probe` (whether the primary answered), `refused` (the primary's Error).
 */
export class BackupLink extends EventEmitter {
  readonly stats = { connected: false, recordsReceived: 0, bytesReceived: 0 };
  /** Where the primary takes clients, learned from its Welcome. */
  primaryClientEndpoint: string | undefined;
  private resume: { id: string; lastRecord: number } | undefined;
  private connection: Connection<HaMessage> | null = null;
  private addp: AddpMonitor | null = null;
  private heartbeat: NodeJS.Timeout | null = null;
  private connecting = false;
  private stopped = false;
  private readonly peer: Endpoint;

  constructor(private readonly options: BackupLinkOptions) {
    super();
    this.peer = parseEndpoint(options.peer, false);
  }

  start(): void {
    this.heartbeat = setInterval(() => void this.beat(), this.options.heartbeatIntervalMs);
    void this.connect();
  }

  /** One heartbeat: reconnect the link if it is down; probe the primary when the role machine asks. */
  private async beat(): Promise<void> {
    if (this.stopped) return;
    if (!this.connection && !this.connecting) void this.connect();
    if (this.options.machine.shouldProbe) {
      const answered = await probe(this.primaryClientEndpoint ?? `${this.peer.host}:${this.peer.port}`, this.options.heartbeatIntervalMs);
      if (this.stopped) return;
      this.emit('probe', answered);
      this.options.onRoleEvents(this.options.machine.onProbe(answered));
    }
  }

  private async connect(): Promise<void> {
    this.connecting = true;
    let socket: net.Socket;
    try {
      socket = await dial(this.peer, this.options.tls, this.options.heartbeatIntervalMs);
    } catch {
      this.connecting = false;
      return; // the next heartbeat tries again
    }
    this.connecting = false;
    if (this.stopped) {
      socket.destroy();
      return;
    }
    socket.on('data', (chunk: Buffer) => (this.stats.bytesReceived += chunk.length));
    const connection = new Connection<HaMessage>(socket, { ...DEFAULT_CONNECTION_LIMITS, drainTimeoutMs: 0 }, validateHaMessage);
    this.connection = connection;
    connection.setHandler({
      onMessage: (message) => this.onMessage(connection, message),
      onInvalidMessage: (error) => connection.close({ code: error.code, message: error.message }),
      onClose: (reason) => {
        if (this.connection !== connection) return;
        this.connection = null;
        this.addp?.stop();
        this.stats.connected = false;
        if (reason.code) this.options.logger.warn({ code: reason.code, reason: reason.message }, 'HA link closed');
        this.options.onRoleEvents(this.options.machine.onLinkDown());
      },
    });
    const { identity, machine } = this.options;
    connection.send({
      kind: HaKind.Hello,
      versions: [...HA_PROTOCOL_VERSIONS],
      pairName: identity.pairName,
      masters: identity.masters,
      secret: identity.secret,
      role: machine.role,
      ...(this.resume ? { resume: this.resume } : {}),
    });
  }

  private onMessage(connection: Connection<HaMessage>, message: HaMessage): void {
    switch (message.kind) {
      case HaKind.Welcome: {
        this.stats.connected = true;
        this.primaryClientEndpoint = message.clientEndpoint;
        if (!message.resumed || this.resume?.id !== message.sessionId) this.resume = { id: message.sessionId, lastRecord: 0 };
        this.addp = new AddpMonitor(
          this.options.addpTimeoutMs,
          {
            lastReceivedAt: () => connection.lastReceivedAt,
            sendPoll: (n) => connection.send({ kind: Kind.AddpPoll, n }),
            onTimeout: () => connection.destroy({ code: ErrorCode.ADDP_TIMEOUT, message: 'primary silent on the HA link', local: true }),
          },
          systemClock,
        );
        this.addp.start();
        this.options.logger.info({ resumed: message.resumed, primaryRole: message.role, primary: message.clientEndpoint }, 'HA link up');
        this.options.onRoleEvents(this.options.machine.onLinkUp(message.role));
        return;
      }
      case HaKind.Records: {
        const records = message.records;
        if (records.length === 0) return;
        this.options.onRecords(records);
        this.stats.recordsReceived += records.length;
        const upTo = records[records.length - 1].r;
        if (this.resume) this.resume.lastRecord = upTo;
        connection.send({ kind: HaKind.Ack, upTo });
        return;
      }
      case Kind.AddpPoll:
        connection.send({ kind: Kind.AddpReply, n: message.n });
        return;
      case Kind.Error:
        this.options.logger.error({ code: message.code, reason: message.message }, 'the primary refused this backup');
        this.emit('refused', { code: message.code, message: message.message });
        return;
      default:
        return;
    }
  }

  stop(): void {
    this.stopped = true;
    if (this.heartbeat) clearInterval(this.heartbeat);
    this.addp?.stop();
    this.connection?.close();
  }
}

/** True when a TCP connection to `endpoint` opens within `timeoutMs`. */
function probe(endpoint: string, timeoutMs: number): Promise<boolean> {
  let host: string;
  let port: number;
  try {
    ({ host, port } = parseEndpoint(endpoint, false));
  } catch {
    return Promise.resolve(false);
  }
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    const done = (answered: boolean): void => {
      clearTimeout(timer);
      socket.destroy();
      resolve(answered);
    };
    const timer = setTimeout(() => done(false), timeoutMs);
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}
