/**
 * Fan-out straight from the master: S raw subscribers spread over worker processes, a writer
 * committing Skill updates (payload ≈ 200 bytes) as fast as the master takes them.
 * Usage: npm run bench:fanout [-- --subscribers 100,1000,5000 --seconds 5 --workers 2]
 * Prints one JSON line per S and a human summary on stderr.
 */
import { fork, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { connect } from '../src/client/index.js';

const { values } = parseArgs({ options: { subscribers: { type: 'string', default: '100,1000,5000' }, seconds: { type: 'string', default: '5' }, workers: { type: 'string', default: '2' } } });
const CLI = new URL('../../bin/cfgproxy.js', import.meta.url).pathname;
const WORKER = new URL('./subscriber-worker.js', import.meta.url).pathname;
const PASSWORD = 'bench';

function cpuMs(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100; // utime + stime, in clock ticks of 10 ms
}

function rssMb(pid: number): number {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((l) => l.startsWith('VmRSS:'))!;
  return Number(line.split(/\s+/)[1]) / 1024;
}

function percentile(sorted: number[], p: number): number {
  return sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

async function startMaster(dir: string): Promise<{ child: ChildProcess; port: number }> {
  const child = spawn(process.execPath, [CLI, 'master', '--db', join(dir, 'master.db'), '--port', '0', '--sample'], {
    env: { ...process.env, CFGPROXY_ADMIN_PASSWORD: PASSWORD },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const port = await new Promise<number>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`master exited with ${code}`)));
    createInterface({ input: child.stderr! }).on('line', (line) => {
      if (line.includes('"master listening"')) resolve((JSON.parse(line) as { port: number }).port);
    });
  });
  return { child, port };
}

function request<T>(worker: ChildProcess, type: string, message: object = {}): Promise<T> {
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

async function run(subscribers: number, seconds: number, workerCount: number): Promise<Record<string, number>> {
  const dir = mkdtempSync(join(tmpdir(), 'cfgproxy-fanout-'));
  const master = await startMaster(dir);
  const workers = Array.from({ length: workerCount }, () => fork(WORKER));
  const perWorker = Math.ceil(subscribers / workerCount);
  await Promise.all(
    workers.map((worker, i) => {
      const count = Math.min(perWorker, subscribers - i * perWorker);
      return new Promise<void>((resolve) => {
        worker.once('message', () => resolve());
        worker.send({ port: master.port, count, password: PASSWORD, sampleEvery: Math.max(1, Math.round(subscribers / 20)) });
      });
    }),
  );
  const writer = await connect({ endpoints: `127.0.0.1:${master.port}`, user: 'admin', password: PASSWORD });
  const skill = (await writer.readAll('Skill'))[0];
  const payload = 'x'.repeat(150);
  const cpuBefore = cpuMs(master.child.pid!);
  const started = performance.now();
  const deadline = started + seconds * 1000;
  let changes = 0;
  await Promise.all(
    Array.from({ length: 16 }, async () => {
      while (performance.now() < deadline) {
        await writer.update('Skill', skill.dbid, { options: { bench: { payload: `${payload}${changes % 10}`, n: String(changes) } } });
        changes += 1;
      }
    }),
  );
  const expected = changes * subscribers;
  let received = 0;
  let latencies: number[] = [];
  // Wait for the backlog to drain (or stop growing) before counting.
  for (let previous = -1; received < expected && received !== previous; ) {
    previous = received;
    await new Promise((resolve) => setTimeout(resolve, 500));
    const reports = await Promise.all(workers.map((w) => request<{ frames: number; latencies: number[] }>(w, 'report')));
    received = reports.reduce((sum, r) => sum + r.frames, 0);
    latencies = reports.flatMap((r) => r.latencies);
  }
  const elapsedMs = performance.now() - started;
  const cpu = cpuMs(master.child.pid!) - cpuBefore;
  const rss = rssMb(master.child.pid!);
  latencies.sort((a, b) => a - b);
  await writer.close();
  for (const worker of workers) worker.send({ type: 'stop' });
  master.child.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
  return {
    subscribers,
    changes,
    expectedDeliveries: expected,
    deliveries: received,
    deliveriesPerSecond: Math.round(received / (elapsedMs / 1000)),
    p50Ms: percentile(latencies, 50),
    p99Ms: percentile(latencies, 99),
    masterCpuPercent: Math.round((cpu / elapsedMs) * 100),
    masterRssMb: Math.round(rss),
  };
}

const seconds = Number(values.seconds);
const workerCount = Number(values.workers);
for (const s of values.subscribers!.split(',').map(Number)) {
  const result = await run(s, seconds, workerCount);
  process.stdout.write(`${JSON.stringify({ bench: 'fanout', mode: 'master', ...result })}\n`);
  process.stderr.write(
    `S=${s}: ${result.deliveriesPerSecond.toLocaleString()} deliveries/s (${result.deliveries}/${result.expectedDeliveries}), ` +
      `p50 ${result.p50Ms} ms, p99 ${result.p99Ms} ms, master CPU ${result.masterCpuPercent}%, RSS ${result.masterRssMb} MB\n`,
  );
}
