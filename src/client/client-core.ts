import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import {
  CfgError,
  ErrorCode,
  Kind,
  PROTOCOL_VERSIONS,
  type ChangeMessage,
  type ConfigObject,
  type BackupChunkMessage,
  type BackupEndMessage,
  type CredentialChangedMessage,
  type ErrorMessage,
  type HistoryLogExpiredMessage,
  type Lineage,
  type Message,
  type NewObject,
  type NotificationFilter,
  type ObjectDelta,
  type ObjectFilter,
  type ObjectType,
  type ObjectsChunkMessage,
  type ReadEndMessage,
  type RegisteredMessage,
} from '../../protocol/index.js';
import { Connection, DEFAULT_CONNECTION_LIMITS, type CloseReason } from '../net/connection.js';
import { dial } from '../net/dial.js';
import { parseEndpoint, type Endpoint } from '../net/endpoint.js';
import type { TlsFiles } from '../net/tls-options.js';
import { notificationFilterKey } from '../model/filter.js';
import { backoffDelayMs } from './backoff.js';
import { login, type LoginMode } from './login.js';
import { StandbyLink } from './standby.js';
import { every, systemClock } from '../util/clock.js';

/** Everything a connection can be asked for: the SDK's ConnectOptions and what only the package's own parts (the proxy's master link) use. */
export interface CoreOptions {
  /** `host:port`, `tls://host:port`, or a list tried in turn (primary, backup, …). */
  endpoints: string | string[];
  user: string;
  password: string;
  /**
   * Where in `endpoints` the first connection starts: `first` (the default: a pair's primary, then
   * its backup) or `random` (a pool's members given to every client, so the load spreads with no
   * balancer in between); failover goes on through the list from there.
   */
  balance?: 'first' | 'random';
  /**
   * How to log in: `proof` (default) answers the server's challenge [PROTO-HELLO-5], so the
   * password never travels and the server runs no scrypt; `password` sends it (servers before it).
   */
  login?: LoginMode;
  clientName?: string;
  clientType?: string;
  addp?: { localTimeoutMs: number; remoteTimeoutMs: number; trace?: 'off' | 'local' | 'remote' | 'both' };
  /** TLS files; `true` means TLS with the system's trust store. */
  tls?: TlsFiles | boolean;
  /** Reconnect after a lost connection (default true). */
  reconnect?: boolean;
  connectTimeoutMs?: number;
  requestTimeoutMs?: number;
  /**
   * Keep a standby connection to the next endpoint, so that a failover costs a Register on an open
   * connection rather than a new one [PROTO-STANDBY-1] (default true; needs several endpoints and
   * reconnecting).
   */
  standby?: boolean;
  /**
   * Start by restoring a position instead of a new session: the application already holds the
   * configuration at `lastSeq` of `lineage` (a proxy that kept its cache across a restart). The
   * server replays what came after, or answers with `reset` when it cannot.
   */
  resume?: { lastSeq: number; lineage: Lineage; chain?: string; subscriptions: NotificationFilter[] };
  /**
   * The session receives every change (a proxy subscribed to everything): each change must be the
   * next seq, and a gap drops the connection, which then restores from the last one delivered
   * [PROTO-SEQ-2]. Without it only a repeat is caught (a filtered stream skips seqs by design).
   */
  gapless?: boolean;
}

export type Notification = ChangeMessage;

/** How long after a BACKUP_MODE answer reconnects keep retrying briskly. */
const PAIR_FAILOVER_WINDOW_MS = 30_000;

export interface WriteOutcome {
  seq: number;
  dbid: number;
}

/** Proxies only: the person a write is made for; the master checks that person's permissions. */
export interface WriteOptions {
  onBehalfOf?: number;
  /** The lineage the write was made against; a server of another lineage refuses it (LINEAGE_MISMATCH). */
  lineage?: Lineage;
}

interface Pending {
  resolve(message: Message): void;
  reject(error: Error): void;
  onChunk?(chunk: Message): void;
  timer: unknown;
  /** Starts its timeout over (a streamed answer's timeout is an idle timeout). */
  rearm(): void;
  /** Where it was sent: only that connection can answer it. */
  connection: Connection;
}

/**
 * The client's events and what each listener receives: a map type, so a misspelt event name or a
 * wrong listener does not compile.
 */
