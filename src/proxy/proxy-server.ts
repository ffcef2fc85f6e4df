import type { CoreOptions } from '../client/client-core.js';
import { existsSync, renameSync } from 'node:fs';
import { HistoryLog } from '../history/history-log.js';
import { describeLineage } from '../model/lineage.js';
import type { TlsFiles } from '../net/tls-options.js';
import { GaveUp } from '../util/give-up.js';
import { SOFTWARE_VERSION } from '../util/version.js';
import { AdminServer, type AdminTarget, type Metric } from '../admin/admin-server.js';
import { HaNode } from '../ha/ha-node.js';
import type { HaOptions } from '../ha/ha-options.js';
import { ConfigService, uiPortOf, type ClientAccessOptions, type SessionObserver } from '../service/config-service.js';
import { DEFAULT_MAX_OBJECT_BYTES, type ServiceLimits } from '../service/limits.js';
import type { ClientSession } from '../service/session.js';
import { silentLogger, type Logger } from '../util/logger.js';
import { ProxySource } from './proxy-source.js';
import { Scope } from './scope.js';
import { UpstreamLink } from './upstream.js';
import { definedOnly } from '../util/defined-only.js';
import { every, systemClock } from '../util/clock.js';

export interface ProxyOptions extends ClientAccessOptions {
  /** Consecutive permanent refusals (wrong credentials or pair secret) before giving up (`--give-up-after`; 0: never). */
  giveUpAfter?: number;
  /** Called when the proxy gave up (the CLI exits); without it the proxy only logs GIVE-UP. */
  onGiveUp?: (error: GaveUp) => void;
  /** Masters in failover order: `host:port` or `tls://host:port`. */
  masters: string[];
  /** The account the proxy registers with (isProxy or isAdmin). */
  user: string;
  password: string;
  host?: string;
  port?: number;
  serverName?: string;
  /** The pool this proxy is a member of (`--cluster-name`): clients are told it as the server's name [PROTO-POOL-1]. */
  clusterName?: string;
  /** TLS towards clients. */
  tls?: TlsFiles;
  /** TLS towards the masters (files, or true for the system trust store). */
  upstreamTls?: TlsFiles | boolean;
  /** ADDP towards the masters. */
  upstreamAddp?: CoreOptions['addp'];
  /**
   * How long a request to the master may go unanswered; for a snapshot load, how long it may go
   * without a chunk (an idle timeout, so a big load takes as long as it takes).
   */
  upstreamRequestTimeoutMs?: number;
  /** `tenant:3,folder:12`; empty for everything. */
  scope?: string;
  /** Forward client writes to the master (otherwise they are refused with READ_ONLY). */
  writable?: boolean;
  /** Writable mode: writes larger than this are refused before they are forwarded. */
  maxObjectBytes?: number;
  /** SQLite file of the history log; ':memory:' keeps it in memory. */
  historyDb?: string;
  historyMaxChanges?: number;
  historyMaxAgeMs?: number;
  /** Closed client session records are kept this long. */
  sessionExpirationMs?: number;
  pruneIntervalMs?: number;
  /** After history-log-expired, reload after a random delay up to this. */
  delayReloadMs?: number;
  writeApplyTimeoutMs?: number;
  limits?: Partial<ServiceLimits>;
  logger?: Logger;
  /** Membership of a warm-standby pair; absent for a standalone proxy. */
  ha?: HaOptions;
  /** Where clients reach this proxy, when not its host:port (a NAT or load-balancer address); told to the peer. */
  advertise?: string;
  /** Admin HTTP port (health, pair state, metrics); absent: none. */
  adminPort?: number;
  /** Where the admin port listens: 127.0.0.1 unless said otherwise (it reports state and takes actions). */
  adminHost?: string;
  /** Bearer token for the admin port's actions; without one they are taken from loopback only. */
  adminToken?: string;
  /** `--admin-max-connections`: connections the admin port holds at once. */
  adminMaxConnections?: number;
  /** `--admin-allowed-hosts`: further names the admin port may be reached by. */
  adminAllowedHosts?: string[];
}

