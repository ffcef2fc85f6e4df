/** What the benches share: server child processes with their JSON logs, worker IPC, /proc readings. */
import { fork, spawn, type ChildProcess } from 'node:child_process';
import { connect } from '../src/client/index.js';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { connect as connectTcp, createServer } from 'node:net';
import { createInterface } from 'node:readline';

export const PASSWORD = 'bench';

/** Every server and balancer a bench started: killed when the bench exits, however it ends. */
const started = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of started) child.kill('SIGKILL');
});
function track(child: ChildProcess): ChildProcess {
  started.add(child);
  child.once('exit', () => started.delete(child));
  return child;
}
const CLI = new URL('../../bin/cfgproxy.js', import.meta.url).pathname;

export type LogLine = Record<string, unknown> & { msg?: string };

export interface ServerProcess {
  child: ChildProcess;
  lines: LogLine[];
  /** The first port a log line reported (the client port). */
  port: number;
  startedAt: number;
  /** Resolves with the first log line, past or future, that satisfies `test`. */
  waitFor(test: (line: LogLine) => boolean): Promise<LogLine>;
}

/**
 * Runs `cfgproxy <args>` with the bench passwords; resolves once a log line's msg is `ready`.
 * With `profile` and BENCH_PROFILE_DIR set, the process writes a V8 CPU profile (stop it with
 * SIGINT, not SIGKILL, for the profile to be written).
 */
export async function startServer(args: string[], ready: string, options: { profile?: boolean } = {}): Promise<ServerProcess> {
  const startedAt = performance.now();
  const profileDir = process.env.BENCH_PROFILE_DIR;
  const flags = options.profile && profileDir ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : [];
  const child = track(spawn(process.execPath, [...flags, CLI, ...args], {
    env: { ...process.env, CFGPROXY_ADMIN_PASSWORD: PASSWORD, CFGPROXY_PROXY_PASSWORD: PASSWORD, CFGPROXY_HA_SECRET: 'bench-secret' },
    stdio: ['ignore', 'ignore', 'pipe'],
  }));
  const lines: LogLine[] = [];
  const waiters: Array<{ test: (line: LogLine) => boolean; resolve(line: LogLine): void }> = [];
  createInterface({ input: child.stderr! }).on('line', (text) => {
    let line: LogLine;
    try {
      line = JSON.parse(text) as LogLine;
    } catch {
      return; // not a log line (a runtime warning)
    }
    lines.push(line);
    for (const waiter of waiters.filter((w) => w.test(line))) {
      waiters.splice(waiters.indexOf(waiter), 1);
      waiter.resolve(line);
    }
  });
  const waitFor = (test: (line: LogLine) => boolean): Promise<LogLine> => {
    const seen = lines.find(test);
    return seen ? Promise.resolve(seen) : new Promise((resolve) => waiters.push({ test, resolve }));
  };
  const exited = new Promise<never>((_, reject) => child.once('exit', (code) => reject(new Error(`cfgproxy ${args[0]} exited with ${code}`))));
  await Promise.race([waitFor((line) => line.msg === ready), exited]);
  exited.catch(() => undefined);
  const port = (lines.find((line) => typeof line.port === 'number')?.port as number | undefined) ?? 0;
  return { child, lines, port, startedAt, waitFor };
}

/** Sends `{type, …message}` to a worker process and resolves with its reply of the same type. */
export function request<T>(worker: ChildProcess, type: string, message: object = {}): Promise<T> {
  return new Promise((resolve) => {
    const onMessage = (reply: { type: string }): void => {
      if (reply.type !== type) return;
      worker.off('message', onMessage);
      resolve(reply as T);
    };
    worker.on('message', onMessage);
    worker.send({ type, ...message });
  });
}

/** CPU time (user + system) a process has used, in ms. */
export function cpuMs(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100; // clock ticks of 10 ms
}

export function rssMb(pid: number): number {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((l) => l.startsWith('VmRSS:'))!;
  return Number(line.split(/\s+/)[1]) / 1024;
}

export function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

/** A port that was free a moment ago, for a server that must come back on the same port. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/**
 * Forks `count` worker processes of `script` and gives them `clients` SDK clients to connect to
 * `endpoints` between them; resolves once every worker said it is ready.
 */
export async function startClientWorkers(script: string, count: number, clients: number, endpoints: string[]): Promise<ChildProcess[]> {
  const workers = Array.from({ length: count }, () => fork(script));
  const perWorker = Math.ceil(clients / count);
  await Promise.all(
    workers.map(
      (worker, i) =>
        new Promise<void>((resolve) => {
          worker.once('message', () => resolve());
          worker.send({ endpoints, count: Math.min(perWorker, clients - i * perWorker), password: PASSWORD });
        }),
    ),
  );
  return workers;
}

