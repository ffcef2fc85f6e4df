import { existsSync, rmSync } from 'node:fs';
import type { ServiceLimits } from '../service/limits.js';
import { ConfigService, uiPortOf, type ClientAccessOptions } from '../service/config-service.js';
import { AdminServer, type AdminTarget } from '../admin/admin-server.js';
import type { ConfigBackend } from '../store/config-backend.js';
import { ConfigDatabase } from '../store/config-db.js';
import { PostgresConfigDatabase } from '../store/postgres-db.js';
import { ErrorCode } from '../../protocol/index.js';
import type { TlsFiles } from '../net/tls-options.js';
import { randomPassword } from '../model/passwords.js';
import { upgradeStored } from '../model/scram.js';
import { describeLineage } from '../model/lineage.js';
import { silentLogger, type Logger } from '../util/logger.js';
import { MasterSource, SYSTEM_PRINCIPAL } from './master-source.js';
import { DECOY_KEY_DBID, newDecoyKey } from '../model/credentials.js';
import { resolveNames } from './resolve-names.js';
import { sampleConfiguration } from './sample-config.js';
import { definedOnly } from '../util/defined-only.js';
import { SOFTWARE_VERSION } from '../util/version.js';
import { every, systemClock } from '../util/clock.js';

export interface MasterOptions extends ClientAccessOptions {
  /**
   * The configuration database: a SQLite file (created on first start), or a PostgreSQL URL
   * (`postgres://` or `postgresql://`) that a master pair shares.
   */
  dbPath: string;
  /** Where clients reach this master when not host:port; standbys of a shared database name it. */
  advertise?: string;
  /** PostgreSQL: how long the active master's lease lasts unrenewed (default 2 s). */
  leaseMs?: number;
  adminPort?: number;
  adminHost?: string;
  adminToken?: string;
  /** `--admin-max-connections`: connections the admin port holds at once. */
  adminMaxConnections?: number;
  /** `--admin-allowed-hosts`: further names the admin port may be reached by. */
  adminAllowedHosts?: string[];
  host?: string;
  port?: number;
  serverName?: string;
  tls?: TlsFiles;
  /** Change-log retention: at most this many changes… */
  historyMaxChanges?: number;
  /** …and none older than this. */
  historyMaxAgeMs?: number;
  pruneIntervalMs?: number;
  limits?: Partial<ServiceLimits>;
  logger?: Logger;
  /** Admin password on first start; otherwise CFGPROXY_ADMIN_PASSWORD, otherwise random. */
  adminPassword?: string;
  /** Load the sample configuration when the database is new. */
  sample?: boolean;
  /** The largest object a write may leave behind, encoded (default 1 MiB) [PROTO-LIMIT-2]. */
  maxObjectBytes?: number;
}

export const MASTER_DEFAULTS = {
  host: '127.0.0.1',
  port: 9020,
  serverName: 'master',
  historyMaxChanges: 1_000_000,
  historyMaxAgeMs: 24 * 60 * 60 * 1000,
  pruneIntervalMs: 10_000,
  leaseMs: 2_000,
} as const;

/** True when `--db` names a PostgreSQL database rather than a SQLite file. */
export function isPostgresUrl(db: string): boolean {
  return /^postgres(ql)?:\/\//.test(db);
}

/** A running master: database, in-memory indexes, client service, change-log pruning. */
export class MasterServer {
  /** Set only when this start created the admin account with a generated password. */
  generatedAdminPassword?: string;
  private stopPruning: (() => void) | null = null;
  admin: AdminServer | undefined;
  /** Commits since the start, and how long the last ones took, for /metrics. */
  private commits = 0;

  private constructor(
    readonly db: ConfigBackend,
    readonly source: MasterSource,
    readonly service: ConfigService,
    private readonly logger: Logger,
  ) {}

  get port(): number {
    return this.service.port;
  }

