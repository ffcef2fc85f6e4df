/**
 * Throwaway directories for the tests and the benches: an OpenLDAP slapd and a FreeRADIUS server,
 * each in a temp dir, run as an unprivileged user (nobody when started as root) on free ports.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, chownSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'ldapts';
import { freePort } from './support.js';

const asRoot = process.getuid?.() === 0;
const NOBODY = 65534;

/** Started as root, the daemon runs as nobody and owns its folder; otherwise as this user. */
function run(command: string, args: string[]): ChildProcess {
  const child = asRoot ? spawn('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', '--', command, ...args], { stdio: ['ignore', 'pipe', 'pipe'] }) : spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  // Read both streams, so a chatty daemon never blocks on a full pipe.
  child.stdout?.resume();
  child.stderr?.resume();
  return child;
}

function handOver(dir: string): void {
  if (!asRoot) return;
  chmodSync(dir, 0o755);
  const walk = (path: string): void => {
    chownSync(path, NOBODY, NOBODY);
    if (statSync(path).isDirectory()) for (const entry of readdirSync(path)) walk(join(path, entry));
  };
  walk(dir);
}

/** Stops a daemon and waits for it; SIGKILL after 5 s. */
async function stopDaemon(child: ChildProcess | undefined): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
  await exited;
  clearTimeout(timer);
}

/** A daemon in a folder of its own: stopped and started again on the same data (an outage), or closed and its folder removed. */
class Daemon {
  private child: ChildProcess | undefined;

  constructor(
    private readonly dir: string,
    /** Starts the daemon; resolves once it answers. */
    private readonly launch: () => Promise<ChildProcess>,
  ) {}

  get pid(): number {
    return this.child?.pid ?? 0;
  }

  async start(): Promise<void> {
    this.child = await this.launch();
  }

  stop(): Promise<void> {
    return stopDaemon(this.child);
  }