export interface CoreEvents {
  /** A change the subscriptions select: in seq order, each seq at most once. */
  notification: [change: Notification];
  /** The server could not replay what this client missed (history expired, another database): re-read. */
  reset: [expired: HistoryLogExpiredMessage];
  /** The position advanced with nothing to deliver [PROTO-SUB-4]. */
  position: [seq: number];
  /** Registered (again): `restored` when the session and its subscriptions went on where they were. */
  connected: [info: { endpoint: Endpoint; restored: boolean }];
  /** The connection was lost; the client reconnects unless it was made with `reconnect: false`. */
  disconnected: [reason: CloseReason];
  /** A standby connection to the next endpoint is ready [PROTO-STANDBY-1]. */
  standby: [info: { endpoint: Endpoint }];
  /** An error about the stream (Error{id: 0}) the server sent before it closed, or another that no request could carry. */
  'server-error': [error: ErrorMessage];
  /** Something went wrong that no request reports: a skipped frame, a listener that threw, a gap in the stream. */
  error: [error: Error];
  /** `close()` finished. */
  closed: [];
  /** Proxies only: a person's new password hash, just before the change of the same seq. */
  credential: [change: CredentialChangedMessage];
}

/**
 * The connection core shared by the SDK's CfgClient and the package's own links (the proxy's
 * master link, the CLI): a connection to a master or a proxy, kept alive across failures, with
 * login, the standby connection, requests, the gap-checked notification stream and restore. Its
 * events are `CoreEvents`. Not exported from the package: applications get `CfgClient`.
 */
export class ClientCore extends EventEmitter<CoreEvents> {
  private connection: Connection | null = null;
  private readonly endpoints: Endpoint[];
  private readonly subscriptions = new Map<string, NotificationFilter>();
  private readonly pending = new Map<number, Pending>();
  private nextRequestId = 1;
  private sessionId: string | undefined;
  private seq = 0;
  /** The last seq the current connection's stream stood at: every change on it must come after [PROTO-SEQ-2]. */
  private streamSeq = 0;
  /** The seq space `seq` belongs to [PROTO-LINEAGE-3]. */
  private seqLineage: Lineage | undefined;
  /** The chain hash at `seq`, when the server said it: the history the position stands on [PROTO-LINEAGE-7]. */
  private seqChain: string | undefined;
  private state: 'connecting' | 'connected' | 'reconnecting' | 'closed' = 'connecting';
  private endpointIndex = 0;
  private reconnectTimer: unknown = null;
  private readingPaused = false;
  /** Until then, reconnects retry briskly: a pair member said it is the backup (a switchover is under way). */
  private pairFailingOverUntil = 0;
  private stopPausedKeepalive: (() => void) | null = null;
  private standby: StandbyLink | null = null;
  /** Server info from the last Registered. */
  server: Pick<RegisteredMessage, 'serverName' | 'serverKind' | 'serverRole' | 'version' | 'memberName'> | undefined;

  private constructor(private readonly options: CoreOptions) {
    super();
    const list = Array.isArray(options.endpoints) ? options.endpoints : options.endpoints.split(',');
    const defaultTls = options.tls !== undefined && options.tls !== false;
    this.endpoints = list.map((text) => parseEndpoint(text, defaultTls));
    if (options.balance === 'random') this.endpointIndex = Math.floor(Math.random() * this.endpoints.length);
    if (this.endpoints.length === 0) throw new CfgError(ErrorCode.INVALID_MESSAGE, 'connect needs at least one endpoint');
    if (options.resume) {
      this.sessionId = `resume-${randomUUID()}`;
      this.seq = options.resume.lastSeq;
      this.seqLineage = options.resume.lineage;
      this.seqChain = options.resume.chain;
      for (const filter of options.resume.subscriptions) this.subscriptions.set(notificationFilterKey(filter), filter);
    }
  }

  /** Connects and registers; rejects if no endpoint accepts the first time. */
  static async connect(options: CoreOptions): Promise<ClientCore> {
    const client = new ClientCore(options);
    await client.open();
    return client;
  }

  /**
   * A client not connected yet, so that listeners are in place before the first Register: with
   * `resume`, notifications may follow Registered in the same packet. `open()` connects it.
   */
  static create(options: CoreOptions): ClientCore {
    return new ClientCore(options);
  }

  /** The seq of the last notification delivered (or of the session start). */
  get lastSeq(): number {
    return this.seq;
  }

