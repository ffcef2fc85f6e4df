import { randomUUID } from 'node:crypto';
import {
  CfgError,
  ErrorCode,
  Kind,
  KindNames,
  type Message,
  type NotificationFilter,
  type RequestMessage,
} from '../../protocol/index.js';
import type { CloseReason, Connection, ConnectionHandler } from '../net/connection.js';
import { outOfViewFrame, type ChangeRecord, type ChangeView } from '../model/change.js';
import { matchesNotificationFilter, notificationFilterKey } from '../model/filter.js';
import type { FolderParentLookup, Principal } from '../model/permissions.js';
import type { ServiceMetrics } from './metrics.js';
import type { Logger } from '../util/logger.js';
import type { Semaphore } from '../util/semaphore.js';
import { handlers } from './handlers/index.js';
import type { ServiceLimits } from './limits.js';
import type { LoginThrottle } from './login-throttle.js';
import type { LoginSecret } from '../model/credentials.js';
import type { ConfigSource } from './source.js';
import type { ExternalLogins } from '../auth/external-logins.js';
import { externalAccountOf, type ExternalAccount } from '../model/external-account.js';
import type { TLSSocket } from 'node:tls';
import { systemClock } from '../util/clock.js';

/** What a session needs from the server that owns it. */
export interface SessionHost {
  readonly source: ConfigSource;
  readonly limits: ServiceLimits;
  readonly logger: Logger;
  /** Bounds concurrent proxy snapshot loads. */
  readonly snapshotLoads: Semaphore;
  /** The session registered: it now receives notifications. */
  activate(session: ClientSession): void;
  /** The session ended. */
  release(session: ClientSession): void;
  /** The session's subscriptions changed. */
  sessionChanged(session: ClientSession): void;
  /** Failed logins by user and address [ARCH-8]. */
  readonly logins: LoginThrottle;
  /** Counts a logged-in session against the limits; throws TOO_MANY_CLIENTS when there is no room. */
  takeSeat(session: ClientSession, seat: 'active' | 'standby'): void;
  readonly metrics: ServiceMetrics;
  /** Checks the passwords of LDAP and RADIUS accounts, when this server has a directory configured. */
  readonly externalLogins?: ExternalLogins;
}

/** A long request's view of its withdrawal [PROTO-CANCEL-1]. */
export interface Cancellation {
  readonly cancelled: boolean;
  /** Waits until fewer than `highWaterBytes` wait for the client, or the request is withdrawn; true to go on. */
  paced(highWaterBytes: number): Promise<boolean>;
}

/** Objects that reads of one session may hold while they wait for the client to read (8 bytes each). */
const MAX_HELD_READ_OBJECTS = 1_000_000;

export type SessionState = 'awaiting-register' | 'standby' | 'registering' | 'active' | 'closed';

/**
 * One client connection on the server side: its handshake state, identity, subscriptions and
 * keepalive. Request handling lives in handlers/, one file per request kind.
 */
export class ClientSession implements ConnectionHandler {
  state: SessionState = 'awaiting-register';
  id: string = randomUUID();
  clientName = '';
  clientType = '';
  personDbid = 0;
  /** Registered as a proxy: receives CredentialChanged frames and may write on behalf of others. */
  isProxy = false;
  /** A restore is replaying the log: live notifications wait until it has caught up. */
  catchingUp = false;
  /** The seq of the last notification queued for this client. */
  lastDeliveredSeq = 0;
  readonly subscriptions = new Map<string, NotificationFilter>();
  /** Long requests (snapshot loads, backups) running now, by id, and whether the client withdrew them [PROTO-CANCEL-1]. */
  private readonly longRequests = new Map<number, { cancelled: boolean; wake(): void }>();
  private cachedPrincipal: Principal | undefined;
  private principalVersion = -1;
  private inFlight = 0;
  private heldReadObjects = 0;
  /** Where the session counts against the server's limits once it has logged in. */
  seat: 'none' | 'active' | 'standby' = 'none';
  /** The challenge this connection was sent [PROTO-HELLO-5]; the next login by proof uses it up. */
  challenge: { user: string; authMessage: string; at: number } | undefined;
  /** A failed login whose answer is held back [PROTO-LIMIT-4]: it may be evicted like an idle connection. */
  failureDelayed = false;
  private readonly registerTimer: unknown;