/** Creates Skills at the master at `rate` per second, on a schedule, until `stop()`; `committed` lists their seqs. */
export async function streamWrites(masterPort: number, rate: number, prefix: string): Promise<{ committed: number[]; stop(): Promise<void> }> {
  const writer = await connect({ endpoints: `127.0.0.1:${masterPort}`, user: 'admin', password: PASSWORD });
  const committed: number[] = [];
  let writing = true;
  const stream = (async () => {
    for (let i = 0, next = performance.now(); writing; i += 1, next += 1000 / rate) {
      const wait = next - performance.now();
      if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
      committed.push((await writer.create({ type: 'Skill', name: `${prefix}-${i}` })).seq);
    }
  })();
  return {
    committed,
    stop: async () => {
      writing = false;
      await stream;
      await writer.close();
    },
  };
}

/** A server's /metrics text from its admin port. */
export async function fetchMetrics(adminPort: number): Promise<string> {
  const response = await fetch(`http://127.0.0.1:${adminPort}/metrics`);
  return response.text();
}

/** The admin port a server logged ('admin HTTP listening'). */
export async function adminPortOf(server: ServerProcess): Promise<number> {
  const line = await server.waitFor((l) => typeof l.adminPort === 'number');
  return line.adminPort as number;
}

/**
 * p50 and p99 (ms) of a Prometheus histogram between two scrapes, as the upper bound of the
 * bucket each falls in (so "≤ 3 ms" reads as 3). `labels` picks a series, e.g. `stage="applied"`.
 */
export function histogramQuantiles(before: string, after: string, name: string, labels = ''): { count: number; p50Ms: number; p99Ms: number } {
  const buckets = (text: string): Map<string, number> => {
    const counts = new Map<string, number>();
    for (const line of text.split('\n')) {
      if (!line.startsWith(`${name}_bucket{`) || (labels && !line.includes(labels))) continue;
      const le = /le="([^"]+)"/.exec(line)?.[1];
      if (le !== undefined) counts.set(le, Number(line.slice(line.lastIndexOf(' ') + 1)));
    }
    return counts;
  };
  const a = buckets(before);
  const b = [...buckets(after)].map(([le, n]) => [le, n - (a.get(le) ?? 0)] as const);
  const total = b.find(([le]) => le === '+Inf')?.[1] ?? 0;
  const quantile = (q: number): number => {
    const bound = b.find(([, n]) => n >= q * total)?.[0];
    return bound === undefined || bound === '+Inf' ? Number.POSITIVE_INFINITY : Math.round(Number(bound) * 1000 * 10) / 10;
  };
  return { count: total, p50Ms: quantile(0.5), p99Ms: quantile(0.99) };
}

/** HAProxy holds two descriptors per client (its side and the proxy's): its hard file limit caps the pool. */
export function haproxyMaxConn(): number {
  const line = readFileSync('/proc/self/limits', 'utf8').split('\n').find((l) => l.startsWith('Max open files'));
  const hard = Number(line?.trim().split(/\s+/)[4]);
  return Number.isFinite(hard) ? Math.floor((hard - 100) / 2) : 10_000;
}

/**
 * HAProxy in TCP mode on 127.0.0.1:`port` in front of `members` (leastconn), as the README's
 * pool example; `extra` lines go to its defaults section (the settings bench:fanout compares).
 */
export async function startHaproxy(dir: string, port: number, members: number[], options: { maxconn: number; extra?: string[] }): Promise<ChildProcess> {
  const { maxconn } = options;
  const config = [
    // Without it HAProxy sizes maxconn from its file limit (two descriptors a connection):
    // 10,000 clients did not fit in the default here, and the rest waited unaccepted.
    'global',
    `    maxconn ${maxconn}`,
    'defaults',
    '    mode tcp',
    '    timeout connect 5s',
    '    timeout client 1h',
    '    timeout server 1h',
    ...(options.extra ?? []).map((line) => `    ${line}`),
    'frontend cfg',
    `    bind 127.0.0.1:${port}`,
    '    default_backend proxies',
    'backend proxies',
    '    balance leastconn',
    ...members.map((member, i) => `    server p${i + 1} 127.0.0.1:${member}`),
  ].join('\n');
  writeFileSync(join(dir, 'haproxy.cfg'), `${config}\n`);
  const child = track(spawn('haproxy', ['-db', '-f', join(dir, 'haproxy.cfg')], { stdio: 'ignore' }));
  // Ready when it accepts.
  for (let i = 0; i < 100; i += 1) {
    const ok = await new Promise<boolean>((resolve) => {
      const socket = connectTcp(port, '127.0.0.1', () => {
        socket.destroy();
        resolve(true);
      });
      socket.on('error', () => resolve(false));
    });
    if (ok) return child;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error('haproxy did not start');
}