export const PROXY_DEFAULTS = {
  host: '127.0.0.1',
  port: 9030,
  serverName: 'proxy',
  historyDb: 'data/proxy-history.db',
  historyMaxChanges: 1_000_000,
  historyMaxAgeMs: 24 * 60 * 60 * 1000,
  sessionExpirationMs: 24 * 60 * 60 * 1000,
  pruneIntervalMs: 10_000,
  delayReloadMs: 0,
  writeApplyTimeoutMs: 5_000,
} as const;

/**
 * A running proxy: the client service (listening at once, refusing with PROXY_LOADING until the
 * first load), the upstream link to the masters, the history log and its retention.
 */
export class ProxyServer {
  private stopPruning: (() => void) | null = null;

  private constructor(
    readonly source: ProxySource,
    readonly service: ConfigService,
    readonly upstream: UpstreamLink,
    readonly history: HistoryLog,
    readonly ha: HaNode | undefined,
    readonly admin: AdminServer | undefined,
  ) {}

  get port(): number {
    return this.service.port;
  }

  /** Starts listening and connecting; `loaded()` resolves once clients are served. */
  static async start(options: ProxyOptions): Promise<ProxyServer> {
    const settings = { ...PROXY_DEFAULTS, ...definedOnly(options) };
    const logger = options.logger ?? silentLogger;
    const scope = Scope.parse(options.scope);
    if (options.masters.length === 0) throw new Error('a proxy needs at least one master (--master host:port)');
    const history = openHistoryLog(settings.historyDb, logger);
    // The pair member is made before the source (it says which role the source serves in) and
    // learns the service (its sessions) once that exists.
    let service: ConfigService | undefined;
    const ha = options.ha
      ? new HaNode(options.ha, {
          history,
          masters: options.masters,
          clientEndpoint: () => options.advertise ?? `${settings.host}:${service?.port ?? settings.port}`,
          sessions: () => service?.sessions.values() ?? [],
          disconnectClients: (error) => service?.disconnectAll(error),
          logger,
          giveUpAfter: options.giveUpAfter,
        })
      : undefined;
    // A refusal retrying cannot cure ends the proxy's attempts; what then is the caller's call.
    const gaveUp = (error: GaveUp): void => {
      logger.error({ event: 'GIVE-UP', code: error.code, reason: error.message }, 'giving up');
      options.onGiveUp?.(error);
    };
    ha?.on('gave-up', gaveUp);
    const source = new ProxySource(history, {
      serverName: options.clusterName ?? settings.serverName,
      ...(options.clusterName !== undefined ? { memberName: settings.serverName } : {}),
      scope,
      writable: options.writable === true,
      maxObjectBytes: options.maxObjectBytes ?? DEFAULT_MAX_OBJECT_BYTES,
      writeApplyTimeoutMs: settings.writeApplyTimeoutMs,
      pair: ha,
      logger,
    });
    const resumed = source.resumeFromHistory();
    if (resumed) {
      logger.info({ event: 'PROXY-002', seq: resumed.seq, lineage: describeLineage(resumed.lineage), objects: resumed.objects }, 'resumed the cache from the history log; catching up from the master');
    }
    const observers = [sessionRecorder(history), ...(ha ? [ha.sessionObserver()] : [])];
    service = new ConfigService(source, {
      host: settings.host,
      port: settings.port,
      tls: options.tls,
      ui: uiPortOf(options),
      directories: options.directories,
      limits: options.limits,
      logger,
      sessions: {
        sessionOpened: (session) => observers.forEach((o) => o.sessionOpened(session)),
        sessionChanged: (session) => observers.forEach((o) => o.sessionChanged(session)),
        sessionClosed: (session) => observers.forEach((o) => o.sessionClosed(session)),
      },
    });
    const upstream = new UpstreamLink(source, {
      connect: {
        endpoints: options.masters,
        user: options.user,
        password: options.password,
        clientName: settings.serverName,
        tls: options.upstreamTls,
        addp: options.upstreamAddp,
        ...(options.upstreamRequestTimeoutMs !== undefined ? { requestTimeoutMs: options.upstreamRequestTimeoutMs } : {}),
      },
      scope,
      delayReloadMs: settings.delayReloadMs,
      subscriberCount: () => service!.sessions.size,
      observeStage: (stage, at) => service!.metrics.upstreamSeconds.observe({ stage }, Math.max(0, Date.now() - at) / 1000),
      logger,
      giveUpAfter: options.giveUpAfter,
    });
    source.upstream = upstream;
    source.onRebased(({ seq, to }) => service!.fanOut.resetAll(seq, to, source.chain()));
    let admin: AdminServer | undefined;
    try {
      await service.start();
      await ha?.start(source, upstream);
      if (options.adminPort !== undefined) {
        admin = new AdminServer(adminTarget(source, service, upstream, ha, history, options.masters, options.advertise), logger, { token: options.adminToken, maxConnections: options.adminMaxConnections, allowedHosts: options.adminAllowedHosts });
        await admin.start(options.adminHost ?? '127.0.0.1', options.adminPort);
      }
    } catch (error) {
      await ha?.stop();
      await service.stop();
      history.close();
      throw error;
    }
    const proxy = new ProxyServer(source, service, upstream, history, ha, admin);
    logger.info({ port: service.port, ...(service.uiPort !== undefined ? { uiPort: service.uiPort } : {}), ...(options.clusterName ? { cluster: options.clusterName } : {}), masters: options.masters, scope: scope.toString(), writable: options.writable === true }, 'proxy listening (loading)');
    upstream.start().catch((error: unknown) => (error instanceof GaveUp ? gaveUp(error) : logger.error({ err: error }, 'master link failed')));
    proxy.stopPruning = every(systemClock, settings.pruneIntervalMs, () => {
      try {
        history.prune(source.appliedSeq(), settings.historyMaxChanges, settings.historyMaxAgeMs, settings.sessionExpirationMs);
      } catch (error) {
        logger.error({ err: error }, 'pruning the history log failed');
      }
    });
    return proxy;
  }