  constructor(
    readonly connection: Connection,
    readonly host: SessionHost,
    /** The port the client came in on: the client port, or the UI port, which takes UI tools only. */
    readonly port: 'clients' | 'ui' = 'clients',
  ) {
    connection.setHandler(this);
    this.registerTimer = systemClock.setTimeout(() => {
      if (this.state === 'awaiting-register') {
        this.connection.close({ code: ErrorCode.NOT_REGISTERED, message: `no Register within ${host.limits.registerTimeoutMs} ms` });
      }
    }, host.limits.registerTimeoutMs);
  }

  get logger(): Logger {
    return this.host.logger;
  }

  /** The session's permissions, looked up again whenever persons or access groups changed. */
  get principal(): Principal | undefined {
    const version = this.host.source.principalsVersion();
    if (version !== this.principalVersion) {
      this.principalVersion = version;
      this.cachedPrincipal = this.host.source.principal(this.personDbid);
      if (!this.cachedPrincipal && this.state === 'active') {
        // The account was deleted or disabled: its session ends now, not at the next login.
        setImmediate(() => this.connection.close({ code: ErrorCode.AUTH_FAILED, message: 'the account was removed or disabled' }));
      }
    }
    return this.cachedPrincipal;
  }

  /** Like `principal`, but a request from a session without one is refused. */
  requirePrincipal(): Principal {
    const principal = this.principal;
    if (!principal) throw new CfgError(ErrorCode.AUTH_FAILED, 'the account was removed or disabled');
    return principal;
  }

  /** True when one of the session's subscriptions selects the change [PROTO-SUB-2]. */
  selects(change: ChangeRecord): boolean {
    for (const filter of this.subscriptions.values()) {
      if (matchesNotificationFilter(filter, change)) return true;
      if (change.previous && matchesNotificationFilter(filter, { type: change.type, dbid: change.dbid, ...change.previous })) return true;
    }
    return false;
  }

  /**
   * Whether the session gets this change, and how [PROTO-SUB-2, PROTO-PERM-2]: a subscription must
   * select it; a user who may read the object where it is now gets the change itself; one who
   * could read it only where it was gets `out-of-view`, a deletion without the content (the
   * content may hold what this user must not see). The one rule for the live fan-out and replays.
   */
  view(change: ChangeRecord, parentOf: FolderParentLookup): ChangeView | undefined {
    if (!this.selects(change)) return undefined;
    const principal = this.principal;
    if (!principal) return undefined;
    if (principal.canRead(change, parentOf)) return 'full';
    if (change.previous !== undefined && principal.canRead({ type: change.type, dbid: change.dbid, ...change.previous }, parentOf)) return 'out-of-view';
    return undefined;
  }

  /**
   * Queues a change's frame (the bytes encoded once at commit) [ARCH-4]. False when the connection
   * is gone or was just cut off as a slow consumer.
   */
  deliver(change: ChangeRecord, view: ChangeView): boolean {
    if (view === 'out-of-view') {
      if (!this.connection.writeFrame(outOfViewFrame(change))) return false;
    } else {
      if (this.isProxy && change.proxyFrame && !this.connection.writeFrame(change.proxyFrame)) return false;
      if (!this.connection.writeFrame(change.frame)) return false;
    }
    this.lastDeliveredSeq = change.seq;
    return true;
  }

  addSubscription(filter: NotificationFilter): void {
    const key = notificationFilterKey(filter);
    if (!this.subscriptions.has(key) && this.subscriptions.size >= this.host.limits.maxSubscriptionsPerSession) {
      throw new CfgError(ErrorCode.TOO_MANY_SUBSCRIPTIONS, `a session may hold at most ${this.host.limits.maxSubscriptionsPerSession} subscriptions`);
    }
    this.subscriptions.set(key, filter);
  }

