import { Command, CommanderError } from 'commander';
import { closeSync, copyFileSync, existsSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { parse as parseYaml, parseAllDocuments, stringify as toYaml } from 'yaml';
import { CfgError, KindNames, OBJECT_TYPES, type ConfigObject, type NewObject, type ObjectDelta, type ObjectFilter, type ObjectType } from '../../protocol/index.js';
import { CfgClient, type ConnectOptions, type Notification } from '../client/client.js';
import { isPostgresUrl, MasterServer, MASTER_DEFAULTS } from '../master/master-server.js';
import { DEFAULT_MAX_OBJECT_BYTES } from '../master/master-source.js';
import { SCHEMA } from '../model/schema.js';
import type { TlsFiles } from '../net/tls-options.js';
import { DEFAULT_PROTECTED_MODE_TIMEOUT_MS, DEFAULT_READY_AFTER_MS, HA_DEFAULTS, type HaOptions } from '../ha/ha-node.js';
import { PROXY_DEFAULTS, ProxyServer } from '../proxy/proxy-server.js';
import { DEFAULT_SERVICE_LIMITS, type ServiceLimits } from '../service/limits.js';
import { DEFAULT_GIVE_UP_AFTER } from '../util/give-up.js';
import { createLogger, type Logger } from '../util/logger.js';
import { Progress } from '../util/progress.js';
import { SOFTWARE_VERSION } from '../util/version.js';
import { optionPicker as pickerFor, showEnvironmentInHelp, UsageError } from './option-sources.js';
import { checkDocument, importDocument } from './import.js';

/** Exit codes: 0 ok, 1 request refused by the server, 2 usage, 3 cannot connect or authenticate. */
const EXIT = { ok: 0, refused: 1, usage: 2, connection: 3 } as const;

interface ClientFlags {
  server: string;
  user?: string;
  password?: string;
  tls?: boolean;
  tlsCa?: string;
  tlsCert?: string;
  tlsKey?: string;
  insecure?: boolean;
  json?: boolean;
}

// `cfgproxy get … | head` closes stdout early; that is not an error.
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code === 'EPIPE') process.exit(0);
  throw error;
});

const program = new Command('cfgproxy')
  .description('cfgproxy: configuration master, proxy and client tools')
  .version(SOFTWARE_VERSION)
  .option('--config <file>', "read a server's options from a YAML or JSON file (keys: its long options); the command line and CFGPROXY_* variables win over it")
  .option('--log-level <level>', 'trace, debug, info, warn, error or silent (or CFGPROXY_LOG_LEVEL)', 'info')
  .showHelpAfterError()
  // Commander's own usage errors (missing argument, unknown option or command) come back as
  // errors, so they exit with the usage code like ours; subcommands inherit it.
  .exitOverride();

function withClientOptions(command: Command): Command {
  return command
    .option('-s, --server <endpoints>', 'host:port or tls://host:port, comma-separated for failover', process.env.CFGPROXY_SERVER ?? `127.0.0.1:${MASTER_DEFAULTS.port}`)
    .option('-u, --user <name>', 'user name (or CFGPROXY_USER)')
    .option('-p, --password <password>', 'password (or CFGPROXY_PASSWORD)')
    .option('--tls', 'connect with TLS')
    .option('--tls-ca <file>', 'CA certificate to verify the server with')
    .option('--tls-cert <file>', 'client certificate to present (a server started with --tls-verify-client asks for one)')
    .option('--tls-key <file>', 'private key of --tls-cert')
    .option('--insecure', 'do not verify the server certificate')
    .option('--json', 'print JSON');
}

/**
 * Connect options from the flags and the environment. Without a password on a terminal the CLI
 * asks for it (not echoed); elsewhere missing credentials are a usage error.
 */
async function connectOptions(flags: ClientFlags): Promise<ConnectOptions> {
  const user = flags.user ?? process.env.CFGPROXY_USER;
  let password = flags.password ?? process.env.CFGPROXY_PASSWORD;
  if (user && password === undefined && process.stdin.isTTY && process.stderr.isTTY) password = await askPassword(`password for ${user}: `);
  if (!user || password === undefined) throw new UsageError('credentials needed: --user/--password or CFGPROXY_USER/CFGPROXY_PASSWORD');
  if (Boolean(flags.tlsCert) !== Boolean(flags.tlsKey)) throw new UsageError('--tls-cert and --tls-key go together');
  const tls = flags.tls || flags.tlsCa || flags.tlsCert || flags.insecure ? { ca: flags.tlsCa, cert: flags.tlsCert, key: flags.tlsKey, insecure: flags.insecure } : undefined;
  return { endpoints: flags.server, user, password, tls, clientName: 'cfgproxy-cli', clientType: 'cli' };
}