  /** The seq space of `lastSeq`: which database (and generation of it) the position counts in. */
  get lineage(): Lineage | undefined {
    return this.seqLineage;
  }

  /**
   * Declares that the application's state covers every change up to `seq` of `lineage` (a proxy
   * that loaded a snapshot taken at that seq), so a restore resumes from there. Within the same
   * lineage the position only moves forward; another lineage replaces it.
   */
  advanceTo(seq: number, lineage: Lineage, chain?: string): void {
    const same = this.seqLineage !== undefined && this.seqLineage.id === lineage.id && this.seqLineage.generation === lineage.generation;
    if (!same || seq > this.seq) this.moveTo(seq, chain);
    this.seqLineage = lineage;
  }

  /** The position moves to `seq`; its chain hash goes with it (unknown when the server did not say). */
  private moveTo(seq: number, chain: string | undefined): void {
    this.seq = seq;
    this.seqChain = chain;
  }

  /** Stops reading from the server (backpressure: TCP holds the rest) until `resumeReading`. */
  pauseReading(): void {
    if (this.readingPaused) return;
    this.readingPaused = true;
    this.connection?.socket.pause();
    // We cannot read the server's keepalive polls now, so show it we are alive: any frame counts
    // as activity [PROTO-ADDP-3]. Our own monitor treats the paused link as alive (see attach).
    const remote = this.options.addp?.remoteTimeoutMs ?? 0;
    if (remote > 0) {
      this.stopPausedKeepalive = every(systemClock, Math.max(50, remote / 3), () => this.connection?.send({ kind: Kind.AddpPoll, n: 0 }));
    }
  }

  resumeReading(): void {
    if (!this.readingPaused) return;
    this.readingPaused = false;
    this.stopPausedKeepalive?.();
    this.stopPausedKeepalive = null;
    this.connection?.socket.resume();
  }

  get connected(): boolean {
    return this.state === 'connected';
  }

  /** Connects and registers (for a client made with `create`); rejects if no endpoint accepts. */
  async open(): Promise<void> {
    let lastError: unknown;
    for (let i = 0; i < this.endpoints.length; i += 1) {
      const index = (this.endpointIndex + i) % this.endpoints.length;
      try {
        await this.attach(this.endpoints[index]);
        this.endpointIndex = index;
        return;
      } catch (error) {
        lastError = error;
        if (error instanceof CfgError && error.code === ErrorCode.AUTH_FAILED) throw error;
      }
    }
    throw lastError;
  }

