import { DEFAULT_ADMIN_MAX_CONNECTIONS } from '../admin/admin-server.js';
import { DEFAULT_PROTECTED_MODE_TIMEOUT_MS, DEFAULT_READY_AFTER_MS, HA_DEFAULTS } from '../ha/ha-options.js';
import { MASTER_DEFAULTS } from '../master/master-server.js';
import { DEFAULT_MAX_OBJECT_BYTES } from '../service/limits.js';
import { PROXY_DEFAULTS } from '../proxy/proxy-server.js';
import { DEFAULT_SERVICE_LIMITS } from '../service/limits.js';
import { DEFAULT_GIVE_UP_AFTER } from '../util/give-up.js';
import type { OptionSpec } from './option-table.js';

/** Every server option, once: the table `master` and `proxy` are declared, read and checked from. */

/** The client port and its limits, for any server. */
function clientPortOptions(port: number, name: string): OptionSpec[] {
  return [
    { flag: '--host <host>', kind: 'text', help: 'address to listen on', default: '127.0.0.1' },
    { flag: '--port <port>', kind: 'port', help: 'client port', default: port },
    { flag: '--name <name>', kind: 'text', help: 'server name reported to clients', default: name },
    { flag: '--max-clients <n>', kind: 'count', min: 1, help: 'logged-in clients (registered or standing by) past which logins get TOO_MANY_CLIENTS', default: DEFAULT_SERVICE_LIMITS.maxClients },
    { flag: '--max-pending <n>', kind: 'count', min: 1, help: 'connections not logged in yet, counted apart; past it the oldest idle one is closed', default: DEFAULT_SERVICE_LIMITS.maxPendingConnections },
    { flag: '--max-frame-bytes <n>', kind: 'count', min: 1, help: 'largest frame accepted from a client', default: DEFAULT_SERVICE_LIMITS.maxFrameBytes },
    { flag: '--max-login-frame-bytes <n>', kind: 'count', min: 1024, help: 'largest frame accepted before a client has logged in', default: DEFAULT_SERVICE_LIMITS.unauthenticatedFrameBytes },
    { flag: '--max-outbound-bytes <n>', kind: 'count', help: 'cut off a client that lets this many bytes pile up unread', default: DEFAULT_SERVICE_LIMITS.maxOutboundBytes },
    { flag: '--drain-timeout <seconds>', kind: 'seconds', help: 'cut off a client whose socket has not drained for this long', default: DEFAULT_SERVICE_LIMITS.drainTimeoutMs / 1000 },
    { flag: '--refuse-password-logins', kind: 'switch', help: 'take logins by challenge-response proof only: refuse a password sent in the clear (clients older than the proof login)' },
    { flag: '--tls-cert <file>', kind: 'file', help: 'serve TLS with this certificate (PEM)' },
    { flag: '--tls-key <file>', kind: 'file', help: 'private key of --tls-cert (PEM)' },
    { flag: '--tls-ca <file>', kind: 'file', help: 'CA for client certificates' },
    { flag: '--tls-verify-client', kind: 'switch', help: 'require client certificates signed by --tls-ca' },
  ];
}

