import { CfgError, ErrorCode, Kind, type Message } from '../../protocol/index.js';
import { Connection, DEFAULT_CONNECTION_LIMITS } from '../net/connection.js';
import { dial } from '../net/dial.js';
import type { Endpoint } from '../net/endpoint.js';
import type { TlsFiles } from '../net/tls-options.js';
import { backoffDelayMs } from './backoff.js';
import { login, type LoginMode } from './login.js';
import { systemClock } from '../util/clock.js';

export interface StandbyOptions {
  user: string;
  password: string;
  login: LoginMode | undefined;
  tls: TlsFiles | undefined;
  connectTimeoutMs: number;
  addp: { localTimeoutMs: number; remoteTimeoutMs: number } | undefined;
  /** The standby connection was announced and acknowledged. */
  onReady(): void;
}

/** Delay before the first dial (doubled at most by jitter). */
const FIRST_DIAL_MS = 1000;
/** The server's keepalive towards a standby connection when the application set none. */
const STANDBY_KEEPALIVE_MS = 30_000;

/**
 * A standby connection to the endpoint the client would fail over to [PROTO-STANDBY-1]: dialed
 * and announced ahead of time, kept alive by ADDP, dialed again with backoff when it drops, and
 * handed over by `take()` when the live connection is lost. A server without Standby (an older
 * one), or one that refuses the credentials, is not asked again.
 */
export class StandbyLink {
  private ready: Connection | null = null;
  private retryTimer: unknown = null;
  private failures = 0;
  private done = false;

  constructor(
    readonly endpointIndex: number,
    private readonly endpoint: Endpoint,
    private readonly options: StandbyOptions,
  ) {
    // Not at once: right after a failover every client opens its next standby, and the servers
    // have better things to do in that second than accept them.
    this.retryTimer = systemClock.setTimeout(() => {
      this.retryTimer = null;
      void this.open();
    }, FIRST_DIAL_MS * (1 + Math.random()));
  }

  /** The announced connection, now the caller's; undefined when none is ready. The link is spent. */
  take(): Connection | undefined {
    const connection = this.ready;
    this.ready = null;
    this.stop();
    return connection?.isOpen ? connection : undefined;
  }

  close(): void {
    const connection = this.ready;
    this.ready = null;
    this.stop();
    connection?.close();
  }

  private stop(): void {
    this.done = true;
    if (this.retryTimer) systemClock.clearTimeout(this.retryTimer);
    this.retryTimer = null;
  }

  private async open(): Promise<void> {
    let connection: Connection | undefined;
    try {
      const socket = await dial(this.endpoint, this.options.tls, this.options.connectTimeoutMs);
      connection = new Connection(socket, { limits: { ...DEFAULT_CONNECTION_LIMITS, drainTimeoutMs: 0 }, oversized: 'skip' });
      if (this.done) throw new CfgError(ErrorCode.CLIENT_CLOSED, 'standby no longer wanted');
      await this.announce(connection);
    } catch (error) {
      connection?.destroy({ message: 'standby not established', local: true });
      // A server that does not know Standby (an older one), or does not take these credentials,
      // is not asked again; anything else (down, loading, full) is asked again later.
      const code = error instanceof CfgError ? error.code : undefined;
      if (code !== ErrorCode.UNKNOWN_KIND && code !== ErrorCode.AUTH_FAILED && code !== ErrorCode.CLIENT_CLOSED) this.retryLater();
      return;
    }
    if (this.done) {
      connection.close();
      return;
    }
    this.failures = 0;
    this.ready = connection;
    connection.startKeepalive(this.options.addp?.localTimeoutMs ?? 0);
    this.options.onReady();
  }

  /**
   * Logs in (LoginStart, then Standby with the proof) and resolves on the Ack; the handler stays to
   * answer polls and notice a close.
   */
  private async announce(connection: Connection): Promise<void> {
    const waiting = new Map<number, { resolve(message: Message): void; reject(error: Error): void }>();
    let nextId = 1;
    let failure: Error | undefined;
    const failAll = (error: Error): void => {
      failure ??= error;
      for (const waiter of waiting.values()) waiter.reject(error);
      waiting.clear();
    };
    connection.setHandler({
      onMessage: (message) => {
        if (!('id' in message)) return;
        const waiter = waiting.get(message.id);
        if (!waiter) return;
        waiting.delete(message.id);
        if (message.kind === Kind.Error) waiter.reject(new CfgError(message.code as CfgError['code'], message.message));
        else waiter.resolve(message);
      },
      onInvalidMessage: () => undefined,
      onClose: (reason) => {
        failAll(new CfgError(ErrorCode.CONNECTION_LOST, reason.message));
        if (this.ready !== connection) return;
        this.ready = null;
        this.retryLater();
      },
    });
    const ask = (message: Record<string, unknown>): Promise<Message> =>
      new Promise((resolve, reject) => {
        if (failure) return reject(failure);
        const id = nextId++;
        waiting.set(id, { resolve, reject });
        connection.send({ ...message, id } as unknown as Message);
      });
    const timer = systemClock.setTimeout(() => failAll(new CfgError(ErrorCode.CONNECTION_LOST, 'no answer to Standby')), this.options.connectTimeoutMs, true);
    try {
      const { user, password, addp } = this.options;
      const credentials = await login(ask, user, password, this.options.login, this.endpoint.tls);
      // A standby connection always has the server's keepalive on [PROTO-STANDBY-2]: 30 s unless the application chose one.
      await ask({
        kind: Kind.Standby,
        user,
        ...(credentials.proof !== undefined ? { proof: credentials.proof } : { password }),
        remoteTimeoutMs: addp?.remoteTimeoutMs || STANDBY_KEEPALIVE_MS,
      });
    } finally {
      systemClock.clearTimeout(timer);
    }
  }

  private retryLater(): void {
    if (this.done) return;
    this.failures += 1;
    this.retryTimer = systemClock.setTimeout(() => {
      this.retryTimer = null;
      void this.open();
    }, backoffDelayMs(this.failures, 500, 30_000));
  }
}