  /** Registers on `endpoint`, over `standby` when one is ready there, else on a new connection. */
  private async attach(endpoint: Endpoint, standby?: Connection): Promise<void> {
    // From its server a client accepts large frames, and skips (and reports) one above the limit
    // rather than dropping the connection and meeting the same frame again on every reconnect.
    const connection =
      standby ?? new Connection(await dial(endpoint, this.tlsFiles, this.connectTimeoutMs), { limits: { ...DEFAULT_CONNECTION_LIMITS, drainTimeoutMs: 0 }, oversized: 'skip' });
    this.connection = connection;
    connection.setHandler({
      // An older socket's frames, or those after a broken stream, are not the current stream's.
      onMessage: (message) => this.connection === connection && this.onMessage(message),
      onInvalidMessage: (error) => this.report(error),
      onClose: (reason) => {
        // Requests sent on it get no answer now, even when a newer connection took its place.
        this.failPending(new CfgError(ErrorCode.CONNECTION_LOST, `connection lost: ${reason.message}`), connection);
        if (this.connection !== connection) return; // an old socket (epoch check)
        this.connection = null;
        if (this.state === 'closed' || this.state === 'connecting') return;
        const wasConnected = this.state === 'connected';
        this.state = 'reconnecting';
        if (wasConnected) this.emit('disconnected', reason);
        if (this.options.reconnect !== false) this.scheduleReconnect(1);
      },
    });
    const addp = this.options.addp;
    const restore =
      this.sessionId && this.seqLineage
        ? { id: this.sessionId, lastSeq: this.seq, lineage: this.seqLineage, ...(this.seqChain ? { chain: this.seqChain } : {}), subscriptions: [...this.subscriptions.values()] }
        : undefined;
    let registered: RegisteredMessage;
    try {
      // A standby connection logged in already [PROTO-STANDBY-3]: the failover's Register needs no new login.
      const credentials = standby ? undefined : await login((message) => this.request(message), this.options.user, this.options.password, this.options.login, endpoint.tls);
      registered = (await this.request({
        kind: Kind.Register,
        versions: [...PROTOCOL_VERSIONS],
        clientName: this.options.clientName ?? 'cfgproxy-sdk',
        clientType: this.options.clientType ?? 'sdk',
        user: this.options.user,
        ...(credentials?.proof !== undefined ? { proof: credentials.proof } : {}),
        ...(credentials?.password !== undefined ? { password: credentials.password } : {}),
        ...(addp ? { addp } : {}),
        ...(restore ? { session: restore } : {}),
      })) as RegisteredMessage;
      credentials?.checkServer(registered.serverProof);
    } catch (error) {
      this.connection = null;
      connection.destroy({ message: 'register failed', local: true });
      // A TLS server meets our plain hello by closing at once, before any frame [PROTO-FRAME-1].
      if (error instanceof CfgError && error.code === ErrorCode.CONNECTION_LOST && !connection.heardFrame && !endpoint.tls) {
        throw new CfgError(ErrorCode.CONNECTION_LOST, `${endpoint.host}:${endpoint.port} closed the connection before answering: if it serves TLS, connect with tls://${endpoint.host}:${endpoint.port} (the CLI: -s tls://…, the SDK: tls: true)`, { cause: error });
      }
      throw error;
    }
    this.server = { serverName: registered.serverName, serverKind: registered.serverKind, serverRole: registered.serverRole, version: registered.version, ...(registered.memberName !== undefined ? { memberName: registered.memberName } : {}) };
    if (!registered.restored) this.moveTo(registered.seq, registered.chain);
    this.seqLineage = registered.lineage;
    this.sessionId = registered.sessionId;
    this.state = 'connected';
    if (this.readingPaused) connection.socket.pause();
    // While reading is paused the server's frames wait in the kernel: the link counts as alive.
    connection.startKeepalive(addp?.localTimeoutMs ?? 0, undefined, () => this.readingPaused);
    this.keepStandby((this.endpoints.indexOf(endpoint) + 1) % this.endpoints.length);
    this.emit('connected', { endpoint, restored: registered.restored });
  }

  private get tlsFiles(): TlsFiles | undefined {
    return typeof this.options.tls === 'object' ? this.options.tls : undefined;
  }

  private get connectTimeoutMs(): number {
    return this.options.connectTimeoutMs ?? 5000;
  }

  /** A standby connection to the endpoint a failover would go to next (never the current one). */
  private keepStandby(index: number): void {
    if (this.endpoints.length < 2 || this.options.standby === false || this.options.reconnect === false) return;
    if (this.standby?.endpointIndex === index) return;
    this.standby?.close();
    const { user, password, addp, login: loginMode } = this.options;
    const endpoint = this.endpoints[index];
    this.standby = new StandbyLink(index, endpoint, { user, password, login: loginMode, tls: this.tlsFiles, connectTimeoutMs: this.connectTimeoutMs, addp, onReady: () => this.emit('standby', { endpoint }) });
  }

  private scheduleReconnect(attempt: number): void {
    // A standby connection is the next endpoint, already open: register on it at once.
    const standbyIndex = this.standby?.endpointIndex;
    const standby = this.standby?.take();
    this.standby = null;
    if (standby && standbyIndex !== undefined) {
      this.endpointIndex = standbyIndex;
      this.attach(this.endpoints[standbyIndex], standby).catch((error: unknown) => this.reconnectFailed(error, attempt));
      return;
    }
    // A pair member answering BACKUP_MODE is alive and about to take over (or names the primary):
    // retry briskly instead of backing off, so a switchover costs clients well under a second.
    const pairFailingOver = Date.now() < this.pairFailingOverUntil;
    const delayMs = pairFailingOver ? 50 + Math.random() * 100 : backoffDelayMs(attempt);
    this.reconnectTimer = systemClock.setTimeout(() => {
      this.reconnectTimer = null;
      if (this.state === 'closed') return;
      this.endpointIndex = (this.endpointIndex + 1) % this.endpoints.length;
      this.attach(this.endpoints[this.endpointIndex]).catch((error: unknown) => this.reconnectFailed(error, attempt));
    }, delayMs, true); // an application awaiting the reconnection has nothing else keeping it alive
  }