  removeSubscription(filter: NotificationFilter): boolean {
    return this.subscriptions.delete(notificationFilterKey(filter));
  }

  /**
   * Runs a long request that the client may withdraw with Cancel. The work gets a `Cancellation`:
   * it turns true once the client withdrew the request (or the connection closed), and `paced`
   * waits for the client to read but wakes at a cancel, so a load nobody reads stops at once.
   */
  async runCancellable(id: number, work: (cancellation: Cancellation) => Promise<void>): Promise<void> {
    let wake!: () => void;
    const withdrawn = new Promise<void>((resolve) => (wake = resolve));
    const entry = { cancelled: false, wake };
    this.longRequests.set(id, entry);
    const connection = this.connection;
    const cancellation: Cancellation = {
      get cancelled() {
        return entry.cancelled || !connection.isOpen;
      },
      paced: async (highWaterBytes) => {
        await Promise.race([connection.waitUntilQueuedBelow(highWaterBytes), withdrawn]);
        return !cancellation.cancelled;
      },
    };
    try {
      await work(cancellation);
    } finally {
      if (this.longRequests.get(id) === entry) this.longRequests.delete(id);
    }
  }

  /** Cancel [PROTO-CANCEL-1]: only a running long request is marked, so a client cannot grow the map. */
  cancel(id: number): boolean {
    const entry = this.longRequests.get(id);
    if (!entry) return false;
    entry.cancelled = true;
    entry.wake();
    return true;
  }

  /**
   * Checks a login [PROTO-HELLO-3, -5]: refused at once while the user or address is throttled, a
   * failure counted and logged; resolves with the person's dbid (and, after a login by proof, the
   * server's proof for the client to check), or throws AUTH_FAILED. A proof answers this
   * connection's challenge, which it uses up.
   */
  async authenticate(user: string, given: { password?: string; proof?: string }): Promise<{ personDbid: number; serverProof?: string }> {
    const { logins, source, metrics } = this.host;
    const address = this.connection.socket.remoteAddress ?? 'unknown';
    const person = source.store.findByName('Person', 0, user);
    const external = person && person.state !== 'disabled' ? externalAccountOf(person) : undefined;
    const method = external?.method ?? (given.proof !== undefined ? 'proof' : 'password');
    try {
      logins.checkSource(address);
    } catch (error) {
      metrics.logins.inc({ method, outcome: 'throttled' });
      throw error;
    }
    const challenge = this.challenge;
    this.challenge = undefined;
    if (external) return this.authenticateExternal(user, person!.dbid, external, given.password, address);
    let secret: LoginSecret;
    if (given.password !== undefined && this.host.limits.refusePasswordLogins) {
      throw new CfgError(ErrorCode.AUTH_FAILED, 'this server takes logins by proof only (LoginStart, then the proof), not a password in the clear');
    }
    if (given.password !== undefined) secret = { password: given.password };
    else if (given.proof !== undefined && challenge?.user === user) secret = { proof: Buffer.from(given.proof, 'base64'), authMessage: challenge.authMessage };
    else throw new CfgError(ErrorCode.AUTH_FAILED, given.proof === undefined ? 'give a password or a proof' : 'a proof answers the LoginChallenge of this connection for this user: send LoginStart first');
    const login = await source.credentials.authenticate(source.store, user, secret);
    if (login === undefined) return this.refuse(user, address, method);
    logins.succeeded(user);
    metrics.logins.inc({ method, outcome: 'ok' });
    return { personDbid: login.personDbid, ...(login.serverProof ? { serverProof: login.serverProof.toString('base64') } : {}) };
  }