  /** Resolves when the first snapshot is loaded and clients are served. */
  loaded(): Promise<void> {
    return this.upstream.loaded();
  }

  /** SIGTERM: a primary with a live backup hands its clients over first, then everything stops. */
  async shutdown(): Promise<void> {
    await this.ha?.handOverIfPrimary();
    await this.stop();
  }

  async stop(): Promise<void> {
    this.stopPruning?.();
    this.stopPruning = null;
    await this.admin?.stop();
    await this.ha?.stop();
    await this.upstream.stop();
    await this.service.stop();
    this.history.close();
  }
}

/** What the admin port reports for a proxy. */
function adminTarget(source: ProxySource, service: ConfigService, upstream: UpstreamLink, ha: HaNode | undefined, history: HistoryLog, masters: readonly string[], advertise: string | undefined): AdminTarget {
  const serving = (): boolean => source.notServingReason() === undefined;
  return {
    serving,
    warnings: () => {
      const warnings: string[] = [];
      // It still serves from its cache [ARCH-2], but what it serves may be going stale.
      const lost = upstream.unreachableSince();
      if (lost !== undefined) warnings.push(`master unreachable since ${new Date(lost).toISOString()}`);
      const health = history.health;
      if (health.state === 'failing') warnings.push(`history log failing since ${new Date(health.since).toISOString()}: ${health.error}`);
      return warnings;
    },
    master: () => ({ connected: upstream.connected, endpoints: masters.join(','), ...(upstream.unreachableSince() !== undefined ? { unreachableSince: new Date(upstream.unreachableSince()!).toISOString() } : {}) }),
    active: () => serving() && source.serverRole() !== 'backup',
    registry: service.metrics.registry,
    info: () => ({ kind: 'proxy', name: source.serverName, version: SOFTWARE_VERSION, role: source.serverRole() }),
    access: () => ({
      ...service.accessSummary(),
      ...(advertise ? { advertise } : {}),
      ...(source.memberName !== undefined ? { pool: { cluster: source.serverName, member: source.memberName } } : {}),
    }),
    haStatus: () => ha?.status(),
    ...(ha ? { switchover: (options: { force: boolean; waitReadyMs: number }) => ha.switchover(options) } : {}),
    metrics: () => {
      const metrics: Metric[] = [
        { name: 'cfgproxy_applied_seq', help: 'Seq of the last change applied from the master.', value: source.appliedSeq() },
        { name: 'cfgproxy_objects', help: 'Configuration objects in the cache.', value: source.store.size },
        { name: 'cfgproxy_clients', help: 'Client connections, standby ones included.', value: service.clientCount },
        { name: 'cfgproxy_standby_connections', help: 'Connections standing by for a failover (PROTO-STANDBY-1).', value: service.standbyCount },
        { name: 'cfgproxy_connections_accepted_total', help: 'Client connections accepted since the start.', value: service.acceptedTotal },
        { name: 'cfgproxy_sessions', help: 'Live client sessions.', value: service.sessions.size },
        { name: 'cfgproxy_deliveries_total', help: 'Notifications delivered to clients.', value: service.fanOut.deliveries },
        { name: 'cfgproxy_master_connected', help: '1 while the link to the master is up.', value: upstream.connected ? 1 : 0 },
        { name: 'cfgproxy_serving', help: '1 while clients are served.', value: serving() ? 1 : 0 },
        { name: 'cfgproxy_history_failing', help: '1 while the history log takes no writes (HIST-001); the proxy serves from memory.', value: history.health.state === 'failing' ? 1 : 0 },
        { name: 'cfgproxy_history_write_failures_total', help: 'Failed writes of the history log.', value: history.failuresTotal },
      ];
      if (ha) {
        const lag = ha.role() === 'primary' && ha.linkUp ? ha.journal.lastRecord - ha.traffic.ackedUpTo : 0;
        metrics.push(
          { name: 'cfgproxy_ha_primary', help: '1 on the pair member that is primary.', value: ha.role() === 'primary' ? 1 : 0 },
          { name: 'cfgproxy_ha_link_up', help: '1 while the HA sync link is up.', value: ha.linkUp ? 1 : 0 },
          { name: 'cfgproxy_ha_journal_last_record', help: 'Number of the last journal record written.', value: ha.journal.lastRecord },
          { name: 'cfgproxy_ha_journal_lag', help: 'Journal records the backup has not acknowledged yet.', value: lag },
          { name: 'cfgproxy_ha_journal_bytes_sent_total', help: 'Journal bytes sent on the HA link.', value: ha.traffic.bytesSent },
          { name: 'cfgproxy_ha_journal_bytes_received_total', help: 'Journal bytes received on the HA link.', value: ha.traffic.bytesReceived },
        );
      }
      return metrics;
    },
  };
}

