import { createHash, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import { isIP, type AddressInfo, type Socket } from 'node:net';
import { hostname, networkInterfaces } from 'node:os';
import { Counter, Gauge, type Registry } from 'prom-client';
import { recentEvents, type Logger } from '../util/logger.js';
import { bindError } from '../net/listener.js';
import { STATUS_PAGE } from './status-page.js';
import { systemClock } from '../util/clock.js';

/** What the admin port reports on, and the one action it takes. */
export interface AdminTarget {
  /** Serving clients now (loaded, and primary or a backup that serves clients). */
  serving(): boolean;
  /** The active primary of a pair (or a standalone server that serves). */
  active(): boolean;
  /** What is degraded while the server still serves (its master unreachable, a history log that takes no writes), for `/health`. */
  warnings?(): string[];
  /** A proxy's link to its masters, for the status page. */
  master?(): { connected: boolean; endpoints: string; unreachableSince?: string };
  /** `/ha` as JSON; undefined when this server is not in a pair. */
  haStatus(): Record<string, unknown> | undefined;
  /** The Prometheus samples, each with its help text. */
  metrics(): Metric[];
  /** The graceful switchover of a pair (`force`: even when it is not ready); undefined when this server is not in a pair. */
  switchover?(options: { force: boolean; waitReadyMs: number }): Promise<{ ok: boolean; message: string }>;
  /** Latency histograms and Node's process and event-loop metrics, rendered with `metrics()`. */
  registry: Registry;
  /** Its ports, the directories its external accounts log in against, and its pool, for `/status`. */
  access?(): AccessSummary;
  /** Who this server is, as labels of `cfgproxy_info` and the status page's title. */
  info(): { kind: string; name: string; version: string; role: string };
}

/** How clients reach a server and log in, for `/status` and `cfgproxy status`. */
export interface AccessSummary {
  clientPort: number;
  uiPort?: number;
  /** Directory by method (ldap, radius), as configured. */
  directories: Record<string, string>;
  /** Where clients reach this server when not its own address (`--advertise`: a balancer's, in a pool). */
  advertise?: string;
  /** A pool member (`--cluster-name`): the pool's name and the member's. */
  pool?: { cluster: string; member: string };
}

/** One Prometheus sample; a name ending in `_total` is a counter, any other a gauge. */
export interface Metric {
  name: string;
  help: string;
  value: number;
}

export interface AdminSettings {
  /** Bearer token for actions (`--admin-token`). */
  token?: string;
  /**
   * Connections held at once (`--admin-max-connections`); past it the oldest idle one is closed.
   * Never more than an eighth of the process's descriptor limit, so the client port keeps the rest.
   */
  maxConnections?: number;
  /** Further names the port may be reached by (`--admin-allowed-hosts`: a balancer's name for this host). */
  allowedHosts?: readonly string[];
}

export const DEFAULT_ADMIN_MAX_CONNECTIONS = 64;
/** Slow or idle requests end this soon: a monitor asks and reads within milliseconds. */
const HEADERS_TIMEOUT_MS = 5_000;
const REQUEST_TIMEOUT_MS = 10_000;
const KEEP_ALIVE_TIMEOUT_MS = 5_000;
const MAX_REQUESTS_PER_SOCKET = 1_000;
/** The log says that connections are being shed at most this often, with a count. */
const SHED_LOG_INTERVAL_MS = 60_000;

/**
 * The admin HTTP port: `/health` (200 while serving, for load-balancer monitors), `/health/active`
 * (200 only on the active primary), `/ha` (pair state as JSON), `/metrics` (Prometheus text), and
 * `POST /ha/switchover` (the primary hands over to its backup).
 *
 * Reads are open (monitors need them). Fit for a browser's world [ARCH-8]: every route answers only
 * to a `Host` this server is known by (the configured host, its addresses, `localhost`, the names
 * given), so a page under DNS rebinding gets 421; an action needs the bearer token whenever the
 * port listens beyond loopback, and a request a web page makes (an `Origin` not of those names) is
 * refused. Bounded: a cap on connections (the oldest idle one makes room), short header, request
 * and keep-alive timeouts, so half-open requests cannot take the descriptors the client port needs.
 */
export class AdminServer {
  private server: http.Server | null = null;
  private readonly token: string | undefined;
  private maxConnections = DEFAULT_ADMIN_MAX_CONNECTIONS;
  /** Open connections, oldest first, and whether a request on each is being answered. */
  private readonly connections = new Map<Socket, { busy: boolean }>();
  private allowedHosts = new Set<string>();
  private loopbackOnly = true;
  private shed = 0;
  private shedLoggedAt = -Infinity;
  private readonly startedAt = Date.now();

  constructor(
    private readonly target: AdminTarget,
    private readonly logger: Logger,
    private readonly settings: AdminSettings = {},
  ) {
    this.token = settings.token;
  }

  get port(): number {
    return this.address.port;
  }

  get address(): AddressInfo {
    return this.server!.address() as AddressInfo;
  }

  async start(host: string, port: number): Promise<void> {
    const server = http.createServer({ headersTimeout: HEADERS_TIMEOUT_MS, requestTimeout: REQUEST_TIMEOUT_MS, keepAliveTimeout: KEEP_ALIVE_TIMEOUT_MS }, (request, response) => this.handle(request, response));
    server.maxRequestsPerSocket = MAX_REQUESTS_PER_SOCKET;
    this.maxConnections = admissibleConnections(this.settings.maxConnections ?? DEFAULT_ADMIN_MAX_CONNECTIONS);
    server.on('connection', (socket: Socket) => this.admit(socket));
    await new Promise<void>((resolve, reject) => {
      server.once('error', (error: NodeJS.ErrnoException) => reject(bindError(error, { host, port, flag: '--admin-port' })));
      server.listen({ host, port }, () => resolve());
    });
    this.server = server;
    this.loopbackOnly = isLoopback(host) || host === 'localhost';
    this.allowedHosts = hostNames(host, this.settings.allowedHosts ?? []);
    this.logger.info({ adminPort: this.port, adminHost: host, maxConnections: this.maxConnections }, 'admin HTTP listening');
  }

  /** A new connection takes a place; at the cap the oldest idle one gives up its own. */
  private admit(socket: Socket): void {
    if (this.connections.size >= this.maxConnections) {
      const idle = [...this.connections].find(([, state]) => !state.busy)?.[0];
      this.noteShed();
      if (!idle) {
        socket.destroy();
        return;
      }
      this.connections.delete(idle);
      idle.destroy();
    }
    this.connections.set(socket, { busy: false });
    socket.once('close', () => this.connections.delete(socket));
  }

  private noteShed(): void {
    this.shed += 1;
    const now = systemClock.now();
    if (now - this.shedLoggedAt < SHED_LOG_INTERVAL_MS) return;
    this.shedLoggedAt = now;
    this.logger.warn({ event: 'ADMIN-002', shed: this.shed, maxConnections: this.maxConnections }, 'admin port at its connection cap: closing the oldest idle connections (raise --admin-max-connections if monitors need more)');
  }

  private handle(request: http.IncomingMessage, response: http.ServerResponse): void {
    const path = (request.url ?? '/').split('?')[0];
    const place = this.connections.get(request.socket);
    if (place) {
      place.busy = true;
      response.once('finish', () => (place.busy = false));
    }
    const send = (status: number, body: string, type = 'text/plain; charset=utf-8'): void => {
      response.writeHead(status, { 'content-type': type, 'cache-control': 'no-store' });
      response.end(body);
    };
    const host = request.headers.host;
    if (host !== undefined && !this.allowedHosts.has(hostOf(host))) {
      // DNS rebinding: a page of the attacker's name reaching this port [ARCH-8].
      this.logger.warn({ event: 'ADMIN-001', path, from: request.socket.remoteAddress, host, status: 421 }, 'admin request for a host this server is not known by');
      return send(421, `this server is not known as '${host}' (allowed: ${[...this.allowedHosts].join(', ')}; --admin-allowed-hosts adds names)\n`);
    }
    if (request.method === 'POST') {
      const refusal = this.refuseAction(request);
      if (refusal) {
        this.logger.warn({ event: 'ADMIN-001', path, from: request.socket.remoteAddress, origin: request.headers.origin, status: refusal.status }, 'admin action refused');
        return send(refusal.status, `${JSON.stringify({ ok: false, message: refusal.message })}\n`, 'application/json');
      }
    }
    if (request.method === 'POST' && path === '/ha/switchover') {
      const switchover = this.target.switchover;
      if (!switchover) return send(404, `${JSON.stringify({ ok: false, message: 'this server is not in a pair' })}\n`, 'application/json');
      const query = new URL(request.url ?? '/', 'http://admin').searchParams;
      const force = query.get('force') === '1';
      // `waitReady` (ms, at most 5 minutes): wait for the pair to be ready, then switch in the same step.
      const waitReadyMs = Math.min(Math.max(0, Number(query.get('waitReady') ?? 0) || 0), 300_000);
      void switchover.call(this.target, { force, waitReadyMs }).then(
        (outcome) => send(outcome.ok ? 200 : 409, `${JSON.stringify(outcome)}\n`, 'application/json'),
        (error: unknown) => send(500, `${JSON.stringify({ ok: false, message: (error as Error).message })}\n`, 'application/json'),
      );
      return;
    }
    if (request.method !== 'GET') return send(405, 'GET, or POST /ha/switchover\n');
    switch (path) {
      case '/':
        return send(200, STATUS_PAGE, 'text/html; charset=utf-8');
      case '/status':
        return send(200, `${JSON.stringify(this.status())}\n`, 'application/json');
      case '/health': {
        const warnings = this.target.warnings?.() ?? [];
        const detail = warnings.length > 0 ? ` (degraded: ${warnings.join('; ')})` : '';
        return this.target.serving() ? send(200, `serving${detail}\n`) : send(503, `not serving${detail}\n`);
      }
      case '/health/active':
        return this.target.active() ? send(200, 'active\n') : send(503, 'not active\n');
      case '/ha': {
        const status = this.target.haStatus();
        return status ? send(200, `${JSON.stringify(status, null, 2)}\n`, 'application/json') : send(404, 'not in a pair\n');
      }
      case '/metrics':
        void this.renderMetrics().then(
          (text) => send(200, text, this.target.registry.contentType),
          (error: unknown) => send(500, `metrics failed: ${(error as Error).message}\n`),
        );
        return;
      default:
        return send(404, 'try /, /status, /health, /health/active, /ha or /metrics\n');
    }
  }

  /** The server's own gauges and counters, set from a fresh reading, then everything in the registry. */
  private async renderMetrics(): Promise<string> {
    const registry = this.target.registry;
    for (const { name, help, value } of this.target.metrics()) {
      const existing = registry.getSingleMetric(name);
      if (name.endsWith('_total')) {
        const counter = (existing as Counter | undefined) ?? new Counter({ name, help, registers: [registry] });
        counter.reset();
        counter.inc(value);
      } else {
        ((existing as Gauge | undefined) ?? new Gauge({ name, help, registers: [registry] })).set(value);
      }
    }
    const info = (registry.getSingleMetric('cfgproxy_info') as Gauge<'kind' | 'name' | 'version' | 'role'> | undefined) ?? new Gauge({ name: 'cfgproxy_info', help: 'Which server this is (always 1).', labelNames: ['kind', 'name', 'version', 'role'], registers: [registry] });
    info.reset();
    info.set(this.target.info(), 1);
    return registry.metrics();
  }

  /** What the status page shows, as JSON. */
  private status(): Record<string, unknown> {
    const pair = this.target.haStatus();
    const serving = this.target.serving();
    const warnings = this.target.warnings?.() ?? [];
    return {
      ...this.target.info(),
      serving,
      active: this.target.active(),
      health: healthOf(serving, warnings, pair),
      warnings,
      uptimeS: Math.round((Date.now() - this.startedAt) / 1000),
      master: this.target.master?.() ?? null,
      access: this.target.access?.() ?? null,
      pair: pair ?? null,
      values: Object.fromEntries(this.target.metrics().map(({ name, value }) => [name, value])),
      events: recentEvents().slice(-20),
    };
  }

  /** Why an action may not run, or undefined. */
  private refuseAction(request: http.IncomingMessage): { status: number; message: string } | undefined {
    const origin = request.headers.origin;
    if (origin !== undefined && !this.allowedHosts.has(originHost(origin))) {
      return { status: 403, message: `requests from a web page (Origin ${origin}) may not act on this server` };
    }
    if (this.token !== undefined) {
      const given = /^Bearer (.+)$/.exec(request.headers.authorization ?? '')?.[1];
      if (given === undefined || !sameSecret(given, this.token)) return { status: 401, message: 'this action needs the admin token: Authorization: Bearer <--admin-token>' };
      return undefined;
    }
    if (!this.loopbackOnly) {
      return { status: 401, message: 'this admin port listens beyond loopback: actions need --admin-token (CFGPROXY_ADMIN_TOKEN)' };
    }
    if (!isLoopback(request.socket.remoteAddress)) {
      return { status: 401, message: 'without --admin-token, actions are taken from this host only; set a token to allow others' };
    }
    return undefined;
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = null;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

/**
 * The cap the admin port may hold: the one asked for, but at most an eighth of the descriptors the
 * process may open (Linux's /proc tells), so it can never take what client logins need.
 */
export function admissibleConnections(wanted: number, limits = readLimits()): number {
  const soft = /^Max open files\s+(\d+|unlimited)/m.exec(limits)?.[1];
  const descriptors = soft === undefined || soft === 'unlimited' ? Infinity : Number(soft);
  return Math.max(1, Math.min(wanted, Math.floor(descriptors / 8)));
}

function readLimits(): string {
  try {
    return readFileSync('/proc/self/limits', 'utf8');
  } catch {
    return '';
  }
}

/** The names a request's `Host` may carry: `localhost`, loopback, the listening host and, for a wildcard, every address and the host name. */
function hostNames(host: string, extra: readonly string[]): Set<string> {
  const names = new Set(['localhost', '127.0.0.1', '::1', host.toLowerCase(), ...extra.map((name) => name.toLowerCase())]);
  if (host === '0.0.0.0' || host === '::' || host === '') {
    names.add(hostname().toLowerCase());
    for (const addresses of Object.values(networkInterfaces())) for (const address of addresses ?? []) names.add(address.address.toLowerCase());
  }
  return names;
}

/** `example:8080` → `example`, `[::1]:80` → `::1`. */
function hostOf(header: string): string {
  const text = header.trim().toLowerCase();
  if (text.startsWith('[')) return text.slice(1, text.indexOf(']'));
  if (isIP(text) === 6) return text;
  return text.replace(/:\d+$/, '');
}

function originHost(origin: string): string {
  try {
    return hostOf(new URL(origin).host);
  } catch {
    return '';
  }
}


function isLoopback(address: string | undefined): boolean {
  return address !== undefined && (address === '::1' || address.startsWith('127.') || address.startsWith('::ffff:127.'));
}


function sameSecret(a: string, b: string): boolean {
  // Digests: neither the length nor the content leaks through timing.
  return timingSafeEqual(createHash('sha256').update(a).digest(), createHash('sha256').update(b).digest());
}

/**
 * One word for a person: `healthy` (serving, or standing by as it should: a pair's backup that is
 * linked and refuses clients by design, a standby master), `degraded` (serving, with warnings), `down` (neither).
 */
function healthOf(serving: boolean, warnings: readonly string[], pair: Record<string, unknown> | undefined): 'healthy' | 'degraded' | 'down' {
  const standingBy = !serving && ((pair?.role === 'backup' && pair.link === 'up') || (pair?.kind === 'master-pair' && pair.role === 'standby'));
  if (!serving && !standingBy) return 'down';
  return warnings.length > 0 ? 'degraded' : 'healthy';
}