/** The UI port and the logins of external accounts (LDAP, RADIUS), for any server [PROTO-HELLO-7, PROTO-UI-1]. */
function accessOptions(): OptionSpec[] {
  return [
    { flag: '--ui-port <port>', kind: 'port', help: 'a second client port for UI tools only (client types --ui-client-types); the client port keeps serving everyone. Never the HA port' },
    { flag: '--ui-client-types <list>', kind: 'list', help: 'client types the UI port lets in, comma-separated', default: DEFAULT_SERVICE_LIMITS.uiClientTypes.join(',') },
    { flag: '--ui-tls-cert <file>', kind: 'file', help: "TLS certificate of the UI port (PEM; else the client port's --tls-cert)" },
    { flag: '--ui-tls-key <file>', kind: 'file', help: 'private key of --ui-tls-cert' },
    { flag: '--external-in-clear', kind: 'switch', help: 'take LDAP and RADIUS passwords on a plain TCP port too (they cross the network in the clear); else such logins need TLS (TLS_REQUIRED)' },
    { flag: '--external-cache <seconds>', kind: 'seconds', help: 'keep a successful LDAP or RADIUS check this long and answer a repeat login from it (0: ask every time; see the README for the risk)', default: 0 },
    { flag: '--ldap-url <urls>', kind: 'list', help: 'LDAP directories for accounts with authMethod ldap, in failover order: ldaps://host:636, or ldap://host:389 with --ldap-starttls' },
    { flag: '--ldap-starttls', kind: 'switch', help: 'upgrade ldap:// connections with StartTLS before any password is sent' },
    { flag: '--ldap-allow-plain', kind: 'switch', help: 'allow ldap:// without StartTLS: directory passwords cross the network in the clear' },
    { flag: '--ldap-ca <file>', kind: 'file', help: "CA that signed the directory's certificate (PEM; else the system's)" },
    { flag: '--ldap-bind-dn <template>', kind: 'text', help: "simple bind as this DN, {user} standing for the account's externalId (escaped): uid={user},ou=people,dc=example,dc=org" },
    { flag: '--ldap-search-base <dn>', kind: 'text', help: "search, then bind: where the service account looks for the user's entry" },
    { flag: '--ldap-search-filter <filter>', kind: 'text', help: 'search, then bind: the filter, {user} standing for the externalId (escaped)', default: '(uid={user})' },
    { flag: '--ldap-service-dn <dn>', kind: 'text', help: 'search, then bind: the service account (its password in CFGPROXY_LDAP_SERVICE_PASSWORD)' },
    { flag: '--ldap-timeout <seconds>', kind: 'seconds', min: 0.05, help: 'connecting to the directory, and each operation, must finish within this; else AUTH_UNAVAILABLE', default: 5 },
    { flag: '--ldap-connections <n>', kind: 'count', min: 1, help: 'connections kept to each directory (binds run one at a time on each)', default: 4 },
    { flag: '--radius-server <endpoints>', kind: 'list', help: 'RADIUS servers for accounts with authMethod radius, host:port in failover order (shared secret in CFGPROXY_RADIUS_SECRET)' },
    { flag: '--radius-timeout <seconds>', kind: 'seconds', min: 0.05, help: 'wait this long for a RADIUS answer before sending again', default: 2 },
    { flag: '--radius-retries <n>', kind: 'count', help: 'sends after the first to one RADIUS server before the next is asked', default: 2 },
  ];
}

function adminOptions(what: string, tokenHelp: string): OptionSpec[] {
  return [
    { flag: '--admin-port <port>', kind: 'port', help: `admin HTTP: ${what}` },
    { flag: '--admin-host <host>', kind: 'text', help: 'where the admin port listens (0.0.0.0 for balancers and `status --admin` from other hosts)', default: '127.0.0.1' },
    { flag: '--admin-token <token>', kind: 'text', help: tokenHelp },
    { flag: '--admin-max-connections <n>', kind: 'count', min: 1, help: 'admin HTTP connections held at once (at most an eighth of the descriptor limit); past it the oldest idle one is closed', default: DEFAULT_ADMIN_MAX_CONNECTIONS },
    { flag: '--admin-allowed-hosts <names>', kind: 'list', help: "further Host names the admin port answers to, comma-separated (a balancer's name for this host); others get 421" },
  ];
}

