import type { Server, Socket } from 'node:net';
import { CfgError, ErrorCode, encodeFrame, Kind, type ErrorCodeName } from '../../protocol/index.js';
import { Connection } from '../net/connection.js';
import { boundPort, listen } from '../net/listener.js';
import type { TlsFiles } from '../net/tls-options.js';
import { ServiceMetrics } from './metrics.js';
import type { Logger } from '../util/logger.js';
import { Semaphore } from '../util/semaphore.js';
import { SessionRegistry } from './session-registry.js';
import { FanOut } from './fan-out.js';
import { DEFAULT_LOGIN_THROTTLE, LoginThrottle } from './login-throttle.js';
import { DEFAULT_SERVICE_LIMITS, type ServiceLimits } from './limits.js';
import { ClientSession, type SessionHost } from './session.js';
import type { ConfigSource } from './source.js';
import { externalLoginsFor, type DirectorySettings, type ExternalLogins } from '../auth/index.js';
import { every, systemClock } from '../util/clock.js';

/** Told about client sessions as they open, change and close (the proxy's history log records them). */
export interface SessionObserver {
  sessionOpened(session: ClientSession): void;
  sessionChanged(session: ClientSession): void;
  sessionClosed(session: ClientSession): void;
}

export interface ConfigServiceOptions {
  host: string;
  port: number;
  tls?: TlsFiles;
  limits?: Partial<ServiceLimits>;
  logger: Logger;
  sessions?: SessionObserver;
  /** A second port, for UI tools only (`limits.uiClientTypes`): administrators' tools kept apart from the servers' port. */
  ui?: { port: number; tls?: TlsFiles };
  /** The LDAP and RADIUS directories external accounts log in against. */
  directories?: DirectorySettings;
}

/** What master and proxy options share about their client ports and logins. */
export interface ClientAccessOptions {
  /** A port for UI tools only (`--ui-port`) besides the client port. */
  uiPort?: number;
  /** TLS on the UI port (else the client port's). */
  uiTls?: TlsFiles;
  /** LDAP and RADIUS directories for external accounts. */
  directories?: DirectorySettings;
}

/** The `ui` option of the service from master or proxy options. */
export function uiPortOf(options: ClientAccessOptions & { tls?: TlsFiles }): ConfigServiceOptions['ui'] {
  return options.uiPort === undefined ? undefined : { port: options.uiPort, tls: options.uiTls ?? options.tls };
}

/**
 * The client-facing configuration service shared by master and proxy: accepts connections,
 * runs a session per client, fans out every change the source applies.
 */
export class ConfigService implements SessionHost {
  readonly limits: ServiceLimits;
  readonly logger: Logger;
  /** The registered sessions; the fan-out delivers to them. */
  readonly sessions = new SessionRegistry();
  readonly fanOut: FanOut;
  readonly snapshotLoads: Semaphore;
  private readonly connections = new Set<ClientSession>();
  /** Logged-in sessions (registered or standing by); the rest of `connections` have not logged in. */
  private seated = 0;
  private readonly standbyByPerson = new Map<number, number>();
  private server: Server | null = null;
  private uiServer: Server | null = null;
  private stopPositions: (() => void) | null = null;
  private announcedSeq = -1;
  private readonly unsubscribe: () => void;
  /** Latency histograms and Node's own metrics, for the admin port. */
  readonly metrics = new ServiceMetrics();
  readonly logins = new LoginThrottle(DEFAULT_LOGIN_THROTTLE, Date.now, (reason) => this.metrics.loginsThrottled.inc({ reason }));

  constructor(
    readonly source: ConfigSource,
    private readonly options: ConfigServiceOptions,
  ) {
    this.limits = { ...DEFAULT_SERVICE_LIMITS, ...options.limits };
    this.logger = options.logger;
    this.fanOut = new FanOut(this.sessions, source.store.folderParent, () => source.principalsVersion(), (committedAt) => {
      const now = Date.now();
      for (const at of committedAt) this.metrics.deliverySeconds.observe(Math.max(0, now - at) / 1000);
    });
    this.snapshotLoads = new Semaphore(this.limits.maxSnapshotLoads);
    this.externalLogins = externalLoginsFor(options.directories, this.logger, (method, outcome, seconds) => this.metrics.directorySeconds.observe({ method, outcome }, seconds));
    this.unsubscribe = source.onChange((change) => this.fanOut.publish(change));
  }

  get port(): number {
    if (!this.server) throw new Error('service is not listening');
    return boundPort(this.server);
  }

  /** The UI port, when there is one. */
  get uiPort(): number | undefined {
    return this.uiServer ? boundPort(this.uiServer) : undefined;
  }

  readonly externalLogins: ExternalLogins | undefined;

  /** Ports and directories, for the admin port's status. */
  accessSummary(): { clientPort: number; uiPort?: number; directories: Record<string, string> } {
    return { clientPort: this.port, ...(this.uiPort !== undefined ? { uiPort: this.uiPort } : {}), directories: this.externalLogins?.describe() ?? {} };
  }

  get clientCount(): number {
    return this.connections.size;
  }

  /** Connections accepted since the start (a failover onto standby connections adds none). */
  acceptedTotal = 0;

  /** Connections standing by for a failover [PROTO-STANDBY-1] (counted in clientCount too). */
  get standbyCount(): number {
    let count = 0;
    for (const session of this.connections) if (session.state === 'standby') count += 1;
    return count;
  }