/** A one-shot client: a lost connection fails the command instead of retrying. */
async function openClient(flags: ClientFlags): Promise<CfgClient> {
  return CfgClient.connect({ ...(await connectOptions(flags)), reconnect: false });
}

/** Reads a line from the terminal without echoing it. */
function askPassword(prompt: string): Promise<string> {
  const input = process.stdin;
  process.stderr.write(prompt);
  input.setRawMode(true);
  input.setEncoding('utf8');
  input.resume();
  return new Promise((resolve, reject) => {
    let typed = '';
    const done = (): void => {
      input.off('data', onData);
      input.setRawMode(false);
      input.pause();
      process.stderr.write('\n');
    };
    const onData = (chunk: string): void => {
      for (const character of chunk) {
        if (character === '\r' || character === '\n') {
          done();
          return resolve(typed);
        }
        if (character === '\u0003') {
          done();
          return reject(new UsageError('cancelled'));
        }
        typed = character === '\u007f' || character === '\b' ? typed.slice(0, -1) : typed + character;
      }
    };
    input.on('data', onData);
  });
}


function objectType(value: string): ObjectType {
  const match = OBJECT_TYPES.find((type) => type.toLowerCase() === value.toLowerCase());
  if (!match) throw new UsageError(`unknown object type '${value}': one of ${OBJECT_TYPES.join(', ')}`);
  return match;
}

function readDocument(file: string | undefined): unknown {
  const text = readFileSync(file === undefined || file === '-' ? 0 : file, 'utf8');
  return parseYaml(text) as unknown;
}

/**
 * The objects of `put`'s input: one document, several YAML documents (`---`), or lists of objects,
 * each with its type name in any case (`dn`, `DN`); checked before anything is sent.
 */
function readObjects(file: string | undefined): Array<Record<string, unknown>> {
  const text = readFileSync(file === undefined || file === '-' ? 0 : file, 'utf8');
  const documents = parseAllDocuments(text);
  const objects: Array<Record<string, unknown>> = [];
  for (const document of documents) {
    if (document.errors.length > 0) throw new UsageError(`${file ?? 'stdin'} is not valid YAML or JSON: ${document.errors[0]!.message}`);
    const value = document.toJS() as unknown;
    for (const item of Array.isArray(value) ? value : value === null || value === undefined ? [] : [value]) {
      if (item === null || typeof item !== 'object' || Array.isArray(item)) throw new UsageError(`${file ?? 'stdin'}: each object must be a map (type, name, tenant, props…)`);
      objects.push(item as Record<string, unknown>);
    }
  }
  if (objects.length === 0) throw new UsageError(`${file ?? 'stdin'} holds no object`);
  return objects;
}

/** A dbid given on the command line: a positive integer, or a usage error before anything is sent. */
function dbidArgument(value: string, what: string): number {
  if (!/^\d+$/.test(value) || Number(value) === 0) throw new UsageError(`${what}: '${value}' is not a dbid (a positive integer)`);
  return Number(value);
}

