import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import type { ServiceLimits } from '../service/limits.js';
import { ConfigService } from '../service/config-service.js';
import { ConfigDatabase } from '../store/config-db.js';
import type { TlsFiles } from '../net/tls-options.js';
import { randomPassword } from '../model/passwords.js';
import { describeLineage } from '../model/lineage.js';
import { silentLogger, type Logger } from '../util/logger.js';
import { MasterSource, SYSTEM_PRINCIPAL } from './master-source.js';
import { resolveNames } from './resolve-names.js';
import { sampleConfiguration } from './sample-config.js';
import { definedOnly } from '../util/defined-only.js';

export interface MasterOptions {
  /** SQLite file of the configuration database; created on first start. */
  dbPath: string;
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
} as const;

/** A running master: database, in-memory indexes, client service, change-log pruning. */
export class MasterServer {
  /** Set only when this start created the admin account with a generated password. */
  generatedAdminPassword?: string;
  private pruneTimer: NodeJS.Timeout | null = null;

  private constructor(
    readonly db: ConfigDatabase,
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
    if (settings.dbPath !== ':memory:') mkdirSync(dirname(settings.dbPath), { recursive: true });
    const startedAt = performance.now();
    const db = new ConfigDatabase(settings.dbPath);
    let source: MasterSource;
    try {
      source = new MasterSource(db, settings.serverName, options.maxObjectBytes);
    } catch (error) {
      db.close();
      throw error;
    }
    logger.info({ objects: source.store.size, seq: source.appliedSeq(), lineage: describeLineage(db.lineage), loadMs: Math.round(performance.now() - startedAt), db: settings.dbPath }, 'configuration loaded');
    if (db.restoredFrom) {
      logger.warn(
        { event: 'MASTER-001', lineage: describeLineage(db.lineage), backupSeq: db.restoredFrom.seq, backupTakenAt: new Date(db.restoredFrom.takenAt).toISOString(), backupLineage: describeLineage(db.restoredFrom.lineage) },
        'started from a backup copy: a new generation begins; proxies and clients notice and re-read',
      );
    }
    const service = new ConfigService(source, { host: settings.host, port: settings.port, tls: options.tls, limits: options.limits, logger });
    const master = new MasterServer(db, source, service, logger);
    await master.bootstrap(options);
    await service.start();
    master.pruneTimer = setInterval(() => master.prune(settings.historyMaxChanges, settings.historyMaxAgeMs), settings.pruneIntervalMs);
    master.pruneTimer.unref();
    master.prune(settings.historyMaxChanges, settings.historyMaxAgeMs);
    logger.info({ port: service.port, tls: options.tls !== undefined, serverName: settings.serverName }, 'master listening');
    return master;
  }

  /** First start: the admin account, and the sample configuration when asked for. */
  private async bootstrap(options: MasterOptions): Promise<void> {
    const { store } = this.source;
    if (store.countOf('Person') === 0) {
      const given = options.adminPassword ?? process.env.CFGPROXY_ADMIN_PASSWORD;
      const password = given && given.length > 0 ? given : randomPassword();
      if (password !== given) this.generatedAdminPassword = password;
      await this.source.create(SYSTEM_PRINCIPAL, { type: 'Person', name: 'admin', props: { isAdmin: true, password, firstName: 'Administrator' } });
      this.logger.info('created the admin account');
    }
    if (options.sample && store.countOf('Tenant') === 0) {
      for (const sample of sampleConfiguration()) await this.source.create(SYSTEM_PRINCIPAL, resolveNames(sample, store));
      this.logger.info({ objects: store.size }, 'loaded the sample configuration');
    }
  }

  /** Applies the retention now (it also runs every pruneIntervalMs). */
  prune(maxChanges: number, maxAgeMs: number): void {
    try {
      const removed = this.db.changes.prune(maxChanges, maxAgeMs);
      if (removed > 0) this.logger.debug({ removed, oldestSeq: this.source.oldestSeq() }, 'pruned change log');
    } catch (error) {
      this.logger.error({ err: error }, 'pruning the change log failed');
    }
  }

  async stop(): Promise<void> {
    if (this.pruneTimer) clearInterval(this.pruneTimer);
    this.pruneTimer = null;
    await this.service.stop();
    this.db.close();
  }
}