  async start(): Promise<void> {
    this.server = await listen({ host: this.options.host, port: this.options.port, tls: this.options.tls }, (socket) => this.accept(socket, 'clients'));
    const ui = this.options.ui;
    if (ui) {
      try {
        this.uiServer = await listen({ host: this.options.host, port: ui.port, tls: ui.tls, flag: '--ui-port' }, (socket) => this.accept(socket, 'ui'));
      } catch (error) {
        await new Promise<void>((resolve) => this.server!.close(() => resolve()));
        this.server = null;
        throw error;
      }
    }
    if (this.limits.positionIntervalMs > 0) {
      this.stopPositions = every(systemClock, this.limits.positionIntervalMs, () => {
        const seq = this.source.appliedSeq();
        if (seq === this.announcedSeq) return;
        // A sweep still under way takes no new seq: this one is announced at the next tick.
        if (this.fanOut.announcePosition(seq, this.source.chain())) this.announcedSeq = seq;
      });
    }
  }

  private accept(socket: Socket, port: 'clients' | 'ui'): void {
    this.acceptedTotal += 1;
    if (this.connections.size - this.seated >= this.limits.maxPendingConnections && !this.evictOldestPending()) {
      const message = `server is at its limit of ${this.limits.maxPendingConnections} connections that have not logged in; retry shortly`;
      socket.end(encodeFrame({ kind: Kind.Error, id: 0, code: ErrorCode.TOO_MANY_CLIENTS, message, fatal: true }));
      socket.on('error', () => undefined);
      // Read (and drop) what it sends, or its close is never seen and the socket, and the
      // server's own close, wait forever; one that never closes is dropped after 2 s.
      socket.resume();
      systemClock.setTimeout(() => socket.destroy(), 2000);
      return;
    }
    const connection = new Connection(socket, { limits: this.limits, unauthenticatedFrameBytes: this.limits.unauthenticatedFrameBytes });
    const session = new ClientSession(connection, this, port);
    this.connections.add(session);
  }

  /**
   * Makes room among the connections not logged in by closing the oldest that is idle: it has sent
   * neither Register nor, within `loginGraceMs`, LoginStart. Idle sockets, however many, cannot
   * keep a real client (who logs in within milliseconds of connecting) out [ARCH-8]. False when
   * every one is mid-login.
   */
  private evictOldestPending(): boolean {
    for (const session of this.connections) {
      // A connection between LoginStart and its Register is mid-login (its client derives the key),
      // for a short grace only: LoginStart costs an attacker nothing.
      if (session.state !== 'awaiting-register' && !(session.state === 'registering' && session.failureDelayed)) continue;
      if (session.challenge && systemClock.now() - session.challenge.at < this.limits.loginGraceMs) continue;
      session.connection.close({ code: ErrorCode.TOO_MANY_CLIENTS, message: 'too many connections that have not logged in: the oldest idle one is closed' });
      return true;
    }
    return false;
  }

  takeSeat(session: ClientSession, seat: 'active' | 'standby'): void {
    if (session.seat === seat) return;
    if (session.seat === 'none' && this.seated >= this.limits.maxClients) {
      throw new CfgError(ErrorCode.TOO_MANY_CLIENTS, `server is at its limit of ${this.limits.maxClients} clients`);
    }
    if (seat === 'standby') {
      const held = this.standbyByPerson.get(session.personDbid) ?? 0;
      if (held >= this.limits.maxStandbyPerUser) {
        throw new CfgError(ErrorCode.TOO_MANY_CLIENTS, `a user may keep at most ${this.limits.maxStandbyPerUser} standby connections`);
      }
      this.standbyByPerson.set(session.personDbid, held + 1);
    }
    this.leaveSeat(session);
    this.seated += 1;
    session.seat = seat;
  }

  private leaveSeat(session: ClientSession): void {
    if (session.seat === 'none') return;
    this.seated -= 1;
    if (session.seat === 'standby') {
      const held = (this.standbyByPerson.get(session.personDbid) ?? 1) - 1;
      if (held > 0) this.standbyByPerson.set(session.personDbid, held);
      else this.standbyByPerson.delete(session.personDbid);
    }
    session.seat = 'none';
  }

  activate(session: ClientSession): void {
    this.sessions.add(session);
    this.fanOut.regroup(session);
    this.options.sessions?.sessionOpened(session);
  }

  sessionChanged(session: ClientSession): void {
    this.fanOut.regroup(session);
    this.options.sessions?.sessionChanged(session);
  }

  release(session: ClientSession): void {
    this.connections.delete(session);
    this.leaveSeat(session);
    this.fanOut.leave(session);
    if (this.sessions.delete(session)) this.options.sessions?.sessionClosed(session);
  }

  /**
   * Closes every client connection with a fatal error that says why (e.g. this proxy became the
   * backup). Standby connections stay: a backup is just where they belong.
   */
  disconnectAll(error: { code: ErrorCodeName; message: string }): void {
    for (const session of [...this.connections]) if (session.state !== 'standby') session.connection.close(error);
  }

  /** Stops accepting, tells every client the server is going away, and closes them. */
  async stop(): Promise<void> {
    this.unsubscribe();
    this.stopPositions?.();
    const servers = [this.server, this.uiServer];
    this.server = null;
    this.uiServer = null;
    for (const session of [...this.connections]) {
      session.connection.close({ code: ErrorCode.SERVER_SHUTTING_DOWN, message: 'server is shutting down' });
    }
    await Promise.all(servers.map((server) => server && new Promise<void>((resolve) => server.close(() => resolve()))));
    await this.externalLogins?.close();
  }
}