  /** A directory account's login [PROTO-HELLO-7]: its password, over TLS, checked by this server's directory. */
  private async authenticateExternal(user: string, personDbid: number, account: ExternalAccount, password: string | undefined, address: string): Promise<{ personDbid: number }> {
    const { logins, metrics, externalLogins, limits } = this.host;
    const method = account.method;
    if (password === undefined) return this.refuse(user, address, method);
    if (!this.encrypted && !limits.externalPasswordsInClear) {
      throw new CfgError(ErrorCode.TLS_REQUIRED, `'${user}' logs in with a directory password, which this server takes over TLS only`);
    }
    if (!externalLogins) {
      metrics.logins.inc({ method, outcome: 'unavailable' });
      throw new CfgError(ErrorCode.AUTH_UNAVAILABLE, `'${user}' logs in by ${method.toUpperCase()}, and this server has no directory configured (--${method === 'ldap' ? 'ldap-url' : 'radius-server'})`);
    }
    let accepted: boolean;
    try {
      accepted = await externalLogins.check(account, password);
    } catch (error) {
      metrics.logins.inc({ method, outcome: 'unavailable' });
      throw error;
    }
    if (!accepted) return this.refuse(user, address, method);
    logins.succeeded(user);
    metrics.logins.inc({ method, outcome: 'ok' });
    return { personDbid };
  }

  /**
   * On the UI port, refuses a client that is not a UI tool, before any credential is checked
   * [PROTO-UI-1]; `clientType` undefined (a Standby, which names none) is refused there too.
   */
  requireUiClient(clientType: string | undefined): void {
    const types = this.host.limits.uiClientTypes;
    if (this.port !== 'ui' || (clientType !== undefined && types.includes(clientType))) return;
    const what = clientType === undefined ? 'standby connections' : `'${clientType}'`;
    throw new CfgError(ErrorCode.PERMISSION_DENIED, `this is the UI port: it takes UI tools only (client types ${types.join(', ')}), not ${what}; connect to the client port`, { details: { port: 'ui' } });
  }

  /** Whether the client's connection is TLS: a directory password may cross only such a one [PROTO-HELLO-7]. */
  get encrypted(): boolean {
    return (this.connection.socket as Partial<TLSSocket>).encrypted === true;
  }

  /** A failed login: counted, logged past the threshold, answered late for a name under attack [PROTO-LIMIT-4]. */
  private async refuse(user: string, address: string, method: string): Promise<never> {
    const { logins, metrics } = this.host;
    metrics.logins.inc({ method, outcome: 'failed' });
    const { delayMs, sourceBlocked } = logins.failed(user, address);
    if (sourceBlocked) this.logger.warn({ event: 'AUTH-001', user, address }, 'repeated failed logins from this address range: refusing it for a while');
    if (delayMs > 0) {
      // A failure is answered late, which slows guessing; a right answer never is [PROTO-LIMIT-4].
      this.failureDelayed = true;
      await new Promise<void>((resolve) => systemClock.setTimeout(resolve, delayMs));
      this.failureDelayed = false;
    }
    throw new CfgError(ErrorCode.AUTH_FAILED, 'unknown user or wrong password');
  }

  /**
   * The client has logged in: its frames may be as large as the limits allow [ARCH-8], and it
   * holds a seat (registered or standby) instead of a place among the connections not logged in.
   */
  loggedIn(seat: 'active' | 'standby'): void {
    systemClock.clearTimeout(this.registerTimer);
    this.connection.authenticated();
    this.host.takeSeat(this, seat);
  }

  /** A standby connection [PROTO-STANDBY-2]: no register deadline; ADDP keeps it honest instead. */
  standBy(remoteTimeoutMs: number): void {
    this.state = 'standby';
    this.loggedIn('standby');
    this.startAddp(remoteTimeoutMs, false);
  }

  /** Starts the keepalive towards the client with the timeout it asked for [PROTO-ADDP-2]. */
  startAddp(timeoutMs: number, trace: boolean): void {
    this.connection.startKeepalive(timeoutMs, trace ? (line) => this.logger.info({ session: this.id, client: this.clientName }, line) : undefined);
  }