  static async start(options: MasterOptions): Promise<MasterServer> {
    const settings = { ...MASTER_DEFAULTS, ...definedOnly(options), dbPath: options.dbPath };
    const logger = options.logger ?? silentLogger;
    const postgres = isPostgresUrl(settings.dbPath);
    const startedAt = systemClock.now();
    // A first start that fails leaves nothing behind: the next one must find no database whose admin password nobody saw.
    const createsFile = !postgres && settings.dbPath !== ':memory:' && !existsSync(settings.dbPath);
    const db: ConfigBackend = postgres
      ? await PostgresConfigDatabase.open({
          url: settings.dbPath,
          serverName: settings.serverName,
          // Port 0 is known only once listening; a pair names real ports (or --advertise).
          advertise: options.advertise ?? `${settings.host}:${settings.port}`,
          leaseMs: settings.leaseMs,
          logger,
        })
      : new ConfigDatabase(settings.dbPath);
    let source: MasterSource;
    try {
      const loaded = await db.load();
      await upgradeStoredPasswords(db, loaded.credentials, logger);
      loaded.credentials.set(DECOY_KEY_DBID, await db.decoyKey(newDecoyKey()));
      source = new MasterSource(db, loaded, settings.serverName, options.maxObjectBytes);
    } catch (error) {
      await db.close();
      throw error;
    }
    logger.info({ objects: source.store.size, seq: source.appliedSeq(), lineage: describeLineage(db.lineage), loadMs: Math.round(systemClock.now() - startedAt), db: db.location }, 'configuration loaded');
    if (db.restoredFrom) {
      logger.warn(
        { event: 'MASTER-001', lineage: describeLineage(db.lineage), backupSeq: db.restoredFrom.seq, backupTakenAt: new Date(db.restoredFrom.takenAt).toISOString(), backupLineage: describeLineage(db.restoredFrom.lineage) },
        'started from a backup copy: a new generation begins; proxies and clients notice and re-read',
      );
    }
    if (db.discontinuity) {
      logger.warn(
        { event: 'MASTER-002', lineage: describeLineage(db.lineage), reason: db.discontinuity, db: db.location },
        `this database is not the one this master last committed to (${db.discontinuity}): restored or copied back; a new generation begins, and proxies and clients re-read instead of mixing two histories`,
      );
    }
    const service = new ConfigService(source, { host: settings.host, port: settings.port, tls: options.tls, ui: uiPortOf(options), directories: options.directories, limits: options.limits, logger });
    const master = new MasterServer(db, source, service, logger);
    try {
      await master.serve(options, settings);
    } catch (error) {
      await master.stop().catch(() => undefined);
      if (createsFile) removeDatabaseFiles(settings.dbPath);
      throw error;
    }
    logger.info({ port: service.port, ...(service.uiPort !== undefined ? { uiPort: service.uiPort } : {}), tls: options.tls !== undefined, serverName: settings.serverName }, 'master listening');
    return master;
  }

  /**
   * Everything after the database is open, in the order that cannot lock anyone out: the ports are
   * bound first, and only then is a new database given its admin account, so a start that fails on
   * a busy port has created no account whose password nobody was shown.
   */
  private async serve(options: MasterOptions, settings: { historyMaxChanges: number; historyMaxAgeMs: number; pruneIntervalMs: number }): Promise<void> {
    const { service, source, logger } = this;
    source.onChange(() => (this.commits += 1));
    await service.start();
    if (options.adminPort !== undefined) {
      this.admin = new AdminServer(this.adminTarget(), logger, { token: options.adminToken, maxConnections: options.adminMaxConnections, allowedHosts: options.adminAllowedHosts });
      await this.admin.start(options.adminHost ?? '127.0.0.1', options.adminPort);
    }
    const leadership = this.db.leadership;
    if (leadership) {
      // A master that stops being active sends its clients on: they find the active one [PROTO-MASTER-PAIR-2].
      leadership.on('standby', (reason: string) => service.disconnectAll({ code: ErrorCode.BACKUP_MODE, message: `this master is now a standby (${reason}); reconnect to the active master` }));
      await leadership.start();
      // A standby that takes over a database nobody set up yet sets it up then.
      leadership.on('active', () => void this.bootstrap(options).catch((error: unknown) => logger.error({ err: error }, 'bootstrap failed')));
    }
    if (!leadership || leadership.state === 'active') await this.bootstrap(options);
    this.stopPruning = every(systemClock, settings.pruneIntervalMs, () => this.prune(settings.historyMaxChanges, settings.historyMaxAgeMs));
    this.prune(settings.historyMaxChanges, settings.historyMaxAgeMs);
  }

  /**
   * The admin account whenever none can log in (a new database, or every administrator disabled or
   * without a password): `CFGPROXY_ADMIN_PASSWORD` (or `adminPassword`) sets it on any such start;
   * without one a password is generated and handed to the caller to show (`generatedAdminPassword`).
   * The sample configuration when asked for.
   */
  private async bootstrap(options: MasterOptions): Promise<void> {
    const { store } = this.source;
    if (!this.hasUsableAdmin()) {
      const given = options.adminPassword ?? process.env.CFGPROXY_ADMIN_PASSWORD;
      const password = given && given.length > 0 ? given : randomPassword();
      if (password !== given) this.generatedAdminPassword = password;
      const existing = store.findByName('Person', 0, 'admin');
      if (existing) {
        await this.source.update(SYSTEM_PRINCIPAL, 'Person', existing.dbid, { state: 'enabled', props: { isAdmin: true, password } });
        this.logger.warn({ event: 'MASTER-003' }, "no administrator could log in: the 'admin' account is enabled again with a new password");
      } else {
        await this.source.create(SYSTEM_PRINCIPAL, { type: 'Person', name: 'admin', props: { isAdmin: true, password, firstName: 'Administrator' } });
        this.logger.info({ event: 'MASTER-003' }, 'created the admin account');
      }
    }
    if (options.sample && store.countOf('Tenant') === 0) {
      for (const sample of sampleConfiguration()) await this.source.create(SYSTEM_PRINCIPAL, resolveNames(sample, store));
      this.logger.info({ objects: store.size }, 'loaded the sample configuration');
    }
  }