export const MASTER_OPTIONS: readonly OptionSpec[] = [
  ...clientPortOptions(MASTER_DEFAULTS.port, MASTER_DEFAULTS.serverName),
  ...accessOptions(),
  { flag: '--db <file|url>', kind: 'text', help: 'the configuration database: a SQLite file (created on first start), or postgres://user@host:port/db shared by a master pair (password and the rest from PGPASSWORD and the other PG* variables)', default: 'data/master.db' },
  { flag: '--advertise <host:port>', kind: 'text', help: 'where clients reach this master when not --host:--port; standby masters name it' },
  { flag: '--lease <seconds>', kind: 'seconds', min: 0.1, help: 'PostgreSQL: a standby takes over once the active master has not renewed its lease for this long (a crash: at once)', default: MASTER_DEFAULTS.leaseMs / 1000 },
  ...adminOptions('/health, /health/active (the active master), /ha, /metrics', 'bearer token for admin actions (better: CFGPROXY_ADMIN_TOKEN)'),
  { flag: '--sample', kind: 'switch', help: 'load the sample configuration into a new database' },
  { flag: '--history-max-changes <n>', kind: 'count', help: 'keep at most this many changes in the change log', default: MASTER_DEFAULTS.historyMaxChanges },
  { flag: '--history-max-age <seconds>', kind: 'seconds', help: 'drop changes older than this', default: MASTER_DEFAULTS.historyMaxAgeMs / 1000 },
  { flag: '--proxy-load-max <n>', kind: 'count', min: 1, help: 'proxies loading a snapshot at once; the others wait', default: DEFAULT_SERVICE_LIMITS.maxSnapshotLoads },
  { flag: '--max-object-bytes <n>', kind: 'count', min: 1024, help: 'refuse writes that leave an object larger than this, encoded (OBJECT_TOO_LARGE)', default: DEFAULT_MAX_OBJECT_BYTES },
  { flag: '--restore-from <file>', kind: 'file', help: 'start from a copy made by `cfgproxy backup` (copied to --db, which must not exist yet); a new generation begins' },
];

