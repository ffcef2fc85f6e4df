import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { freePort } from './support.js';

/** The directory of PostgreSQL's server programs: Debian keeps them off PATH, one folder per version. */
export function postgresBinDir(): string | undefined {
  const root = '/usr/lib/postgresql';
  if (existsSync(root)) {
    const versions = readdirSync(root).filter((v) => existsSync(join(root, v, 'bin', 'postgres'))).sort((a, b) => Number(b) - Number(a));
    if (versions[0]) return join(root, versions[0], 'bin');
  }
  return undefined;
}

/**
 * A throwaway PostgreSQL cluster in a temp dir, owned by an unprivileged user, on a free port: for
 * the tests and the benches (which measure against a real server, `synchronous_commit` on).
 */
export interface TestPostgres {
  port: number;
  /** With the password: for servers started in this process. */
  url: string;
  /** Without it; `env` carries PGPASSWORD, as the README tells operators to. */
  urlWithoutPassword: string;
  env: Record<string, string>;
  /** A new empty database in the cluster; its URLs as above. */
  freshDatabase(): Promise<{ url: string; urlWithoutPassword: string }>;
  /** Stops it abruptly (SIGKILL: a crash) or cleanly, and starts it again on the same port and data. */
  restart(how?: 'crash' | 'fast'): Promise<void>;
  stop(): Promise<void>;
}

const USER = 'cfgproxy';
const DATABASE = 'cfgproxy';

export async function startPostgres(): Promise<TestPostgres> {
  const bin = postgresBinDir();
  if (!bin) throw new Error('PostgreSQL is not installed (apt-get install postgresql)');
  const dir = mkdtempSync(join(tmpdir(), 'cfgproxy-pg-'));
  const data = join(dir, 'data');
  const password = randomBytes(12).toString('hex');
  writeFileSync(join(dir, 'pwfile'), `${password}\n`);
  // initdb refuses to run as root: as root, the cluster belongs to nobody.
  const asRoot = process.getuid?.() === 0;
  const run = (command: string, args: string[]): ChildProcess =>
    // setpriv execs the program itself, so signals reach postgres directly.
    asRoot
      ? spawn('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', '--', command, ...args], { stdio: ['ignore', 'ignore', 'pipe'] })
      : spawn(command, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  if (asRoot) {
    chmodSync(dir, 0o755);
    chownSync(dir, 65534, 65534);
    chownSync(join(dir, 'pwfile'), 65534, 65534);
  }
  await finished(run(join(bin, 'initdb'), ['-D', data, '-U', USER, '--auth=scram-sha-256', '--pwfile', join(dir, 'pwfile'), '-E', 'UTF8', '--no-sync', '--no-instructions']), 'initdb');
  const port = await freePort();
  let server: ChildProcess | undefined;
  const launch = async (): Promise<void> => {
    server = run(join(bin, 'postgres'), ['-D', data, '-p', String(port), '-k', dir, '-c', 'listen_addresses=127.0.0.1', '-c', 'max_connections=50', '-c', 'synchronous_commit=on']);
    let log = '';
    server.stderr?.on('data', (chunk: Buffer) => (log = (log + chunk.toString()).slice(-4000)));
    const exited = new Promise<never>((_, reject) => server!.once('exit', (code) => reject(new Error(`postgres exited (${code}): ${log}`))));
    exited.catch(() => undefined);
    await Promise.race([untilAccepting(port, password), exited]);
  };
  await launch();
  const admin = new pg.Client({ host: '127.0.0.1', port, user: USER, password, database: 'postgres' });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${DATABASE}`);
  await admin.end();
  const stopServer = async (signal: NodeJS.Signals): Promise<void> => {
    const child = server;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    // A crash takes the backends too, not only the postmaster.
    if (signal === 'SIGKILL') {
      const pids = killTree(child.pid!);
      await exited;
      await gone(pids);
      // As after a power cut: the lock file names a dead postmaster (here maybe an unreaped zombie,
      // which postgres would take for a live one).
      for (const lock of [join(data, 'postmaster.pid'), join(dir, `.s.PGSQL.${port}.lock`), join(dir, `.s.PGSQL.${port}`)]) rmSync(lock, { force: true });
    } else {
      child.kill(signal);
      await exited;
    }
  };
  let databases = 0;
  return {
    port,
    freshDatabase: async () => {
      const name = `${DATABASE}_${++databases}`;
      const client = new pg.Client({ host: '127.0.0.1', port, user: USER, password, database: 'postgres' });
      await client.connect();
      await client.query(`CREATE DATABASE ${name}`);
      await client.end();
      return { url: `postgres://${USER}:${password}@127.0.0.1:${port}/${name}`, urlWithoutPassword: `postgres://${USER}@127.0.0.1:${port}/${name}` };
    },
    url: `postgres://${USER}:${password}@127.0.0.1:${port}/${DATABASE}`,
    urlWithoutPassword: `postgres://${USER}@127.0.0.1:${port}/${DATABASE}`,
    env: { PGPASSWORD: password },
    restart: async (how = 'fast') => {
      await stopServer(how === 'crash' ? 'SIGKILL' : 'SIGINT');
      await launch();
    },
    stop: async () => {
      await stopServer('SIGINT');
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

function finished(child: ChildProcess, what: string): Promise<void> {
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  return new Promise((resolve, reject) => child.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`${what} failed (${code}): ${stderr}`)))));
}

/** Resolves once the server takes connections (it has no event to await from outside). */
async function untilAccepting(port: number, password: string): Promise<void> {
  const deadline = performance.now() + 30_000;
  for (;;) {
    const client = new pg.Client({ host: '127.0.0.1', port, user: USER, password, database: 'postgres', connectionTimeoutMillis: 1000 });
    try {
      await client.connect();
      await client.end();
      return;
    } catch (error) {
      await client.end().catch(() => undefined);
      if (performance.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 100)); // polling is the only way to learn it is up
    }
  }
}

/** SIGKILL to a process and all its descendants (the postmaster and its backends): a crash. Returns their pids. */
function killTree(pid: number): number[] {
  const killed = childrenOf(pid).flatMap(killTree);
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // already gone
  }
  return [...killed, pid];
}

/** Resolves once none of `pids` exists any more (a killed process has no event to await from here). */
async function gone(pids: number[]): Promise<void> {
  while (pids.some((pid) => existsSync(`/proc/${pid}`) && parentOf(String(pid)) !== undefined && !isZombie(pid))) await new Promise((resolve) => setTimeout(resolve, 20));
}

function isZombie(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z');
  } catch {
    return true;
  }
}

function childrenOf(pid: number): number[] {
  return readdirSync('/proc')
    .filter((entry) => /^\d+$/.test(entry) && parentOf(entry) === pid)
    .map(Number);
}

function parentOf(entry: string): number | undefined {
  try {
    // /proc/<pid>/stat: "pid (comm) state ppid ..."; comm may hold spaces, so read after the last ')'.
    const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  } catch {
    return undefined;
  }
}
