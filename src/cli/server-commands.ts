import { spawn } from 'node:child_process';
import { Command } from 'commander';
import { copyFileSync, existsSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import type { HaOptions } from '../ha/ha-options.js';
import { isPostgresUrl, MasterServer, MASTER_DEFAULTS } from '../master/master-server.js';
import type { TlsFiles } from '../net/tls-options.js';
import { PROXY_DEFAULTS, ProxyServer } from '../proxy/proxy-server.js';
import type { ServiceLimits } from '../service/limits.js';
import { createLogger, type Logger } from '../util/logger.js';
import { EXIT, UsageError } from './exit-codes.js';
import { declareOptions, OptionValues, type OptionSpec } from './option-table.js';
import { MASTER_OPTIONS, PROXY_OPTIONS } from './server-options.js';
import { accessSettings } from './access-settings.js';

/** The server commands: master, proxy, and the demo that runs both. */
export function addServerCommands(program: Command): void {
  declareOptions(program.command('master').description('run a master configuration server on a SQLite file, or one of a master pair on PostgreSQL'), MASTER_OPTIONS)
    .action(async (_flags: unknown, command: Command) => {
      const o = optionValues(command, MASTER_OPTIONS);
      const logger = serverLogger(command);
      const dbPath = o.text('--db')!;
      const restoreFrom = o.file('--restore-from');
      if (restoreFrom !== undefined) {
        if (isPostgresUrl(dbPath)) throw new UsageError('--restore-from restores a SQLite copy; restore PostgreSQL with its own tools (pg_restore)');
        restoreDatabase(restoreFrom, dbPath);
      }
      const access = accessSettings(o, { port: o.port('--port')!, adminPort: o.port('--admin-port') }, o.text('--name')!);
      const master = await MasterServer.start({
        dbPath,
        uiPort: access.uiPort,
        uiTls: access.uiTls,
        directories: access.directories,
        advertise: o.text('--advertise'),
        leaseMs: o.ms('--lease'),
        ...adminSettings(o),
        host: o.text('--host')!,
        port: o.port('--port')!,
        serverName: o.text('--name')!,
        sample: o.switch('--sample'),
        maxObjectBytes: o.count('--max-object-bytes'),
        historyMaxChanges: o.count('--history-max-changes'),
        historyMaxAgeMs: o.ms('--history-max-age'),
        limits: { ...serverLimits(o), ...access.limits, maxSnapshotLoads: o.count('--proxy-load-max') },
        tls: serverTls(o),
        logger,
      });
      if (master.generatedAdminPassword) {
        process.stderr.write(`\nAdmin account created. user: admin  password: ${master.generatedAdminPassword}\n(shown once; set CFGPROXY_ADMIN_PASSWORD to choose it, on this or any later start that finds no administrator who can log in)\n\n`);
      }
      superviseServers(logger, master);
      notifySystemdReady(logger);
    });

  declareOptions(program.command('proxy').description('run a configuration proxy in front of a master (and its backup)'), PROXY_OPTIONS)
    .action(async (_flags: unknown, command: Command) => {
      const o = optionValues(command, PROXY_OPTIONS);
      const masters = o.list('--master');
      const user = o.text('--user');
      const password = o.text('--password');
      if (masters.length === 0 || !user || password === undefined) {
        throw new UsageError('proxy needs --master host:port, --user and a password (--password or CFGPROXY_PROXY_PASSWORD)');
      }
      const addpMs = o.ms('--master-addp');
      const masterTls = { ca: o.file('--master-tls-ca'), cert: o.file('--master-tls-cert'), key: o.file('--master-tls-key') };
      if (Boolean(masterTls.cert) !== Boolean(masterTls.key)) throw new UsageError('--master-tls-cert and --master-tls-key go together');
      const logger = serverLogger(command);
      const access = accessSettings(o, { port: o.port('--port')!, haPort: o.port('--ha-port'), adminPort: o.port('--admin-port') }, o.text('--name')!);
      const proxy = await ProxyServer.start({
        masters,
        uiPort: access.uiPort,
        uiTls: access.uiTls,
        directories: access.directories,
        clusterName: o.text('--cluster-name'),
        user,
        password,
        host: o.text('--host')!,
        port: o.port('--port')!,
        serverName: o.text('--name')!,
        scope: o.text('--scope'),
        writable: o.switch('--writable'),
        maxObjectBytes: o.count('--max-object-bytes'),
        historyDb: o.text('--history-db')!,
        historyMaxChanges: o.count('--history-max-changes'),
        historyMaxAgeMs: o.ms('--history-max-age'),
        sessionExpirationMs: o.ms('--session-expiration'),
        delayReloadMs: o.ms('--delay-reload'),
        upstreamTls: masterTls.ca || masterTls.cert ? masterTls : o.switch('--master-tls'),
        upstreamAddp: addpMs > 0 ? { localTimeoutMs: addpMs, remoteTimeoutMs: addpMs, trace: o.choice('--addp-trace') } : undefined,
        limits: { ...serverLimits(o), ...access.limits },
        tls: serverTls(o),
        ha: pairOptions(o),
        advertise: o.text('--advertise'),
        ...adminSettings(o),
        giveUpAfter: o.count('--give-up-after'),
        // A misconfiguration retrying cannot cure: say so once and exit, for the supervisor to report.
        onGiveUp: (error) => {
          process.stderr.write(`cfgproxy proxy: giving up: ${error.message}\n`);
          void proxy.shutdown().finally(() => process.exit(EXIT.refused));
        },
        logger,
      });
      superviseServers(logger, { stop: () => proxy.shutdown() });
      // Ready means serving: a first start waits for its load (a restart resumes from its history log at once).
      void proxy.loaded().then(() => notifySystemdReady(logger));
    });
  program
    .command('demo')
    .description('run a master with the sample configuration and a proxy in front of it, and print how to connect (npm start)')
    .option('--port <port>', 'proxy client port', String(PROXY_DEFAULTS.port))
    .option('--master-port <port>', 'master client port', String(MASTER_DEFAULTS.port))
    .option('--dir <dir>', 'where the master database and the proxy history log go', 'data/demo')
    .action(async (flags: { port: string; masterPort: string; dir: string }, command: Command) => {
      const logger = serverLogger(command);
      // The demo is the one place with a known password, so anyone can try it at once.
      const master = await MasterServer.start({ dbPath: `${flags.dir}/master.db`, port: Number(flags.masterPort), sample: true, adminPassword: 'demo', logger: logger.child({ server: 'master' }) });
      const proxy = await ProxyServer.start({
        masters: [`127.0.0.1:${master.port}`],
        user: 'admin',
        password: 'demo',
        port: Number(flags.port),
        writable: true,
        historyDb: `${flags.dir}/proxy-history.db`,
        logger: logger.child({ server: 'proxy' }),
      });
      await proxy.loaded();
      const at = `127.0.0.1:${proxy.port}`;
      process.stdout.write(
        [
          '',
          `cfgproxy demo: master on 127.0.0.1:${master.port} (${master.source.store.size} objects, ${flags.dir}/master.db)`,
          `               proxy  on ${at} (writable), loaded at seq ${proxy.source.appliedSeq()}`,
          'Connect clients to the proxy. Try, in another terminal:',
          `  npx cfgproxy get dn --server ${at} -u admin -p demo`,
          `  npx cfgproxy watch --server ${at} -u admin -p demo`,
          `  echo '{"type":"DN","name":"6001","tenant":1,"props":{"number":"6001","switch":1}}' | npx cfgproxy put - --server ${at} -u admin -p demo`,
          'Ctrl-C stops both.',
          '',
        ].join('\n'),
      );
      superviseServers(logger, proxy, master);
    });
}

/** The --role … options as HaOptions, or undefined for a standalone proxy. */
function pairOptions(o: OptionValues): HaOptions | undefined {
  const role = o.choice<'primary' | 'backup'>('--role');
  const haPort = o.port('--ha-port');
  const peer = o.text('--peer');
  if (role === undefined) {
    if (haPort !== undefined || peer !== undefined) throw new UsageError(`${haPort !== undefined ? '--ha-port' : '--peer'} is for a pair member: add --role primary (with --ha-port) or --role backup (with --peer)`);
    return undefined;
  }
  const secret = o.text('--ha-secret');
  if (!secret) throw new UsageError('a pair needs a shared secret: --ha-secret or CFGPROXY_HA_SECRET');
  if (role === 'primary' && haPort === undefined) throw new UsageError('--role primary needs --ha-port (where the backup connects)');
  if (role === 'primary' && peer !== undefined) throw new UsageError('--peer is for --role backup: a primary does not dial, it listens on --ha-port for its backup');
  if (role === 'backup' && peer === undefined) throw new UsageError("--role backup needs --peer host:port (the primary's --ha-port)");
  if (role === 'backup' && haPort !== undefined) throw new UsageError("--ha-port is for --role primary: a backup dials the primary's HA port given as --peer");
  // The HA link has a certificate of its own when given one: the client port's would otherwise
  // be presented to the peer, and after a switchover clients would meet the wrong one.
  const clientPortTls = serverTls(o);
  const haCert = o.file('--ha-tls-cert');
  const haKey = o.file('--ha-tls-key');
  if (Boolean(haCert) !== Boolean(haKey)) throw new UsageError('--ha-tls-cert and --ha-tls-key go together');
  const haCa = o.file('--ha-tls-ca') ?? clientPortTls?.ca;
  const tls: TlsFiles | undefined = haCert ? { cert: haCert, key: haKey, ca: haCa, verifyClient: haCa !== undefined } : clientPortTls;
  if (o.switch('--ha-tls') && !tls) throw new UsageError('--ha-tls needs a certificate: --ha-tls-cert and --ha-tls-key (or the client port\'s --tls-cert and --tls-key)');
  return {
    role,
    pairName: o.text('--pair-name')!,
    secret,
    haPort,
    haHost: o.text('--host')!,
    haTls: o.switch('--ha-tls') ? tls : undefined,
    peer,
    peerTls: tls ? { ca: tls.ca, cert: tls.cert, key: tls.key } : undefined,
    addpTimeoutMs: o.ms('--ha-addp'),
    heartbeatIntervalMs: o.ms('--heartbeat-interval'),
    failuresToSwitch: o.count('--failures-to-switch'),
    acceptClientsInBackupMode: o.switch('--accept-clients-in-backup-mode'),
    autoRestorePrimary: o.switch('--auto-restore-primary'),
    configReloadDelayIfPrimary: o.switch('--config-reload-delay-if-primary'),
    protectedModeTimeoutMs: o.ms('--protected-mode-timeout'),
    readyAfterMs: o.ms('--ready-after'),
    chunkSize: o.count('--ha-chunk-size'),
    chunkTimeoutMs: o.count('--ha-chunk-timeout'),
    maxSessionsSyncAtOnce: o.count('--ha-max-sessions-sync-at-once'),
    journalCapacity: o.count('--ha-journal-records'),
  };
}

/** A server command's options, each from the command line, the environment, --config or its default. */
function optionValues(command: Command, specs: readonly OptionSpec[]): OptionValues {
  return new OptionValues(command, specs, root(command).opts<{ config?: string }>().config);
}

/** The program a subcommand belongs to: it holds --config and --log-level. */
function root(command: Command): Command {
  return command.parent ?? command;
}

function adminSettings(o: OptionValues): { adminPort?: number; adminHost: string; adminToken?: string; adminMaxConnections: number; adminAllowedHosts: string[] } {
  return {
    adminPort: o.port('--admin-port'),
    adminHost: o.text('--admin-host')!,
    adminToken: o.text('--admin-token'),
    adminMaxConnections: o.count('--admin-max-connections'),
    adminAllowedHosts: o.list('--admin-allowed-hosts'),
  };
}

const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;

/** The server's logger at `--log-level` (or CFGPROXY_LOG_LEVEL); a level pino does not know is a usage error. */
function serverLogger(command: Command) {
  const program = root(command);
  const level = program.getOptionValueSource('logLevel') === 'cli' ? program.opts<{ logLevel: string }>().logLevel : (process.env.CFGPROXY_LOG_LEVEL || program.opts<{ logLevel: string }>().logLevel);
  if (!(LOG_LEVELS as readonly string[]).includes(level)) throw new UsageError(`--log-level must be one of ${LOG_LEVELS.join(', ')} (got '${level}')`);
  return createLogger({ level: level as (typeof LOG_LEVELS)[number] });
}

/** The client port's TLS, checked as a set: a certificate needs its key, client verification a CA. */
function serverTls(o: OptionValues): TlsFiles | undefined {
  const cert = o.file('--tls-cert');
  const key = o.file('--tls-key');
  const ca = o.file('--tls-ca');
  const verifyClient = o.switch('--tls-verify-client');
  if (Boolean(cert) !== Boolean(key)) throw new UsageError('--tls-cert and --tls-key go together: a certificate and its private key');
  if (verifyClient && !ca) throw new UsageError('--tls-verify-client needs --tls-ca (the CA that signed the client certificates)');
  if (!cert) {
    if (ca || verifyClient) throw new UsageError(`${ca ? '--tls-ca' : '--tls-verify-client'} is for a TLS port: add --tls-cert and --tls-key`);
    return undefined;
  }
  return { cert, key, ca, verifyClient };
}

function serverLimits(o: OptionValues): Partial<ServiceLimits> {
  return {
    maxClients: o.count('--max-clients'),
    maxPendingConnections: o.count('--max-pending'),
    unauthenticatedFrameBytes: o.count('--max-login-frame-bytes'),
    maxFrameBytes: o.count('--max-frame-bytes'),
    maxOutboundBytes: o.count('--max-outbound-bytes'),
    drainTimeoutMs: o.ms('--drain-timeout'),
    refusePasswordLogins: o.switch('--refuse-password-logins'),
  };
}

/**
 * Under systemd with `Type=notify` (NOTIFY_SOCKET set), says the server is ready. Node cannot write
 * to a datagram socket itself, so systemd's own `systemd-notify` does, naming this process.
 */
function notifySystemdReady(logger: Logger): void {
  if (!process.env.NOTIFY_SOCKET) return;
  const notify = spawn('systemd-notify', ['--ready', `--pid=${process.pid}`], { stdio: 'ignore' });
  notify.once('error', (error) => logger.warn({ err: error }, 'could not tell systemd the server is ready (systemd-notify)'));
  notify.once('exit', (code) => (code === 0 ? logger.info('told systemd the server is ready') : logger.warn({ code }, 'systemd-notify failed')));
}

/**
 * The life of a server process: SIGINT/SIGTERM stop the servers (clients are told
 * SERVER_SHUTTING_DOWN) and the process exits, saying why; SIGHUP is logged and ignored (there is
 * no log file to reopen: logs go to stderr). An exception nothing caught is a bug: it is logged
 * with event FATAL before the process exits, so a supervisor's log (and the scenario tests) see it.
 */
function superviseServers(logger: Logger, ...servers: Array<{ stop(): Promise<void> }>): void {
  const stop = (signal: NodeJS.Signals): void => {
    logger.info({ signal }, 'shutting down');
    Promise.all(servers.map((server) => server.stop())).then(
      () => {
        logger.info({ signal }, 'stopped');
        process.exit(0);
      },
      (error: unknown) => {
        logger.error({ err: error }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  process.on('SIGHUP', () => logger.info('SIGHUP ignored (logs go to stderr; nothing to reopen)'));
  process.on('uncaughtException', (error) => {
    logger.fatal({ event: 'FATAL', err: error }, 'uncaught exception (a bug): exiting');
    process.exit(70);
  });
}

/**
 * `master --restore-from`: the backup copy becomes the database file. An existing database is
 * never overwritten: the operator moves it away first, so nothing is lost by a typo.
 */
function restoreDatabase(copy: string, dbPath: string): void {
  if (!existsSync(copy)) throw new UsageError(`--restore-from: ${copy} does not exist`);
  if (existsSync(dbPath)) throw new UsageError(`--restore-from: the database ${dbPath} exists; move it away first (a restore never overwrites a database)`);
  mkdirSync(dirname(dbPath), { recursive: true });
  copyFileSync(copy, dbPath);
}