/** A server command's options, each from the command line, the environment, --config or its default. */
function optionPicker(command: Command): ReturnType<typeof pickerFor> {
  return pickerFor(command, program.opts<{ config?: string }>().config, command.name() === 'proxy' ? PROXY_ENV_NAMES : {});
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

const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;

/** The server's logger at `--log-level` (or CFGPROXY_LOG_LEVEL); a level pino does not know is a usage error. */
function serverLogger() {
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
  .option('--sample', 'load the sample configuration into a new database')
  .option('--history-max-changes <n>', 'keep at most this many changes in the change log', String(MASTER_DEFAULTS.historyMaxChanges))
  .option('--history-max-age <seconds>', 'drop changes older than this', String(MASTER_DEFAULTS.historyMaxAgeMs / 1000))
  .option('--proxy-load-max <n>', 'proxies loading a snapshot at once; the others wait', String(DEFAULT_SERVICE_LIMITS.maxSnapshotLoads))
  .option('--max-object-bytes <n>', 'refuse writes that leave an object larger than this, encoded (OBJECT_TOO_LARGE)', String(DEFAULT_MAX_OBJECT_BYTES))
  .option('--restore-from <file>', 'start from a copy made by `cfgproxy backup` (copied to --db, which must not exist yet); a new generation begins')
  .action(async (_flags: unknown, command: Command) => {
    const pick = optionPicker(command);
    const logger = serverLogger();
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
    const logger = serverLogger();
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

program
  .command('status')
  .description("print a server's state from its admin port (a proxy: role, pair link, journal lag; a master: active or standby)")
  .option('--admin <host:port>', 'the admin HTTP port', '127.0.0.1:9031')
  .option('--json', 'print JSON')
  .action(async (flags: { admin: string; json?: boolean }) => {
    const base = `http://${flags.admin}`;
    let health: Response;
    try {
      health = await fetch(`${base}/health`);
    } catch (error) {
      throw new CfgError('CONNECTION_LOST', `cannot reach the admin port ${flags.admin}: ${(error as Error).message}`);
    }
    const active = (await fetch(`${base}/health/active`)).status === 200;
    const ha = await fetch(`${base}/ha`);
    const pair = ha.status === 200 ? ((await ha.json()) as Record<string, unknown>) : undefined;
    const status = { serving: health.status === 200, active, ...(pair ? { pair } : {}) };
    if (flags.json) {
      process.stdout.write(`${JSON.stringify(status)}\n`);
      return;
    }
    const lines = [`serving: ${status.serving ? 'yes' : 'no'}   active: ${active ? 'yes' : 'no'}`];
    if (pair?.kind === 'master-pair') {
      lines.push(`master pair on ${String(pair.db)}: this master is ${String(pair.role)}, the active one at ${String(pair.activeMaster ?? 'unknown')}; seq ${String(pair.seq)}`);
    } else if (pair) {
      const journal = pair.journal as Record<string, number>;
      lines.push(
        `pair '${String(pair.pairName)}': role ${String(pair.role)} (configured ${String(pair.configuredRole)}), HA link ${String(pair.link)}${pair.peer ? ` to ${String(pair.peer)}` : ''}, primary at ${String(pair.primaryEndpoint)}`,
        `journal: last record ${journal.lastRecord}, lag ${journal.lag}; ready for switchover: ${String(pair.readyForSwitchover)}, ready for upgrade: ${String(pair.readyForUpgrade)}`,
      );
    } else {
      lines.push('not in a pair');
    }
    process.stdout.write(`${lines.join('\n')}\n`);
  });

const ha = program.command('ha').description('warm-standby pair actions');
ha.command('switchover')
  .description('hand the primary role to the backup gracefully (ask the primary\'s admin port)')
  .option('--admin <host:port>', "the primary's admin HTTP port", '127.0.0.1:9031')
  .option('--admin-token <token>', 'the admin token the proxy was started with (or CFGPROXY_ADMIN_TOKEN)')
  .option('--force', 'switch over even when the pair is not ready (the backup may be behind)')
  .action(async (flags: { admin: string; adminToken?: string; force?: boolean }) => {
    const token = flags.adminToken ?? process.env.CFGPROXY_ADMIN_TOKEN;
    let response: Response;
    try {
      response = await fetch(`http://${flags.admin}/ha/switchover${flags.force ? '?force=1' : ''}`, { method: 'POST', headers: token ? { authorization: `Bearer ${token}` } : {} });
    } catch (error) {
      throw new CfgError('CONNECTION_LOST', `cannot reach the admin port ${flags.admin}: ${(error as Error).message}`);
    }
    const text = await response.text();
    let outcome: { ok: boolean; message: string };
    try {
      outcome = JSON.parse(text) as { ok: boolean; message: string };
    } catch {
      outcome = { ok: false, message: `${response.status}: ${text.trim()}` };
    }
    process.stdout.write(`${outcome.ok ? 'switched over' : 'switchover refused'}: ${outcome.message}\n`);
    if (!outcome.ok) process.exitCode = EXIT.refused;
  });

program
  .command('demo')
  .description('run a master with the sample configuration and a proxy in front of it, and print how to connect (npm start)')
  .option('--port <port>', 'proxy client port', String(PROXY_DEFAULTS.port))
  .option('--master-port <port>', 'master client port', String(MASTER_DEFAULTS.port))
  .option('--dir <dir>', 'where the master database and the proxy history log go', 'data/demo')
  .action(async (flags: { port: string; masterPort: string; dir: string }) => {
    const logger = serverLogger();
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

withClientOptions(
  program
    .command('get <type>')
    .description('read objects of a type (e.g. `get dn --filter number=5001`)')
    .option('-f, --filter <key=value...>', 'dbid, name, tenant, folder, state or a property'),
).action(async (type: string, flags: ClientFlags & { filter?: string[] }) => {
  const filter = parseFilter(objectType(type), flags.filter ?? []); // before connecting: a bad filter is a usage error
  const client = await openClient(flags);
  try {
    const objects = await client.readAll(objectType(type), filter);
    if (flags.json) process.stdout.write(`${JSON.stringify(objects, null, 2)}\n`);
    else for (const o of objects) process.stdout.write(`${o.type}\t${o.dbid}\t${o.name}\ttenant=${o.tenant}\tfolder=${o.folder}\t${o.state}\n`);
  } finally {
    await client.close();
  }
});

withClientOptions(
  program
    .command('watch [type]')
    .description('print change notifications as JSON lines until interrupted')
    .option('--tenant <dbid>', 'only this tenant')
    .option('--folder <dbid>', 'only this folder'),
).action(async (type: string | undefined, flags: ClientFlags & { tenant?: string; folder?: string }) => {
  const client = await CfgClient.connect({ ...(await connectOptions(flags)), clientName: 'cfgproxy-watch' });
  // One JSON line per notification, with the kind's name and the commit time in ISO 8601, as a
  // person or `jq` reads them; what happens to the connection goes to stderr.
  client.on('notification', (n: Notification) => process.stdout.write(`${JSON.stringify({ ...n, kind: KindNames[n.kind] ?? n.kind, at: new Date(n.at).toISOString() })}\n`));
  client.on('reset', (r) => process.stdout.write(`${JSON.stringify({ reset: r })}\n`));
  client.on('disconnected', (reason: { message?: string }) => process.stderr.write(`${new Date().toISOString()} disconnected (${reason.message ?? 'connection lost'}); reconnecting…\n`));
  client.on('connected', ({ endpoint, restored }: { endpoint: { host: string; port: number }; restored: boolean }) =>
    process.stderr.write(`${new Date().toISOString()} connected to ${endpoint.host}:${endpoint.port}${restored ? `, resumed after seq ${client.lastSeq}: nothing missed` : ''}\n`),
  );
  await client.subscribe({
    ...(type ? { type: objectType(type) } : {}),
    ...(flags.tenant ? { tenant: Number(flags.tenant) } : {}),
    ...(flags.folder ? { folder: Number(flags.folder) } : {}),
  });
  process.stderr.write(`watching from seq ${client.lastSeq}; Ctrl-C stops\n`);
  process.once('SIGINT', () => {
    client.close().then(() => process.exit(0), () => process.exit(1));
  });
});

withClientOptions(
  program
    .command('put [file]')
    .description('create objects (a JSON or YAML document, several separated by ---, or a list; type names in any case), or update one with a delta; from a file or stdin (-)')
    .option('--update <type:dbid>', 'apply the document as a delta to this object'),
).action(async (file: string | undefined, flags: ClientFlags & { update?: string }) => {
  const objects = readObjects(file);
  let target: { type: ObjectType; dbid: number } | undefined;
  if (flags.update) {
    const [type, dbid] = flags.update.split(':');
    if (dbid === undefined) throw new UsageError(`--update ${flags.update}: give type:dbid, e.g. DN:12`);
    target = { type: objectType(type!), dbid: dbidArgument(dbid, '--update') };
    if (objects.length > 1) throw new UsageError(`--update applies one delta; ${file ?? 'stdin'} holds ${objects.length}`);
  } else {
    for (const object of objects) {
      if (typeof object.type !== 'string') throw new UsageError(`every object needs a type (${OBJECT_TYPES.join(', ')})`);
      object.type = objectType(object.type);
    }
  }
  const client = await openClient(flags);
  try {
    for (const object of objects) {
      const result = target ? await client.update(target.type, target.dbid, object as ObjectDelta) : await client.create(object as unknown as NewObject);
      process.stdout.write(flags.json ? `${JSON.stringify(result)}\n` : `ok: dbid ${result.dbid}, seq ${result.seq}\n`);
    }
  } finally {
    await client.close();
  }
});

withClientOptions(program.command('rm <type> <dbid>').description('delete an object')).action(
  async (type: string, dbid: string, flags: ClientFlags) => {
    const target = { type: objectType(type), dbid: dbidArgument(dbid, 'rm') };
    const client = await openClient(flags);
    try {
      const result = await client.delete(target.type, target.dbid);
      process.stdout.write(flags.json ? `${JSON.stringify(result)}\n` : `deleted: seq ${result.seq}\n`);
    } finally {
      await client.close();
    }
  },
);

withClientOptions(
  program
    .command('export')
    .description('print the whole configuration as one document (human-readable; for a restorable copy use `backup`)')
    .option('--yaml', 'YAML instead of JSON')
    .option('--with-credentials', "include each person's password hash (props.passwordHash), so `import` keeps logins working; needs an account that may load proxy snapshots (isAdmin or isProxy)"),
).action(async (flags: ClientFlags & { yaml?: boolean; withCredentials?: boolean }) => {
  const client = await CfgClient.connect({ ...(await connectOptions(flags)), reconnect: false, ...(flags.withCredentials ? { clientType: 'proxy' } : {}) });
  try {
    const objects: ConfigObject[] = [];
    const progress = new Progress('exporting', createLogger({ level: 'warn' }));
    if (flags.withCredentials) {
      // The one request that carries password hashes: a proxy's snapshot [PROTO-PROXY-2].
      const hashes = new Map<number, string>();
      await client.loadSnapshot((chunk) => {
        objects.push(...chunk.objects);
        for (const [dbid, hash] of chunk.credentials ?? []) hashes.set(dbid, hash);
        progress.update(objects.length, chunk.total);
      });
      for (const [index, object] of objects.entries()) {
        const hash = object.type === 'Person' ? hashes.get(object.dbid) : undefined;
        if (hash !== undefined) objects[index] = { ...object, props: { ...object.props, passwordHash: hash } };
      }
    } else {
      for (const type of OBJECT_TYPES) {
        for await (const object of client.read(type)) {
          objects.push(object);
          progress.update(objects.length, undefined);
        }
      }
    }
    progress.finish();
    const document = { cfgproxy: 1, seq: client.lastSeq, objects };
    process.stdout.write(flags.yaml ? toYaml(document) : `${JSON.stringify(document, null, 2)}\n`);
  } finally {
    await client.close();
  }
});

withClientOptions(
  program
    .command('backup <file>')
    .description("write a point-in-time copy of a running master's database (online: writes go on); start a master from it with `master --restore-from <file>` (administrators only)")
    .option('--force', 'overwrite <file> if it exists'),
).action(async (file: string, flags: ClientFlags & { force?: boolean }) => {
  if (existsSync(file) && !flags.force) throw new UsageError(`${file} exists; choose another name or add --force`);
  const client = await openClient(flags);
  const partial = `${file}.partial`;
  const out = openSync(partial, 'w', 0o600); // it holds every password hash
  try {
    const progress = new Progress('backing up', createLogger({ level: 'warn' }));
    let written = 0;
    const end = await client.backup((chunk) => {
      writeSync(out, chunk.data);
      written += chunk.data.length;
      progress.update(written, chunk.size);
    });
    const ms = progress.finish();
    closeSync(out);
    if (written !== end.size) throw new CfgError('CONNECTION_LOST', `the copy is incomplete (${written} of ${end.size} bytes)`);
    renameSync(partial, file);
    process.stderr.write(`backup of ${client.server?.serverName ?? 'the master'} written to ${file}: ${written.toLocaleString('en')} bytes at seq ${end.seq} (database ${end.lineage.id}, generation ${end.lineage.generation}) in ${ms} ms\n`);
    if (flags.json) process.stdout.write(`${JSON.stringify({ file, bytes: written, seq: end.seq, lineage: end.lineage, ms })}\n`);
  } finally {
    try {
      closeSync(out);
    } catch {
      // closed above
    }
    rmSync(partial, { force: true });
    await client.close();
  }
});

withClientOptions(
  program
    .command('import <file>')
    .description('create every object of an export document (JSON or YAML, - for stdin); references inside it are remapped to the new dbids'),
).action(async (file: string, flags: ClientFlags) => {
  const document = checkDocument(readDocument(file));
  const client = await openClient(flags);
  try {
    const progress = new Progress('importing', createLogger({ level: 'warn' }));
    const summary = await importDocument(client, document, (done, total) => progress.update(done, total));
    const ms = progress.finish();
    process.stderr.write(`imported ${document.objects.length} objects in ${ms} ms: ${summary.created} created, ${summary.reused} already there (kept), ${summary.failed.length} failed\n`);
    for (const failure of summary.failed.slice(0, 20)) process.stderr.write(`  ${failure.object} '${failure.name}': ${failure.code}: ${failure.message}\n`);
    if (summary.failed.length > 20) process.stderr.write(`  … and ${summary.failed.length - 20} more\n`);
    if (flags.json) process.stdout.write(`${JSON.stringify(summary)}\n`);
    if (summary.failed.length > 0) process.exitCode = EXIT.refused;
  } finally {
    await client.close();
  }
});

/**
 * `key=value` filters, typed as the schema types the key (a DN's `number` is a string, an
 * Application's `port` a number), so a filter never silently matches nothing; what cannot match
 * is a usage error before anything is sent.
 */
function parseFilter(type: ObjectType, pairs: string[]): ObjectFilter {
  const filter: ObjectFilter = {};
  const props: Record<string, string | number | boolean> = {};
  const integer = (key: string, value: string): number => {
    if (!/^\d+$/.test(value)) throw new UsageError(`filter ${key}=${value}: ${key} is a number (a dbid)`);
    return Number(value);
  };
  for (const pair of pairs) {
    const eq = pair.indexOf('=');
    if (eq <= 0) throw new UsageError(`filter '${pair}' is not key=value`);
    const key = pair.slice(0, eq);
    const value = pair.slice(eq + 1);
    if (key === 'dbid' || key === 'tenant' || key === 'folder') filter[key] = integer(key, value);
    else if (key === 'name') filter.name = value;
    else if (key === 'state') {
      if (value !== 'enabled' && value !== 'disabled') throw new UsageError(`filter state=${value}: state is enabled or disabled`);
      filter.state = value;
    } else {
      const spec = SCHEMA[type][key];
      const filterable = Object.entries(SCHEMA[type]).filter(([, s]) => s.kind === 'string' || s.kind === 'int' || s.kind === 'bool' || s.kind === 'ref').map(([k]) => k);
      if (!spec || !filterable.includes(key)) {
        throw new UsageError(`filter ${key}=${value}: a ${type} has no property ${key} to filter on (dbid, name, tenant, folder, state${filterable.length ? `, ${filterable.join(', ')}` : ''})`);
      }
      if (spec.kind === 'string') props[key] = value;
      else if (spec.kind === 'bool') {
        if (value !== 'true' && value !== 'false') throw new UsageError(`filter ${key}=${value}: ${key} is true or false`);
        props[key] = value === 'true';
      } else props[key] = integer(key, value);
    }
  }
  if (Object.keys(props).length > 0) filter.props = props;
  return filter;
}

// Every server option can come from the environment: --help says under which name.
for (const command of program.commands.filter((c) => c.name() === 'master' || c.name() === 'proxy')) {
  showEnvironmentInHelp(command, command.name() === 'proxy' ? PROXY_ENV_NAMES : {});
}

program.parseAsync(process.argv).catch((error: unknown) => {
  if (error instanceof CommanderError) {
    // Commander printed the message (and the help) already; --help and --version end with 0.
    process.exit(error.exitCode === 0 ? EXIT.ok : EXIT.usage);
  }
  if (error instanceof UsageError) {
    process.stderr.write(`cfgproxy: ${error.message}\n`);
    process.exit(EXIT.usage);
  }
  if (error instanceof CfgError) {
    process.stderr.write(`cfgproxy: ${error.code}: ${error.message}\n`);
    process.exit(error.code === 'CONNECTION_LOST' || error.code === 'AUTH_FAILED' ? EXIT.connection : EXIT.refused);
  }
  process.stderr.write(`cfgproxy: ${(error as Error).message}\n`);
  process.exit(EXIT.refused);
});