export const PROXY_OPTIONS: readonly OptionSpec[] = [
  ...clientPortOptions(PROXY_DEFAULTS.port, PROXY_DEFAULTS.serverName),
  { flag: '--cluster-name <name>', kind: 'text', help: "a pool member: the pool's name (the load balancer's Application object), told to clients as the server's name; --name stays the member's" },
  ...accessOptions(),
  { flag: '--master <endpoints>', kind: 'list', help: 'addresses of one master in failover order: host:port[,other-address:port] (tls://host:port for TLS); a master of another database is not a backup: the proxy reloads from it and clients re-read' },
  { flag: '--user <name>', short: '-u', kind: 'text', env: 'CFGPROXY_PROXY_USER', help: 'account the proxy registers with; needs isProxy or isAdmin' },
  { flag: '--password <password>', short: '-p', kind: 'text', env: 'CFGPROXY_PROXY_PASSWORD', help: 'its password (better: the environment variable)' },
  { flag: '--scope <list>', kind: 'text', help: 'load and serve only tenant:<dbid> and folder:<dbid> entries, comma-separated' },
  { flag: '--writable', kind: 'switch', help: 'forward client writes to the master (otherwise they are refused with READ_ONLY)' },
  { flag: '--max-object-bytes <n>', kind: 'count', min: 1024, help: 'writable: refuse writes larger than this before forwarding them (the master checks the object too)', default: DEFAULT_MAX_OBJECT_BYTES },
  { flag: '--history-db <file>', kind: 'text', help: 'SQLite history log of applied changes and client sessions', default: PROXY_DEFAULTS.historyDb },
  { flag: '--history-max-changes <n>', kind: 'count', help: 'keep at most this many changes in the history log', default: PROXY_DEFAULTS.historyMaxChanges },
  { flag: '--history-max-age <seconds>', kind: 'seconds', help: 'drop changes older than this', default: PROXY_DEFAULTS.historyMaxAgeMs / 1000 },
  { flag: '--session-expiration <seconds>', kind: 'seconds', help: 'keep records of closed client sessions this long', default: PROXY_DEFAULTS.sessionExpirationMs / 1000 },
  { flag: '--delay-reload <seconds>', kind: 'seconds', help: 'after the master history expired, reload after a random delay up to this', default: 0 },
  { flag: '--give-up-after <n>', kind: 'count', help: 'exit (code 1) after this many refusals in a row that retrying cannot cure: wrong credentials at the master, a wrong pair secret at the peer (0: never, retrying with backoff and saying why)', default: DEFAULT_GIVE_UP_AFTER },
  { flag: '--master-tls', kind: 'switch', help: 'connect to the masters with TLS' },
  { flag: '--master-tls-ca <file>', kind: 'file', help: 'CA to verify the masters with' },
  { flag: '--master-tls-cert <file>', kind: 'file', help: 'client certificate the proxy presents to its masters (for a master with --tls-verify-client)' },
  { flag: '--master-tls-key <file>', kind: 'file', help: 'private key of --master-tls-cert' },
  { flag: '--master-addp <seconds>', kind: 'seconds', help: 'ADDP timeout towards the masters, both directions (0 = off)', default: 10 },
  { flag: '--addp-trace <mode>', kind: 'choice', choices: ['off', 'local', 'remote', 'both'], help: 'log ADDP polls on the master link: off, local, remote or both', default: 'off' },
  ...adminOptions('/health, /health/active, /ha, /metrics, POST /ha/switchover', 'bearer token for admin actions (better: CFGPROXY_ADMIN_TOKEN); without one, actions only from this host'),
  { flag: '--advertise <host:port>', kind: 'text', help: 'where clients reach this proxy when not --host:--port (NAT, load balancer); told to the pair peer' },
  { flag: '--role <role>', kind: 'choice', choices: ['primary', 'backup'], help: 'member of a warm-standby pair: primary or backup' },
  { flag: '--pair-name <name>', kind: 'text', help: 'both members must name the same pair', default: HA_DEFAULTS.pairName },
  { flag: '--ha-secret <secret>', kind: 'text', help: 'shared secret of the pair (better: CFGPROXY_HA_SECRET)' },
  { flag: '--ha-port <port>', kind: 'port', help: 'primary: the HA sync port the backup connects to' },
  { flag: '--ha-tls', kind: 'switch', help: "TLS on the HA link: the HA port serves it, the backup dials with it, each side requires the other's certificate (the --ha-tls-* files, else the --tls-* ones)" },
  { flag: '--ha-tls-cert <file>', kind: 'file', help: "this member's certificate on the HA link, served on the HA port and presented when dialing the peer (apart from the client port's --tls-cert)" },
  { flag: '--ha-tls-key <file>', kind: 'file', help: 'private key of --ha-tls-cert' },
  { flag: '--ha-tls-ca <file>', kind: 'file', help: "CA that signed the peer's HA certificate" },
  { flag: '--peer <endpoint>', kind: 'text', help: "backup: the primary's HA port (its --ha-port, not its client port), host:port or tls://host:port" },
  { flag: '--ha-addp <seconds>', kind: 'seconds', help: 'ADDP timeout on the HA link', default: HA_DEFAULTS.addpTimeoutMs / 1000 },
  { flag: '--heartbeat-interval <seconds>', kind: 'seconds', min: 0.01, help: 'backup: probe the primary this often while the HA link is down', default: HA_DEFAULTS.heartbeatIntervalMs / 1000 },
  { flag: '--failures-to-switch <n>', kind: 'count', min: 1, help: 'backup: promote after this many failed probes in a row', default: HA_DEFAULTS.failuresToSwitch },
  { flag: '--accept-clients-in-backup-mode', kind: 'switch', help: 'backup: serve reads and subscriptions (never writes) instead of refusing clients' },
  { flag: '--auto-restore-primary', kind: 'switch', help: 'the configured primary takes the role back once healthy for --failures-to-switch heartbeats' },
  { flag: '--config-reload-delay-if-primary', kind: 'switch', help: 'protected mode: on history-expired the backup reloads first, the pair switches over, then the former primary reloads' },
  { flag: '--ready-after <seconds>', kind: 'seconds', help: 'a pair is ready for a switchover only after its link has been up this long (and the backup caught up)', default: DEFAULT_READY_AFTER_MS / 1000 },
  { flag: '--protected-mode-timeout <seconds>', kind: 'seconds', min: 1, help: 'protected mode: reload anyway when the backup has not reloaded and taken over by then', default: DEFAULT_PROTECTED_MODE_TIMEOUT_MS / 1000 },
  { flag: '--ha-chunk-size <n>', kind: 'count', min: 1, help: 'journal records per chunk on the HA link', default: HA_DEFAULTS.chunkSize },
  { flag: '--ha-chunk-timeout <ms>', kind: 'count', help: 'longest a journal record waits for its chunk', default: HA_DEFAULTS.chunkTimeoutMs },
  { flag: '--ha-max-sessions-sync-at-once <n>', kind: 'count', min: 1, help: 'sessions per second in a full sessions snapshot to the backup', default: HA_DEFAULTS.maxSessionsSyncAtOnce },
  { flag: '--ha-journal-records <n>', kind: 'count', min: 1, help: 'journal records the primary keeps for a backup that reconnects (older: a full sessions snapshot)', default: HA_DEFAULTS.journalCapacity },
];
