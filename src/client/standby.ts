import { CfgError, ErrorCode, Kind } from '../../protocol/index.js';
import { Connection, DEFAULT_CONNECTION_LIMITS } from '../net/connection.js';
import { dial } from '../net/dial.js';
import type { Endpoint } from '../net/endpoint.js';
import type { TlsFiles } from '../net/tls-options.js';
import { backoffDelayMs } from './backoff.js';

export interface StandbyOptions {
  user: string;
  password: string;
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
  private retryTimer: NodeJS.Timeout | null = null;
  private failures = 0;
  private done = false;

  constructor(
    readonly endpointIndex: number,
    private readonly endpoint: Endpoint,
    private readonly options: StandbyOptions,
  ) {
    // Not at once: right after a failover every client opens its next standby, and the servers
    // have better things to do in that second than accept them.
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      void this.open();
    }, FIRST_DIAL_MS * (1 + Math.random()));
    this.retryTimer.unref();
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
    if (this.retryTimer) clearTimeout(this.retryTimer);
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

  /** Sends Standby and resolves on its Ack; the handler stays to answer polls and notice a close. */
  private announce(connection: Connection): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new CfgError(ErrorCode.CONNECTION_LOST, 'no answer to Standby')), this.options.connectTimeoutMs);
      connection.setHandler({
        onMessage: (message) => {
          if (message.kind !== Kind.Ack && message.kind !== Kind.Error) return;
          clearTimeout(timer);
          if (message.kind === Kind.Ack) resolve();
          else reject(new CfgError(message.code as CfgError['code'], message.message));
        },
        onInvalidMessage: () => undefined,
        onClose: (reason) => {
          clearTimeout(timer);
          reject(new CfgError(ErrorCode.CONNECTION_LOST, reason.message));
          if (this.ready !== connection) return;
          this.ready = null;
          this.retryLater();
        },
      });
      const { user, password, addp } = this.options;
      // A standby connection always has the server's keepalive on [PROTO-STANDBY-2]: 30 s unless the application chose one.
      connection.send({ kind: Kind.Standby, id: 1, user, password, remoteTimeoutMs: addp?.remoteTimeoutMs || STANDBY_KEEPALIVE_MS });
    });
  }

  private retryLater(): void {
    if (this.done) return;
    this.failures += 1;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      void this.open();
    }, backoffDelayMs(this.failures, 500, 30_000));
    this.retryTimer.unref();
  }
}