  send(message: Message): boolean {
    return this.connection.send(message);
  }

  replyError(id: number, error: unknown): void {
    if (error instanceof CfgError) {
      this.send({ kind: Kind.Error, id, code: error.code, message: error.message, ...(error.details ? { details: stripId(error.details) } : {}) });
      return;
    }
    this.logger.error({ err: error, session: this.id }, 'request failed unexpectedly');
    this.send({ kind: Kind.Error, id, code: ErrorCode.INTERNAL, message: 'internal server error; the request was not carried out' });
  }

  onMessage(message: Message): void {
    const handler = handlers[message.kind as RequestMessage['kind']] as ((session: ClientSession, m: Message) => void | Promise<void>) | undefined;
    const id = 'id' in message ? message.id : 0;
    if (!handler) {
      this.replyError(id, new CfgError(ErrorCode.UNKNOWN_KIND, `a server does not accept ${KindNames[message.kind] ?? message.kind} messages`));
      return;
    }
    if (this.state !== 'active' && message.kind !== Kind.Register && message.kind !== Kind.Standby && message.kind !== Kind.LoginStart) {
      this.replyError(id, new CfgError(ErrorCode.NOT_REGISTERED, 'send Register first'));
      return;
    }
    const startedAt = systemClock.now();
    const observe = (): void => this.host.metrics.requestSeconds.observe({ kind: KindNames[message.kind] ?? String(message.kind) }, (systemClock.now() - startedAt) / 1000);
    try {
      const pending = handler(this, message);
      if (pending) this.track(pending.catch((error: unknown) => this.replyError(id, error)).finally(observe));
      else observe();
    } catch (error) {
      this.replyError(id, error);
      observe();
    }
  }

  /**
   * Requests still running hold memory (a read holds its objects until the client takes them): a
   * client that pipelines requests and reads no replies is cut off past the limit [ARCH-5], with
   * a session it can restore.
   */
  private track(request: Promise<void>): void {
    this.inFlight += 1;
    void request.finally(() => (this.inFlight -= 1));
    if (this.inFlight > this.host.limits.maxRequestsInFlight) {
      this.connection.close({ code: ErrorCode.TOO_MANY_REQUESTS, message: `more than ${this.host.limits.maxRequestsInFlight} requests unanswered: read the replies` });
    }
  }

  /** Objects held for reads not yet sent; past `MAX_HELD_READ_OBJECTS` the client is cut off. */
  holdForRead(objects: number): void {
    this.heldReadObjects += objects;
    if (this.heldReadObjects > MAX_HELD_READ_OBJECTS) {
      this.connection.close({ code: ErrorCode.TOO_MANY_REQUESTS, message: `reads of more than ${MAX_HELD_READ_OBJECTS} objects wait for this client: read the replies` });
    }
  }

  releaseRead(objects: number): void {
    this.heldReadObjects -= objects;
  }

  onInvalidMessage(error: CfgError): void {
    const id = typeof error.details?.id === 'number' ? error.details.id : 0;
    this.replyError(id, error);
  }

  onClose(reason: CloseReason): void {
    const wasActive = this.state === 'active';
    this.state = 'closed';
    systemClock.clearTimeout(this.registerTimer);
    this.host.release(this);
    // Why connections end, for /metrics: the server's own decisions by code, the rest by side.
    this.host.metrics.closes.inc({ reason: reason.local && reason.code ? reason.code : reason.local ? 'server' : 'client' });
    if (reason.code === ErrorCode.INTERNAL) {
      this.logger.error({ session: this.id, client: this.clientName, err: reason.error, reason: reason.message }, 'a bug closed this client connection (the server goes on)');
    } else if (wasActive || reason.code) {
      this.logger.debug({ session: this.id, client: this.clientName, code: reason.code, reason: reason.message }, 'session closed');
    }
  }
}

function stripId(details: Record<string, string | number | boolean>): Record<string, string | number | boolean> {
  const { id: _id, ...rest } = details;
  return rest;
}