  async close(): Promise<void> {
    await this.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

export interface LdapUser {
  uid: string;
  password: string;
}

export interface TestLdap {
  /** ldap://127.0.0.1:port (StartTLS offered when started with a certificate). */
  ldapUrl: string;
  /** ldaps://127.0.0.1:port, when started with a certificate. */
  ldapsUrl?: string;
  port: number;
  ldapsPort?: number;
  suffix: string;
  /** Where the users are: uid=<uid>,<peopleDn>. */
  peopleDn: string;
  serviceDn: string;
  servicePassword: string;
  pid: number;
  /** Stops it; `start()` brings it back on the same ports and data (a directory outage). */
  stop(): Promise<void>;
  start(): Promise<void>;
  /** Stops it and removes its folder. */
  close(): Promise<void>;
}

/** {SSHA} as slapd stores it: SHA-1 of password and salt, then the salt. */
function ssha(password: string): string {
  const salt = randomBytes(8);
  return `{SSHA}${Buffer.concat([createHash('sha1').update(password).update(salt).digest(), salt]).toString('base64')}`;
}

/**
 * An OpenLDAP directory with `users` under ou=people,dc=example,dc=org and a service account that
 * may search them. With `tls` it serves ldaps:// as well and offers StartTLS on ldap://.
 */
export async function startLdap(users: readonly LdapUser[], options: { tls?: { cert: string; key: string } } = {}): Promise<TestLdap> {
  const dir = mkdtempSync(join(tmpdir(), 'cfgproxy-ldap-'));
  mkdirSync(join(dir, 'db'));
  const suffix = 'dc=example,dc=org';
  const peopleDn = `ou=people,${suffix}`;
  const serviceDn = `cn=service,${suffix}`;
  const servicePassword = randomBytes(9).toString('base64url');
  if (options.tls) {
    copyFileSync(options.tls.cert, join(dir, 'cert.pem'));
    copyFileSync(options.tls.key, join(dir, 'key.pem'));
  }
  writeFileSync(
    join(dir, 'slapd.conf'),
    [
      'include /etc/ldap/schema/core.schema',
      'include /etc/ldap/schema/cosine.schema',
      'include /etc/ldap/schema/inetorgperson.schema',
      `pidfile ${join(dir, 'slapd.pid')}`,
      'modulepath /usr/lib/ldap',
      'moduleload back_mdb',
      ...(options.tls ? [`TLSCertificateFile ${join(dir, 'cert.pem')}`, `TLSCertificateKeyFile ${join(dir, 'key.pem')}`] : []),
      'database mdb',
      `suffix "${suffix}"`,
      `rootdn "cn=admin,${suffix}"`,
      `rootpw ${randomBytes(9).toString('base64url')}`,
      `directory ${join(dir, 'db')}`,
      'maxsize 1073741824',
      'access to attrs=userPassword by anonymous auth by * none',
      `access to * by dn.exact="${serviceDn}" read by self read by * none`,
      '',
    ].join('\n'),
  );
  const entries = [
    `dn: ${suffix}\nobjectClass: dcObject\nobjectClass: organization\no: Example\ndc: example\n`,
    `dn: ${peopleDn}\nobjectClass: organizationalUnit\nou: people\n`,
    `dn: ${serviceDn}\nobjectClass: organizationalRole\nobjectClass: simpleSecurityObject\ncn: service\nuserPassword: ${ssha(servicePassword)}\n`,
    ...users.map((user) => `dn: uid=${user.uid},${peopleDn}\nobjectClass: inetOrgPerson\nuid: ${user.uid}\ncn: ${user.uid}\nsn: ${user.uid}\nuserPassword: ${ssha(user.password)}\n`),
  ];
  writeFileSync(join(dir, 'data.ldif'), entries.join('\n'));
  const loaded = spawnSync('slapadd', ['-q', '-f', join(dir, 'slapd.conf'), '-l', join(dir, 'data.ldif')], { encoding: 'utf8' });
  if (loaded.status !== 0) throw new Error(`slapadd failed: ${loaded.stderr}`);
  handOver(dir);
  const port = await freePort();
  const ldapsPort = options.tls ? await freePort() : undefined;
  const urls = [`ldap://127.0.0.1:${port}/`, ...(ldapsPort ? [`ldaps://127.0.0.1:${ldapsPort}/`] : [])];
  const daemon = new Daemon(dir, async () => {
    const child = run('slapd', ['-f', join(dir, 'slapd.conf'), '-h', urls.join(' '), '-d', '0']);
    let log = '';
    child.stderr?.on('data', (chunk: Buffer) => (log = (log + chunk.toString()).slice(-4000)));
    const exited = new Promise<never>((_, reject) => child.once('exit', (code) => reject(new Error(`slapd exited (${code}): ${log}`))));
    exited.catch(() => undefined);
    await Promise.race([untilBindable(`ldap://127.0.0.1:${port}`, serviceDn, servicePassword), exited]);
    return child;
  });
  await daemon.start();
  return Object.assign(daemon, {
    ldapUrl: `ldap://127.0.0.1:${port}`,
    ...(ldapsPort ? { ldapsUrl: `ldaps://127.0.0.1:${ldapsPort}`, ldapsPort } : {}),
    port,
    suffix,
    peopleDn,
    serviceDn,
    servicePassword,
  });
}

async function untilBindable(url: string, dn: string, password: string): Promise<void> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    const client = new Client({ url, connectTimeout: 500, timeout: 500 });
    try {
      await client.bind(dn, password);
      await client.unbind();
      return;
    } catch (error) {
      await client.unbind().catch(() => undefined);
      if (Date.now() > deadline) throw new Error(`slapd did not answer at ${url}: ${(error as Error).message}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
}

export interface TestRadius {
  host: string;
  port: number;
  secret: string;
  pid: number;
  stop(): Promise<void>;
  start(): Promise<void>;
  close(): Promise<void>;
}

/** FreeRADIUS answering PAP for `users` (name, password) from a shared secret; it requires Message-Authenticator. */
export async function startRadius(users: ReadonlyArray<{ name: string; password: string }>, options: { secret?: string } = {}): Promise<TestRadius> {
  const dir = mkdtempSync(join(tmpdir(), 'cfgproxy-radius-'));
  const port = await freePort();
  const secret = options.secret ?? randomBytes(12).toString('base64url');
  const quote = (value: string): string => `"${value.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
  writeFileSync(
    join(dir, 'radiusd.conf'),
    `prefix = /usr
exec_prefix = /usr
sysconfdir = /etc
localstatedir = /var
sbindir = /usr/sbin
logdir = ${dir}
raddbdir = ${dir}
radacctdir = ${dir}
name = freeradius
confdir = ${dir}
modconfdir = ${dir}
certdir = ${dir}
cadir = ${dir}
run_dir = ${dir}
db_dir = ${dir}
libdir = /usr/lib/freeradius
pidfile = ${dir}/radiusd.pid
max_request_time = 30
cleanup_delay = 5
max_requests = 16384
hostname_lookups = no
log {
  destination = stderr
}
security {
  allow_core_dumps = no
  max_attributes = 200
  reject_delay = 0
  status_server = no
}
client local {
  ipaddr = 127.0.0.1
  secret = ${quote(secret)}
  require_message_authenticator = yes
}
thread pool {
  start_servers = 2
  max_servers = 4
  min_spare_servers = 1
  max_spare_servers = 3
  max_requests_per_server = 0
}
modules {
  files {
    filename = ${dir}/users
  }
  pap {
    normalise = yes
  }
}
server default {
  listen {
    type = auth
    ipaddr = 127.0.0.1
    port = ${port}
  }
  authorize {
    files
    pap
  }
  authenticate {
    Auth-Type PAP {
      pap
    }
  }
}
`,
  );
  writeFileSync(join(dir, 'dictionary'), '$INCLUDE /usr/share/freeradius/dictionary\n');
  writeFileSync(join(dir, 'users'), users.map((user) => `${quote(user.name)} Cleartext-Password := ${quote(user.password)}\n`).join(''));
  handOver(dir);
  const daemon = new Daemon(dir, async () => {
    const child = run('freeradius', ['-f', '-l', 'stdout', '-d', dir]);
    let log = '';
    await new Promise<void>((resolve, reject) => {
      const onData = (chunk: Buffer): void => {
        log = (log + chunk.toString()).slice(-4000);
        if (log.includes('Ready to process requests')) resolve();
      };
      child.stderr?.on('data', onData);
      child.stdout?.on('data', onData);
      child.once('exit', (code) => reject(new Error(`freeradius exited (${code}): ${log}`)));
    });
    return child;
  });
  await daemon.start();
  return Object.assign(daemon, { host: '127.0.0.1', port, secret });
}

/** Whether slapd and slapadd (Debian: slapd) are installed. */
export function hasSlapd(): boolean {
  return existsSync('/usr/sbin/slapd') || spawnSync('sh', ['-c', 'command -v slapd']).status === 0;
}

/** Whether freeradius (Debian: freeradius) is installed. */
export function hasFreeradius(): boolean {
  return existsSync('/usr/sbin/freeradius') || spawnSync('sh', ['-c', 'command -v freeradius']).status === 0;
}