  private reconnectFailed(error: unknown, attempt: number): void {
    if (this.state === 'closed') return;
    const code = error instanceof CfgError ? error.code : undefined;
    if (code === ErrorCode.BACKUP_MODE) this.pairFailingOverUntil = Date.now() + PAIR_FAILOVER_WINDOW_MS;
    if (this.listenerCount('error') > 0 && code !== ErrorCode.CONNECTION_LOST && code !== ErrorCode.BACKUP_MODE) this.emit('error', error instanceof Error ? error : new Error(String(error)));
    if (!this.reconnectTimer) this.scheduleReconnect(attempt + 1);
  }

  private onMessage(message: Message): void {
    switch (message.kind) {
      case Kind.ObjectCreated:
      case Kind.ObjectUpdated:
      case Kind.ObjectDeleted:
        if (!this.continuesStream(message.seq)) return;
        // Covered already: the application declared a snapshot at or past it (advanceTo).
        if (message.seq <= this.seq) return;
        this.moveTo(message.seq, message.chain);
        this.tell('notification', message);
        return;
      case Kind.Position:
        // Nothing we subscribed to changed up to this seq: a restore may resume from here. A
        // gapless stream hears of no seq it was not sent.
        if (this.options.gapless && message.seq > this.streamSeq) {
          this.breakStream(`the server says its position is ${message.seq}, but the last change received was ${this.streamSeq}`);
          return;
        }
        this.streamSeq = Math.max(this.streamSeq, message.seq);
        if (message.seq > this.seq) {
          this.moveTo(message.seq, message.chain);
          this.tell('position', message.seq);
        }
        return;
      case Kind.CredentialChanged:
        // Proxies only; it precedes the change of the same seq, so the same dedupe applies.
        if (message.seq > this.seq) this.tell('credential', message);
        return;
      case Kind.HistoryLogExpired:
        this.streamSeq = message.seq;
        this.moveTo(message.seq, message.chain);
        this.seqLineage = message.lineage;
        this.tell('reset', message);
        return;
      case Kind.ObjectsChunk:
      case Kind.BackupChunk: {
        // A streamed answer is alive while chunks arrive: its timeout is an idle timeout.
        const pending = this.pending.get(message.id);
        pending?.rearm();
        pending?.onChunk?.(message);
        return;
      }
      case Kind.Error:
        if (message.id === 0) {
          this.tell('server-error', message);
          return;
        }
        this.settle(message.id, undefined, errorFrom(message));
        return;
      case Kind.Registered:
        // The stream starts here: after the presented position (restored) or the server's seq.
        this.streamSeq = message.restored ? this.seq : message.seq;
        this.settle(message.id, message);
        return;
      default:
        if ('id' in message) this.settle(message.id, message);
    }
  }

  /**
   * Whether a change continues this connection's stream [PROTO-SEQ-2]: a seq is never repeated, and
   * on a gapless stream never skipped. A broken stream is dropped (nothing after it is delivered)
   * and the session restores from the last seq delivered: a middlebox that loses frames costs a
   * reconnect, never a silently skipped change.
   */
  private continuesStream(seq: number): boolean {
    if (seq <= this.streamSeq) {
      this.breakStream(`change ${seq} repeats: the stream was already at ${this.streamSeq}`);
      return false;
    }
    if (this.options.gapless && seq !== this.streamSeq + 1) {
      this.breakStream(`change ${seq} follows change ${this.streamSeq}: ${seq - this.streamSeq - 1} missing`);
      return false;
    }
    this.streamSeq = seq;
    return true;
  }

  private breakStream(reason: string): void {
    const error = new CfgError(ErrorCode.SEQ_GAP, `${reason}; dropping the connection to restore from seq ${this.seq}`, { details: { streamSeq: this.streamSeq, lastSeq: this.seq } });
    this.connection?.destroy({ code: ErrorCode.SEQ_GAP, message: error.message, local: true });
    this.report(error);
  }

  /**
   * Hands the application an event. A listener that throws is the application's bug: it is
   * reported (the `error` event, else thrown on its own, as any uncaught exception) after the
   * SDK's state moved on, so the notifications that follow are still delivered, in order.
   */
  private tell<E extends 'notification' | 'reset' | 'position' | 'credential' | 'server-error'>(event: E, ...value: CoreEvents[E]): void {
    try {
      (this.emit as (event: E, ...args: CoreEvents[E]) => boolean)(event, ...value);
    } catch (error) {
      if (this.listenerCount('error') > 0) this.emit('error', error as Error);
      else queueMicrotask(() => {
        throw error;
      });
    }
  }