/**
 * Opens the history log. A file that SQLite cannot read (corrupt, not a database) is moved aside
 * and a new one started, so the proxy serves (after a load) instead of refusing to start; a file
 * in use by another proxy stays an error.
 */
function openHistoryLog(path: string, logger: Logger): HistoryLog {
  try {
    return new HistoryLog(path, logger);
  } catch (error) {
    const failure = error as { code?: string; cause?: { code?: string } };
    const code = failure.code ?? failure.cause?.code;
    if (path === ':memory:' || (code !== 'SQLITE_CORRUPT' && code !== 'SQLITE_NOTADB')) throw error;
    const aside = `${path}.unreadable-${Date.now()}`;
    renameSync(path, aside);
    for (const suffix of ['-wal', '-shm']) if (existsSync(path + suffix)) renameSync(path + suffix, aside + suffix);
    logger.error({ event: 'HIST-003', err: (error as Error).message, movedTo: aside }, 'the history log could not be read; moved it aside and started a new one (clients re-read once)');
    return new HistoryLog(path, logger);
  }
}

/** Client session records go to the history log (batched with the changes). */
function sessionRecorder(history: HistoryLog): SessionObserver {
  const record = (session: ClientSession, closed: boolean): void =>
    history.recordSession({
      id: session.id,
      personDbid: session.personDbid,
      clientName: session.clientName,
      clientType: session.clientType,
      subscriptions: [...session.subscriptions.values()],
      lastSeq: session.lastDeliveredSeq,
      closed,
    });
  return {
    sessionOpened: (session) => record(session, false),
    sessionChanged: (session) => record(session, false),
    sessionClosed: (session) => record(session, true),
  };
}