  /** An enabled administrator with a password: someone can log in to manage this master. */
  private hasUsableAdmin(): boolean {
    for (const person of this.source.store.all('Person')) {
      if (person.state === 'disabled' || this.source.credentialOf(person.dbid) === undefined) continue;
      if (this.source.principal(person.dbid)?.isAdmin) return true;
    }
    return false;
  }

  /** Applies the retention now (it also runs every pruneIntervalMs). */
  prune(maxChanges: number, maxAgeMs: number): void {
    const failed = (error: unknown): void => this.logger.error({ err: error }, 'pruning the change log failed');
    const report = (removed: number): void => {
      if (removed > 0) this.logger.debug({ removed, oldestSeq: this.source.oldestSeq() }, 'pruned change log');
    };
    try {
      const removed = this.db.prune(maxChanges, maxAgeMs);
      if (typeof removed === 'number') report(removed);
      else removed.then(report, failed);
    } catch (error) {
      failed(error);
    }
  }

  /** What the admin port reports for a master: /health, /health/active (the active master), /metrics. */
  private adminTarget(): AdminTarget {
    const source = this.source;
    const serving = (): boolean => source.notServingReason() === undefined;
    return {
      serving,
      active: serving,
      registry: this.service.metrics.registry,
      info: () => ({ kind: 'master', name: source.serverName, version: SOFTWARE_VERSION, role: source.serverRole() }),
      access: () => this.service.accessSummary(),
      haStatus: () =>
        this.db.leadership
          ? { kind: 'master-pair', role: this.db.leadership.state, activeMaster: this.db.leadership.activeEndpoint() ?? null, db: this.db.location, seq: source.appliedSeq() }
          : undefined,
      metrics: () => [
        { name: 'cfgproxy_master_active', help: '1 on the master that takes writes (always 1 with SQLite).', value: serving() ? 1 : 0 },
        { name: 'cfgproxy_applied_seq', help: 'Seq of the last committed (or, on a standby, followed) change.', value: source.appliedSeq() },
        { name: 'cfgproxy_objects', help: 'Configuration objects in memory.', value: source.store.size },
        { name: 'cfgproxy_changes_total', help: 'Changes committed or followed since the start.', value: this.commits },
        { name: 'cfgproxy_db_commits_total', help: 'Writes this master committed to the database.', value: source.commitStats.commits },
        { name: 'cfgproxy_db_commit_seconds_total', help: 'Time the database took for those commits (divide the rates for the mean latency).', value: source.commitStats.seconds },
        { name: 'cfgproxy_clients', help: 'Client connections, standby ones included.', value: this.service.clientCount },
        { name: 'cfgproxy_sessions', help: 'Live client sessions.', value: this.service.sessions.size },
        { name: 'cfgproxy_deliveries_total', help: 'Notifications delivered to clients.', value: this.service.fanOut.deliveries },
      ],
    };
  }

  async stop(): Promise<void> {
    this.stopPruning?.();
    this.stopPruning = null;
    await this.admin?.stop();
    await this.service.stop();
    await this.db.close();
  }
}

/**
 * Older `scrypt$` hashes hold the salted password itself, which under challenge-response logins
 * would let whoever reads the database log in: they are rewritten as `scram$` verifiers at start
 * [PROTO-HELLO-5] (the same rewrite from any master, so a pair may race on it harmlessly).
 */
async function upgradeStoredPasswords(db: ConfigBackend, credentials: Map<number, string>, logger: Logger): Promise<void> {
  const upgrades: Array<[number, string, string]> = [];
  for (const [dbid, stored] of credentials) {
    const current = upgradeStored(stored);
    if (current === stored) continue;
    upgrades.push([dbid, stored, current]);
    credentials.set(dbid, current); // memory takes what the database now holds
  }
  if (upgrades.length === 0) return;
  const rewritten = await db.upgradeCredentials(upgrades);
  logger.info({ rewritten, found: upgrades.length }, 'stored passwords rewritten in the scram$ form');
}

/** A database this start created, with its companions, removed after the start failed. */
function removeDatabaseFiles(path: string): void {
  for (const suffix of ['', '-wal', '-shm', '.head']) rmSync(path + suffix, { force: true });
}
