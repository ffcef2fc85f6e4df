import { Command } from 'commander';
import { copyFileSync, existsSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { isPostgresUrl, MasterServer, MASTER_DEFAULTS } from '../master/master-server.js';
import { DEFAULT_MAX_OBJECT_BYTES } from '../master/master-source.js';
import type { TlsFiles } from '../net/tls-options.js';
import { DEFAULT_PROTECTED_MODE_TIMEOUT_MS, DEFAULT_READY_AFTER_MS, HA_DEFAULTS, type HaOptions } from '../ha/ha-node.js';
import { PROXY_DEFAULTS, ProxyServer } from '../proxy/proxy-server.js';
import { DEFAULT_SERVICE_LIMITS, type ServiceLimits } from '../service/limits.js';
import { DEFAULT_GIVE_UP_AFTER } from '../util/give-up.js';
import { DEFAULT_ADMIN_MAX_CONNECTIONS } from '../admin/admin-server.js';
import { createLogger, type Logger } from '../util/logger.js';
import { optionPicker as pickerFor, showEnvironmentInHelp } from './option-sources.js';
import { EXIT, UsageError } from './exit-codes.js';

/** The server commands: master, proxy, and the demo that runs both. */
export function addServerCommands(program: Command): void {
  function withServerOptions(command: Command, port: number, name: string): Command {
    return command
      .option('--host <host>', 'address to listen on', '127.0.0.1')
      .option('--port <port>', 'client port', String(port))
      .option('--name <name>', 'server name reported to clients', name)
      .option('--max-clients <n>', 'logged-in clients (registered or standing by) past which logins get TOO_MANY_CLIENTS', String(DEFAULT_SERVICE_LIMITS.maxClients))
      .option('--max-pending <n>', 'connections not logged in yet, counted apart; past it the oldest idle one is closed', String(DEFAULT_SERVICE_LIMITS.maxPendingConnections))
      .option('--max-frame-bytes <n>', 'largest frame accepted from a client', String(DEFAULT_SERVICE_LIMITS.maxFrameBytes))
      .option('--max-login-frame-bytes <n>', 'largest frame accepted before a client has logged in', String(DEFAULT_SERVICE_LIMITS.unauthenticatedFrameBytes))
      .option('--max-outbound-bytes <n>', 'cut off a client that lets this many bytes pile up unread', String(DEFAULT_SERVICE_LIMITS.maxOutboundBytes))
      .option('--drain-timeout <seconds>', 'cut off a client whose socket has not drained for this long', String(DEFAULT_SERVICE_LIMITS.drainTimeoutMs / 1000))
      .option('--refuse-password-logins', 'take logins by challenge-response proof only: refuse a password sent in the clear (clients older than the proof login)')
      .option('--tls-cert <file>', 'serve TLS with this certificate')
      .option('--tls-key <file>', 'private key of --tls-cert')
      .option('--tls-ca <file>', 'CA for client certificates')
      .option('--tls-verify-client', 'require client certificates signed by --tls-ca');
  }

  withServerOptions(program.command('master').description('run a master configuration server on a SQLite file, or one of a master pair on PostgreSQL'), MASTER_DEFAULTS.port, MASTER_DEFAULTS.serverName)
    .option('--db <file|url>', 'the configuration database: a SQLite file (created on first start), or postgres://user@host:port/db shared by a master pair (password and the rest from PGPASSWORD and the other PG* variables)', 'data/master.db')
    .option('--advertise <host:port>', 'where clients reach this master when not --host:--port; standby masters name it')
    .option('--lease <seconds>', 'PostgreSQL: a standby takes over once the active master has not renewed its lease for this long (a crash: at once)', String(MASTER_DEFAULTS.leaseMs / 1000))
    .option('--admin-port <port>', 'admin HTTP: /health, /health/active (the active master), /ha, /metrics')
    .option('--admin-host <host>', 'where the admin port listens', '127.0.0.1')
    .option('--admin-token <token>', 'bearer token for admin actions (better: CFGPROXY_ADMIN_TOKEN)')
    .option('--admin-max-connections <n>', 'admin HTTP connections held at once (at most an eighth of the descriptor limit); past it the oldest idle one is closed', String(DEFAULT_ADMIN_MAX_CONNECTIONS))
    .option('--admin-allowed-hosts <names>', 'further Host names the admin port answers to, comma-separated (a balancer\'s name for this host); others get 421')
    .option('--sample', 'load the sample configuration into a new database')
    .option('--history-max-changes <n>', 'keep at most this many changes in the change log', String(MASTER_DEFAULTS.historyMaxChanges))
    .option('--history-max-age <seconds>', 'drop changes older than this', String(MASTER_DEFAULTS.historyMaxAgeMs / 1000))
    .option('--proxy-load-max <n>', 'proxies loading a snapshot at once; the others wait', String(DEFAULT_SERVICE_LIMITS.maxSnapshotLoads))
    .option('--max-object-bytes <n>', 'refuse writes that leave an object larger than this, encoded (OBJECT_TOO_LARGE)', String(DEFAULT_MAX_OBJECT_BYTES))
    .option('--restore-from <file>', 'start from a copy made by `cfgproxy backup` (copied to --db, which must not exist yet); a new generation begins')
    .action(async (_flags: unknown, command: Command) => {
      const pick = optionPicker(command);
      const logger = serverLogger(command);
      const dbPath = String(pick('db'));
      const restoreFrom = pick('restoreFrom') as string | undefined;
      if (restoreFrom !== undefined) {
        if (isPostgresUrl(dbPath)) throw new UsageError("--restore-from restores a SQLite copy; restore PostgreSQL with its own tools (pg_restore)");
        restoreDatabase(restoreFrom, dbPath);
      }
      const master = await MasterServer.start({
        dbPath,
        advertise: pick('advertise') as string | undefined,
        leaseMs: numberOption(pick, 'lease', 0.1) * 1000,
        adminPort: pick('adminPort') === undefined ? undefined : numberOption(pick, 'adminPort'),
        adminHost: String(pick('adminHost')),
        adminToken: pick('adminToken') as string | undefined,
        adminMaxConnections: numberOption(pick, 'adminMaxConnections', 1),
        adminAllowedHosts: listOption(pick, 'adminAllowedHosts'),
        host: String(pick('host')),
        port: numberOption(pick, 'port'),
        serverName: String(pick('name')),
        sample: Boolean(pick('sample')),
        maxObjectBytes: numberOption(pick, 'maxObjectBytes', 1024),
        historyMaxChanges: numberOption(pick, 'historyMaxChanges'),
        historyMaxAgeMs: numberOption(pick, 'historyMaxAge') * 1000,
        limits: { ...serverLimits(pick), maxSnapshotLoads: numberOption(pick, 'proxyLoadMax', 1) },
        tls: serverTls(pick),
        logger,
      });
      if (master.generatedAdminPassword) {
        process.stderr.write(`\nAdmin account created. user: admin  password: ${master.generatedAdminPassword}\n(shown once; set CFGPROXY_ADMIN_PASSWORD to choose it)\n\n`);
      }
      superviseServers(logger, master);
    });

  withServerOptions(program.command('proxy').description('run a configuration proxy in front of a master (and its backup)'), PROXY_DEFAULTS.port, PROXY_DEFAULTS.serverName)
    .option('--master <endpoints>', 'addresses of one master in failover order: host:port[,other-address:port] (tls://host:port for TLS); a master of another database is not a backup: the proxy reloads from it and clients re-read')
    .option('-u, --user <name>', 'account the proxy registers with; needs isProxy or isAdmin (or CFGPROXY_PROXY_USER)')
    .option('-p, --password <password>', 'its password (better: CFGPROXY_PROXY_PASSWORD)')
    .option('--scope <list>', 'load and serve only tenant:<dbid> and folder:<dbid> entries, comma-separated')
    .option('--writable', 'forward client writes to the master (otherwise they are refused with READ_ONLY)')
    .option('--max-object-bytes <n>', 'writable: refuse writes larger than this before forwarding them (the master checks the object too)', String(DEFAULT_MAX_OBJECT_BYTES))
    .option('--history-db <file>', 'SQLite history log of applied changes and client sessions', PROXY_DEFAULTS.historyDb)
    .option('--history-max-changes <n>', 'keep at most this many changes in the history log', String(PROXY_DEFAULTS.historyMaxChanges))
    .option('--history-max-age <seconds>', 'drop changes older than this', String(PROXY_DEFAULTS.historyMaxAgeMs / 1000))
    .option('--session-expiration <seconds>', 'keep records of closed client sessions this long', String(PROXY_DEFAULTS.sessionExpirationMs / 1000))
    .option('--delay-reload <seconds>', 'after the master history expired, reload after a random delay up to this', '0')
    .option('--give-up-after <n>', 'exit (code 1) after this many refusals in a row that retrying cannot cure: wrong credentials at the master, a wrong pair secret at the peer (0: retry forever)', String(DEFAULT_GIVE_UP_AFTER))
    .option('--master-tls', 'connect to the masters with TLS')
    .option('--master-tls-ca <file>', 'CA to verify the masters with')
    .option('--master-tls-cert <file>', 'client certificate the proxy presents to its masters (for a master with --tls-verify-client)')
    .option('--master-tls-key <file>', 'private key of --master-tls-cert')
    .option('--master-addp <seconds>', 'ADDP timeout towards the masters, both directions (0 = off)', '10')
    .option('--addp-trace <mode>', 'log ADDP polls on the master link: off, local, remote or both', 'off')
    .option('--admin-port <port>', 'admin HTTP: /health, /health/active, /ha, /metrics, POST /ha/switchover')
    .option('--admin-host <host>', 'where the admin port listens', '127.0.0.1')
    .option('--admin-token <token>', 'bearer token for admin actions (better: CFGPROXY_ADMIN_TOKEN); without one, actions only from this host')
    .option('--admin-max-connections <n>', 'admin HTTP connections held at once (at most an eighth of the descriptor limit); past it the oldest idle one is closed', String(DEFAULT_ADMIN_MAX_CONNECTIONS))
    .option('--admin-allowed-hosts <names>', 'further Host names the admin port answers to, comma-separated (a balancer\'s name for this host); others get 421')
    .option('--advertise <host:port>', 'where clients reach this proxy when not --host:--port (NAT, load balancer); told to the pair peer')
    .option('--role <role>', 'member of a warm-standby pair: primary or backup')
    .option('--pair-name <name>', 'both members must name the same pair', HA_DEFAULTS.pairName)
    .option('--ha-secret <secret>', 'shared secret of the pair (better: CFGPROXY_HA_SECRET)')
    .option('--ha-port <port>', 'primary: the HA sync port the backup connects to')
    .option('--ha-tls', 'TLS on the HA link: the HA port serves it, the backup dials with it, each side requires the other\'s certificate (the --ha-tls-* files, else the --tls-* ones)')
    .option('--ha-tls-cert <file>', 'this member\'s certificate on the HA link, served on the HA port and presented when dialing the peer (apart from the client port\'s --tls-cert)')
    .option('--ha-tls-key <file>', 'private key of --ha-tls-cert')
    .option('--ha-tls-ca <file>', 'CA that signed the peer\'s HA certificate')
    .option('--peer <endpoint>', 'backup: the primary\'s HA port, host:port or tls://host:port (TLS uses --tls-ca, and --tls-cert/--tls-key as client certificate)')
    .option('--ha-addp <seconds>', 'ADDP timeout on the HA link', String(HA_DEFAULTS.addpTimeoutMs / 1000))
    .option('--heartbeat-interval <seconds>', 'backup: probe the primary this often while the HA link is down', String(HA_DEFAULTS.heartbeatIntervalMs / 1000))
    .option('--failures-to-switch <n>', 'backup: promote after this many failed probes in a row', String(HA_DEFAULTS.failuresToSwitch))
    .option('--accept-clients-in-backup-mode', 'backup: serve reads and subscriptions (never writes) instead of refusing clients')
    .option('--auto-restore-primary', 'the configured primary takes the role back once healthy for --failures-to-switch heartbeats')
    .option('--config-reload-delay-if-primary', 'protected mode: on history-expired the backup reloads first, the pair switches over, then the former primary reloads')
    .option('--ready-after <seconds>', 'a pair is ready for a switchover only after its link has been up this long (and the backup caught up)', String(DEFAULT_READY_AFTER_MS / 1000))
    .option('--protected-mode-timeout <seconds>', 'protected mode: reload anyway when the backup has not reloaded and taken over by then', String(DEFAULT_PROTECTED_MODE_TIMEOUT_MS / 1000))
    .option('--ha-chunk-size <n>', 'journal records per chunk on the HA link', String(HA_DEFAULTS.chunkSize))
    .option('--ha-chunk-timeout <ms>', 'longest a journal record waits for its chunk', String(HA_DEFAULTS.chunkTimeoutMs))
    .option('--ha-max-sessions-sync-at-once <n>', 'sessions per second in a full sessions snapshot to the backup', String(HA_DEFAULTS.maxSessionsSyncAtOnce))
    .option('--ha-journal-records <n>', 'journal records the primary keeps for a backup that reconnects (older: a full sessions snapshot)', String(HA_DEFAULTS.journalCapacity))
    .action(async (_flags: unknown, command: Command) => {
      const pick = optionPicker(command);
      const masters = String(pick('master') ?? '').split(',').map((m) => m.trim()).filter(Boolean);
      const user = pick('user') as string | undefined;
      const password = pick('password') as string | undefined;
      if (masters.length === 0 || !user || password === undefined) {
        throw new UsageError('proxy needs --master host:port, --user and a password (--password or CFGPROXY_PROXY_PASSWORD)');
      }
      const addpMs = numberOption(pick, 'masterAddp') * 1000;
      const masterTls = { ca: pick('masterTlsCa') as string | undefined, cert: pick('masterTlsCert') as string | undefined, key: pick('masterTlsKey') as string | undefined };
      if (Boolean(masterTls.cert) !== Boolean(masterTls.key)) throw new UsageError('--master-tls-cert and --master-tls-key go together');
      const logger = serverLogger(command);
      const proxy = await ProxyServer.start({
        masters,
        user,
        password,
        host: String(pick('host')),
        port: numberOption(pick, 'port'),
        serverName: String(pick('name')),
        scope: pick('scope') as string | undefined,
        writable: Boolean(pick('writable')),
        maxObjectBytes: numberOption(pick, 'maxObjectBytes', 1024),
        historyDb: String(pick('historyDb')),
        historyMaxChanges: numberOption(pick, 'historyMaxChanges'),
        historyMaxAgeMs: numberOption(pick, 'historyMaxAge') * 1000,
        sessionExpirationMs: numberOption(pick, 'sessionExpiration') * 1000,
        delayReloadMs: numberOption(pick, 'delayReload') * 1000,
        upstreamTls: masterTls.ca || masterTls.cert ? masterTls : Boolean(pick('masterTls')),
        upstreamAddp: addpMs > 0 ? { localTimeoutMs: addpMs, remoteTimeoutMs: addpMs, trace: pick('addpTrace') as 'off' } : undefined,
        limits: serverLimits(pick),
        tls: serverTls(pick),
        ha: pairOptions(pick),
        advertise: pick('advertise') as string | undefined,
        adminPort: pick('adminPort') === undefined ? undefined : numberOption(pick, 'adminPort'),
        adminHost: String(pick('adminHost')),
        adminToken: pick('adminToken') as string | undefined,
        adminMaxConnections: numberOption(pick, 'adminMaxConnections', 1),
        adminAllowedHosts: listOption(pick, 'adminAllowedHosts'),
        giveUpAfter: numberOption(pick, 'giveUpAfter'),
        // A misconfiguration retrying cannot cure: say so once and exit, for the supervisor to report.
        onGiveUp: (error) => {
          process.stderr.write(`cfgproxy proxy: giving up: ${error.message}\n`);
          void proxy.shutdown().finally(() => process.exit(EXIT.refused));
        },
        logger,
      });
      superviseServers(logger, { stop: () => proxy.shutdown() });
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
  // Every server option can come from the environment: --help says under which name.
  for (const command of program.commands.filter((c) => c.name() === 'master' || c.name() === 'proxy')) {
    showEnvironmentInHelp(command, command.name() === 'proxy' ? PROXY_ENV_NAMES : {});
  }
}

/** The --role … options as HaOptions, or undefined for a standalone proxy. */
function pairOptions(pick: ReturnType<typeof optionPicker>): HaOptions | undefined {
  const role = pick('role') as string | undefined;
  if (role === undefined) return undefined;
  if (role !== 'primary' && role !== 'backup') throw new UsageError(`--role must be primary or backup, not '${role}'`);
  const secret = pick('haSecret') as string | undefined;
  if (!secret) throw new UsageError('a pair needs a shared secret: --ha-secret or CFGPROXY_HA_SECRET');
  const haPort = pick('haPort') as string | undefined;
  const peer = pick('peer') as string | undefined;
  if (role === 'primary' && haPort === undefined) throw new UsageError('--role primary needs --ha-port (where the backup connects)');
  if (role === 'backup' && peer === undefined) throw new UsageError('--role backup needs --peer host:port (the primary\'s HA port)');
  // The HA link has a certificate of its own when given one: the client port's would otherwise
  // be presented to the peer, and after a switchover clients would meet the wrong one.
  const clientPortTls = serverTls(pick);
  const haCert = pick('haTlsCert') as string | undefined;
  if (Boolean(haCert) !== Boolean(pick('haTlsKey'))) throw new UsageError('--ha-tls-cert and --ha-tls-key go together');
  const haCa = (pick('haTlsCa') as string | undefined) ?? clientPortTls?.ca;
  const tls: TlsFiles | undefined = haCert
    ? { cert: haCert, key: pick('haTlsKey') as string, ca: haCa, verifyClient: haCa !== undefined }
    : clientPortTls;
  return {
    role,
    pairName: String(pick('pairName')),
    secret,
    haPort: haPort === undefined ? undefined : Number(haPort),
    haHost: String(pick('host')),
    haTls: pick('haTls') ? tls : undefined,
    peer,
    peerTls: tls ? { ca: tls.ca, cert: tls.cert, key: tls.key } : undefined,
    addpTimeoutMs: numberOption(pick, 'haAddp') * 1000,
    heartbeatIntervalMs: numberOption(pick, 'heartbeatInterval', 0.01) * 1000,
    failuresToSwitch: numberOption(pick, 'failuresToSwitch', 1),
    acceptClientsInBackupMode: Boolean(pick('acceptClientsInBackupMode')),
    autoRestorePrimary: Boolean(pick('autoRestorePrimary')),
    configReloadDelayIfPrimary: Boolean(pick('configReloadDelayIfPrimary')),
    protectedModeTimeoutMs: numberOption(pick, 'protectedModeTimeout', 1) * 1000,
    readyAfterMs: numberOption(pick, 'readyAfter') * 1000,
    chunkSize: numberOption(pick, 'haChunkSize', 1),
    chunkTimeoutMs: numberOption(pick, 'haChunkTimeout'),
    maxSessionsSyncAtOnce: numberOption(pick, 'haMaxSessionsSyncAtOnce', 1),
    journalCapacity: numberOption(pick, 'haJournalRecords', 1),
  };
}

/** A server command's options, each from the command line, the environment, --config or its default. */
function optionPicker(command: Command): ReturnType<typeof pickerFor> {
  return pickerFor(command, root(command).opts<{ config?: string }>().config, command.name() === 'proxy' ? PROXY_ENV_NAMES : {});
}

/** The program a subcommand belongs to: it holds --config and --log-level. */
function root(command: Command): Command {
  return command.parent ?? command;
}

/** The proxy's account has its own variables: CFGPROXY_USER/PASSWORD are the CLI's own. */
const PROXY_ENV_NAMES = { user: 'CFGPROXY_PROXY_USER', password: 'CFGPROXY_PROXY_PASSWORD' } as const;

/** A numeric option (flag or config file) as a number; anything but a number ≥ `min` is a usage error. */
function numberOption(pick: ReturnType<typeof optionPicker>, key: string, min = 0): number {
  const raw = pick(key);
  const value = typeof raw === 'string' && raw.trim() !== '' ? Number(raw) : typeof raw === 'number' ? raw : NaN;
  if (!Number.isFinite(value) || value < min) {
    throw new UsageError(`--${key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)} must be a number, ${min} or more (got '${String(raw)}')`);
  }
  return value;
}

/** A comma-separated option as a list (empty when unset). */
function listOption(pick: ReturnType<typeof optionPicker>, key: string): string[] {
  return String(pick(key) ?? '').split(',').map((item) => item.trim()).filter(Boolean);
}

const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;

/** The server's logger at `--log-level` (or CFGPROXY_LOG_LEVEL); a level pino does not know is a usage error. */
function serverLogger(command: Command) {
  const program = root(command);
  const level = program.getOptionValueSource('logLevel') === 'cli' ? program.opts<{ logLevel: string }>().logLevel : (process.env.CFGPROXY_LOG_LEVEL || program.opts<{ logLevel: string }>().logLevel);
  if (!(LOG_LEVELS as readonly string[]).includes(level)) throw new UsageError(`--log-level must be one of ${LOG_LEVELS.join(', ')} (got '${level}')`);
  return createLogger({ level: level as (typeof LOG_LEVELS)[number] });
}

function serverTls(pick: ReturnType<typeof optionPicker>): TlsFiles | undefined {
  const cert = pick('tlsCert') as string | undefined;
  if (!cert) return undefined;
  return { cert, key: pick('tlsKey') as string, ca: pick('tlsCa') as string | undefined, verifyClient: Boolean(pick('tlsVerifyClient')) };
}

function serverLimits(pick: ReturnType<typeof optionPicker>): Partial<ServiceLimits> {
  return {
    maxClients: numberOption(pick, 'maxClients', 1),
    maxPendingConnections: numberOption(pick, 'maxPending', 1),
    unauthenticatedFrameBytes: numberOption(pick, 'maxLoginFrameBytes', 1024),
    maxFrameBytes: numberOption(pick, 'maxFrameBytes', 1),
    maxOutboundBytes: numberOption(pick, 'maxOutboundBytes'),
    drainTimeoutMs: numberOption(pick, 'drainTimeout') * 1000,
    refusePasswordLogins: Boolean(pick('refusePasswordLogins')),
  };
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