  /** A frame the server sent that this client could not take (skipped, or not a valid message). */
  private report(error: CfgError): void {
    if (this.listenerCount('error') > 0) this.emit('error', error);
  }

  private settle(id: number, message: Message | undefined, error?: Error): void {
    const pending = this.pending.get(id);
    if (!pending) return;
    this.pending.delete(id);
    systemClock.clearTimeout(pending.timer);
    if (error) pending.reject(error);
    else pending.resolve(message!);
  }

  /** Fails the requests awaiting an answer: all of them, or those sent on `connection`. */
  private failPending(error: Error, connection?: Connection): void {
    for (const [id, pending] of this.pending) if (connection === undefined || pending.connection === connection) this.settle(id, undefined, error);
  }

  private request(message: Record<string, unknown>, onChunk?: (chunk: Message) => void): Promise<Message> {
    const connection = this.connection;
    if (!connection || !connection.isOpen) return Promise.reject(new CfgError(ErrorCode.CONNECTION_LOST, 'not connected'));
    const id = this.nextRequestId++;
    return new Promise((resolve, reject) => {
      const timeoutMs = this.options.requestTimeoutMs ?? 30_000;
      const expire = (): void => {
        // Withdraw it, so the server does not go on streaming an answer nobody reads [PROTO-CANCEL-1].
        if (connection.isOpen) connection.send({ kind: Kind.Cancel, id });
        this.settle(id, undefined, new CfgError(ErrorCode.REQUEST_TIMEOUT, `no answer within ${timeoutMs} ms${onChunk ? ' of the last chunk' : ''}`));
      };
      const pending: Pending = {
        resolve,
        reject,
        onChunk,
        timer: systemClock.setTimeout(expire, timeoutMs),
        connection,
        rearm: () => {
          systemClock.clearTimeout(pending.timer);
          pending.timer = systemClock.setTimeout(expire, timeoutMs);
        },
      };
      this.pending.set(id, pending);
      // Callers pass a fresh literal: the id goes in place, as a spread copy made encoding 2.5× slower.
      message.id = id;
      connection.send(message as unknown as Message);
    });
  }

  /** Reads objects of a type, chunk by chunk, as the server streams them. */
  async *read(type: ObjectType, filter?: ObjectFilter): AsyncGenerator<ConfigObject> {
    const chunks: ConfigObject[][] = [];
    let wake: (() => void) | null = null;
    let done = false;
    let failure: unknown;
    this.request({ kind: Kind.ReadObjects, objectType: type, ...(filter ? { filter } : {}) }, (chunk) => {
      if (chunk.kind === Kind.ObjectsChunk) chunks.push(chunk.objects);
      wake?.();
    }).then(
      () => { done = true; wake?.(); },
      (error: unknown) => { failure = error; done = true; wake?.(); },
    );
    for (;;) {
      const chunk = chunks.shift();
      if (chunk) {
        yield* chunk;
        continue;
      }
      if (done) break;
      await new Promise<void>((resolve) => (wake = resolve));
      wake = null;
    }
    if (failure) throw failure;
  }

  /** Reads every matching object into an array. */
  async readAll(type: ObjectType, filter?: ObjectFilter): Promise<ConfigObject[]> {
    const objects: ConfigObject[] = [];
    for await (const object of this.read(type, filter)) objects.push(object);
    return objects;
  }

  /** Subscribes to changes; they arrive as `notification` events (and through `notifications()`). */
  async subscribe(filter: NotificationFilter = {}): Promise<void> {
    const ack = await this.request({ kind: Kind.Subscribe, filter });
    this.subscriptions.set(notificationFilterKey(filter), filter);
    // Every change before the ack's seq was sent before it, so the position may advance.
    if (ack.kind === Kind.Ack && ack.seq > this.seq) this.moveTo(ack.seq, undefined);
  }

  /**
   * Package-internal (the proxy's master link): subscribes to `filter` from just after `seq`, the
   * position of a snapshot the application loaded [PROTO-SUB-5]. The position and the subscription
   * are this client's before the request goes, so a reconnect meanwhile restores exactly them.
   */
  async subscribeAfter(filter: NotificationFilter, seq: number, lineage: Lineage, chain?: string): Promise<void> {
    this.advanceTo(seq, lineage, chain);
    this.subscriptions.set(notificationFilterKey(filter), filter);
    // The replay continues this position: the gapless check counts on from here.
    this.streamSeq = seq;
    await this.request({ kind: Kind.Subscribe, filter, afterSeq: seq, lineage, ...(chain !== undefined ? { chain } : {}) });
  }

