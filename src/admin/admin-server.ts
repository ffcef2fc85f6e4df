import { createHash, timingSafeEqual } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Counter, Gauge, type Registry } from 'prom-client';
import { recentEvents, type Logger } from '../util/logger.js';
import { STATUS_PAGE } from './status-page.js';

/** What the admin port reports on, and the one action it takes. */
export interface AdminTarget {
  /** Serving clients now (loaded, and primary or a backup that serves clients). */
  serving(): boolean;
  /** The active primary of a pair (or a standalone server that serves). */
  active(): boolean;
  /** What is degraded while the server still serves (a history log that takes no writes), for `/health`. */
  warnings?(): string[];
  /** `/ha` as JSON; undefined when this server is not in a pair. */
  haStatus(): Record<string, unknown> | undefined;
  /** The Prometheus samples, each with its help text. */
  metrics(): Metric[];
  /** The graceful switchover of a pair (`force`: even when it is not ready); undefined when this server is not in a pair. */
  switchover?(force: boolean): Promise<{ ok: boolean; message: string }>;
  /** Latency histograms and Node's process and event-loop metrics, rendered with `metrics()`. */
  registry: Registry;
  /** Who this server is, as labels of `cfgproxy_info` and the status page's title. */
  info(): { kind: string; name: string; version: string; role: string };
}

/** One Prometheus sample; a name ending in `_total` is a counter, any other a gauge. */
export interface Metric {
  name: string;
  help: string;
  value: number;
}

/**
 * The admin HTTP port: `/health` (200 while serving, for load-balancer monitors), `/health/active`
 * (200 only on the active primary), `/ha` (pair state as JSON), `/metrics` (Prometheus text), and
 * `POST /ha/switchover` (the primary hands over to its backup).
 *
 * Reads are open (monitors need them). An action [ARCH-8] needs the bearer token when one is set
 * (`--admin-token`), and comes from loopback only when none is; a request a web page makes (an
 * `Origin` other than this port's own) is refused, so a browser cannot be used to trigger one.
 */
export class AdminServer {
  private server: http.Server | null = null;

  constructor(
    private readonly target: AdminTarget,
    private readonly logger: Logger,
    private readonly token: string | undefined = undefined,
  ) {}

  get port(): number {
    return this.address.port;
  }

  get address(): AddressInfo {
    return this.server!.address() as AddressInfo;
  }

  async start(host: string, port: number): Promise<void> {
    const server = http.createServer((request, response) => this.handle(request, response));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host, port }, () => resolve());
    });
    this.server = server;
    this.logger.info({ adminPort: this.port }, 'admin HTTP listening');
  }

  private handle(request: http.IncomingMessage, response: http.ServerResponse): void {
    const path = (request.url ?? '/').split('?')[0];
    const send = (status: number, body: string, type = 'text/plain; charset=utf-8'): void => {
      response.writeHead(status, { 'content-type': type, 'cache-control': 'no-store' });
      response.end(body);
    };
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
      const force = new URL(request.url ?? '/', 'http://admin').searchParams.get('force') === '1';
      void switchover.call(this.target, force).then(
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
    return {
      ...this.target.info(),
      serving: this.target.serving(),
      active: this.target.active(),
      warnings: this.target.warnings?.() ?? [],
      pair: this.target.haStatus() ?? null,
      values: Object.fromEntries(this.target.metrics().map(({ name, value }) => [name, value])),
      events: recentEvents().slice(-20),
    };
  }

  /** Why an action may not run, or undefined. */
  private refuseAction(request: http.IncomingMessage): { status: number; message: string } | undefined {
    const origin = request.headers.origin;
    if (origin !== undefined && origin !== `http://${request.headers.host ?? ''}`) {
      return { status: 403, message: `requests from a web page (Origin ${origin}) may not act on this server` };
    }
    if (this.token !== undefined) {
      const given = /^Bearer (.+)$/.exec(request.headers.authorization ?? '')?.[1];
      if (given === undefined || !sameSecret(given, this.token)) return { status: 401, message: 'this action needs the admin token: Authorization: Bearer <--admin-token>' };
      return undefined;
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


function isLoopback(address: string | undefined): boolean {
  return address !== undefined && (address === '::1' || address.startsWith('127.') || address.startsWith('::ffff:127.'));
}

function sameSecret(a: string, b: string): boolean {
  // Digests: neither the length nor the content leaks through timing.
  return timingSafeEqual(createHash('sha256').update(a).digest(), createHash('sha256').update(b).digest());
}
