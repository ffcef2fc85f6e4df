import { collectDefaultMetrics, Counter, Histogram, Registry } from 'prom-client';

/**
 * A server's Prometheus metrics, in a registry of its own (several servers may share a process in
 * tests): Node's process and event-loop metrics, and the latencies a person tunes by. The admin
 * port renders the registry with the server's own gauges and counters.
 */
export class ServiceMetrics {
  readonly registry = new Registry();
  /** Request handling time by message kind (a read streams until its last chunk is queued). */
  readonly requestSeconds: Histogram<'kind'>;
  /** From a change's commit at the master to its frames being written to this server's subscribers. */
  readonly deliverySeconds: Histogram;
  /** From a restoring Register to the session's replay having caught up (it is live then). */
  readonly restoreSeconds: Histogram;
  /** Client connections that ended: the server's refusals and cut-offs by error code, else `client` or `server` (orderly). */
  readonly closes: Counter<'reason'>;
  /** A proxy's stages of a change from the master's commit: received from the master, applied to the cache. */
  readonly upstreamSeconds: Histogram<'stage'>;
  /** Logins refused for their source range, or failed ones answered late for their account [PROTO-LIMIT-4]. */
  readonly loginsThrottled: Counter<'reason'>;
  /** Logins by how they were checked (proof, password, ldap, radius) and how they ended. */
  readonly logins: Counter<'method' | 'outcome'>;
  /** How long a directory (LDAP, RADIUS) took to answer a login, by method and outcome. */
  readonly directorySeconds: Histogram<'method' | 'outcome'>;

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'cfgproxy_' });
    // Fine below 30 ms: the delivery targets are a few ms at the 99th percentile.
    const buckets = [0.0005, 0.001, 0.002, 0.003, 0.004, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.03, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
    this.requestSeconds = new Histogram({ name: 'cfgproxy_request_seconds', help: 'Request handling time by message kind.', labelNames: ['kind'], buckets, registers: [this.registry] });
    this.deliverySeconds = new Histogram({ name: 'cfgproxy_commit_to_delivery_seconds', help: "From a change's commit at the master to its notification being written to this server's subscribers.", buckets, registers: [this.registry] });
    this.upstreamSeconds = new Histogram({ name: 'cfgproxy_upstream_seconds', help: "A proxy's stages of a change, from the master's commit: received from the master, applied to the cache.", labelNames: ['stage'], buckets, registers: [this.registry] });
    this.closes = new Counter({ name: 'cfgproxy_connections_closed_total', help: "Client connections that ended: by the server's error code when it closed them for a reason, else client or server.", labelNames: ['reason'], registers: [this.registry] });
    this.loginsThrottled = new Counter({ name: 'cfgproxy_logins_throttled_total', help: 'Logins slowed by the throttle: reason="source" refused for their address range, reason="account" failures answered late.', labelNames: ['reason'], registers: [this.registry] });
    this.logins = new Counter({ name: 'cfgproxy_logins_total', help: 'Logins by method (proof, password, ldap, radius) and outcome (ok, failed, unavailable, throttled).', labelNames: ['method', 'outcome'], registers: [this.registry] });
    this.directorySeconds = new Histogram({ name: 'cfgproxy_directory_seconds', help: 'Time an LDAP or RADIUS directory took to answer a login, by method and outcome (accepted, rejected, unavailable).', labelNames: ['method', 'outcome'], buckets, registers: [this.registry] });
    this.restoreSeconds = new Histogram({ name: 'cfgproxy_restore_seconds', help: 'From a restoring Register to the replay having caught up.', buckets, registers: [this.registry] });
  }
}