  async unsubscribe(filter: NotificationFilter = {}): Promise<void> {
    // Dropped here first: a reconnect before the Ack registers without it, as asked.
    this.subscriptions.delete(notificationFilterKey(filter));
    await this.request({ kind: Kind.Unsubscribe, filter });
  }

  /** Notifications as an async iterator; ends when the client closes. */
  async *notifications(): AsyncGenerator<Notification> {
    const queue: Notification[] = [];
    let wake: (() => void) | null = null;
    const onNotification = (n: Notification): void => {
      queue.push(n);
      wake?.();
    };
    const onClose = (): void => wake?.();
    this.on('notification', onNotification);
    this.on('closed', onClose);
    try {
      while (this.state !== 'closed' || queue.length > 0) {
        const next = queue.shift();
        if (next) yield next;
        else await new Promise<void>((resolve) => (wake = resolve));
      }
    } finally {
      this.off('notification', onNotification);
      this.off('closed', onClose);
    }
  }

  async create(object: NewObject, options?: WriteOptions): Promise<WriteOutcome> {
    return writeOutcome(await this.request({ kind: Kind.CreateObject, object, ...options }));
  }

  async update(type: ObjectType, dbid: number, delta: ObjectDelta, options?: WriteOptions): Promise<WriteOutcome> {
    return writeOutcome(await this.request({ kind: Kind.UpdateObject, type, dbid, delta, ...options }));
  }

  async delete(type: ObjectType, dbid: number, options?: WriteOptions): Promise<WriteOutcome> {
    return writeOutcome(await this.request({ kind: Kind.DeleteObject, type, dbid, ...options }));
  }

  /**
   * For proxies (clientType 'proxy'): the whole configuration with password hashes, chunk by
   * chunk; resolves with the seq the snapshot was taken at [PROTO-PROXY-2].
   */
  async loadSnapshot(onChunk: (chunk: ObjectsChunkMessage) => void): Promise<ReadEndMessage> {
    const end = await this.request({ kind: Kind.LoadSnapshot }, (chunk) => {
      if (chunk.kind === Kind.ObjectsChunk) onChunk(chunk);
    });
    return end.kind === Kind.ReadEnd ? end : unexpected(end);
  }

  /**
   * Administrators, on a master: an online copy of its configuration database, chunk by chunk;
   * resolves with the size, seq and lineage of the copy [PROTO-BACKUP-1].
   */
  async backup(onChunk: (chunk: BackupChunkMessage) => void): Promise<BackupEndMessage> {
    const end = await this.request({ kind: Kind.BackupDatabase }, (chunk) => {
      if (chunk.kind === Kind.BackupChunk) onChunk(chunk);
    });
    return end.kind === Kind.BackupEnd ? end : unexpected(end);
  }

  async serverInfo(): Promise<Message> {
    return this.request({ kind: Kind.GetServerInfo });
  }

  /** Closes the connection and stops reconnecting. */
  async close(): Promise<void> {
    if (this.state === 'closed') return;
    this.state = 'closed';
    if (this.reconnectTimer) systemClock.clearTimeout(this.reconnectTimer);
    this.stopPausedKeepalive?.();
    this.standby?.close();
    this.standby = null;
    this.failPending(new CfgError(ErrorCode.CLIENT_CLOSED, 'client closed'));
    const connection = this.connection;
    this.connection = null;
    if (connection?.isOpen) {
      const closed = new Promise<void>((resolve) => connection.socket.once('close', () => resolve()));
      connection.close();
      await closed;
    }
    this.emit('closed');
  }
}

function errorFrom(message: ErrorMessage): CfgError {
  return new CfgError(message.code as CfgError['code'], message.message, { details: message.details });
}

function writeOutcome(result: Message): WriteOutcome {
  return result.kind === Kind.WriteResult ? { seq: result.seq, dbid: result.dbid } : unexpected(result);
}

function unexpected(message: Message): never {
  throw new CfgError(ErrorCode.INTERNAL, `unexpected reply kind ${message.kind}`);
}

