/**
 * Tail latency side by side: cfgproxy (a proxy, through bench:fanout) against Redis pub/sub and
 * NATS, in one run, with one subscriber harness (subscriber-worker.ts: raw sockets, every message
 * the same size, a latency sample from the commit or publish time every S/20 messages).
 * Needs redis-server and nats-server (Debian packages redis-server and nats-server).
 * Usage: npm run bench:brokers -- [--subscribers 1000,5000] [--rate 50] [--seconds 10]
 *        [--targets cfgproxy,redis,nats] [--workers 2]
 * Prints one JSON line per target and S on stdout, and a table of p99s and ratios on stderr.
 */
import { execFileSync, fork, spawn, type ChildProcess } from 'node:child_process';
import { connect as connectTcp, type Socket } from 'node:net';
import { parseArgs } from 'node:util';
import { cpuMs, freePort, percentile, request, rssMb } from './support.js';

const { values } = parseArgs({
  options: {
    subscribers: { type: 'string', default: '1000,5000' },
    rate: { type: 'string', default: '50' },
    seconds: { type: 'string', default: '10' },
    targets: { type: 'string', default: 'cfgproxy,redis,nats' },
    workers: { type: 'string', default: '2' },
  },
});
const WORKER = new URL('./subscriber-worker.js', import.meta.url).pathname;
const FANOUT = new URL('./fanout.js', import.meta.url).pathname;
/** About the size of cfgproxy's notification in bench:fanout (a Skill update with a 150-byte option). */
const PAYLOAD_BYTES = 200;

interface Outcome {
  target: string;
  subscribers: number;
  rate: number;
  deliveries: number;
  expectedDeliveries: number;
  p50Ms: number;
  p99Ms: number;
  serverCpuPercent: number;
  serverRssMb?: number;
}

function payload(): string {
  const head = `{"at":${Date.now()},"pad":"`;
  return `${head}${'x'.repeat(PAYLOAD_BYTES - head.length - 2)}"}`;
}

async function startBroker(kind: 'redis' | 'nats', port: number): Promise<ChildProcess> {
  const child =
    kind === 'redis'
      ? spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--maxclients', '20000', '--protected-mode', 'no'], { stdio: 'ignore' })
      : spawn('nats-server', ['-a', '127.0.0.1', '-p', String(port)], { stdio: 'ignore' });
  process.once('exit', () => child.kill('SIGKILL'));
  for (let i = 0; i < 100; i += 1) {
    const open = await new Promise<boolean>((resolve) => {
      const socket = connectTcp(port, '127.0.0.1', () => (socket.destroy(), resolve(true)));
      socket.on('error', () => resolve(false));
    });
    if (open) return child;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`${kind} did not start on port ${port}`);
}

async function runBroker(kind: 'redis' | 'nats', subscribers: number, rate: number, seconds: number): Promise<Outcome> {
  const port = await freePort();
  const server = await startBroker(kind, port);
  const workerCount = Number(values.workers);
  const workers = Array.from({ length: workerCount }, () => fork(WORKER));
  const perWorker = Math.ceil(subscribers / workerCount);
  await Promise.all(
    workers.map(
      (worker, i) =>
        new Promise<void>((resolve, reject) => {
          worker.on('message', (message: { type: string; message?: string }) => {
            if (message.type === 'ready') resolve();
            if (message.type === 'failed') reject(new Error(message.message));
          });
          worker.send({ port, count: Math.min(perWorker, subscribers - i * perWorker), password: '', sampleEvery: Math.max(1, Math.round(subscribers / 20)), broker: kind, payloadBytes: PAYLOAD_BYTES });
        }),
    ),
  );
  const publisher: Socket = await new Promise((resolve) => {
    const socket = connectTcp(port, '127.0.0.1', () => resolve(socket));
    socket.setNoDelay(true);
  });
  publisher.on('data', () => undefined); // Redis answers each PUBLISH with a count
  if (kind === 'nats') publisher.write('CONNECT {"verbose":false,"pedantic":false}\r\n');
  const cpuBefore = cpuMs(server.pid!);
  const started = performance.now();
  let published = 0;
  for (let next = started; next < started + seconds * 1000; next += 1000 / rate) {
    const wait = next - performance.now();
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    const body = payload();
    publisher.write(kind === 'redis' ? `*3\r\n$7\r\nPUBLISH\r\n$3\r\ncfg\r\n$${body.length}\r\n${body}\r\n` : `PUB cfg ${body.length}\r\n${body}\r\n`);
    published += 1;
  }
  const expected = published * subscribers;
  let received = 0;
  let latencies: number[] = [];
  for (let lastProgressAt = performance.now(); received < expected && performance.now() - lastProgressAt < 5000; ) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    const reports = await Promise.all(workers.map((w) => request<{ frames: number; latencies: number[] }>(w, 'report')));
    const now = reports.reduce((sum, r) => sum + r.frames, 0);
    if (now > received) lastProgressAt = performance.now();
    received = now;
    latencies = reports.flatMap((r) => r.latencies);
  }
  const elapsed = performance.now() - started;
  const outcome: Outcome = {
    target: kind,
    subscribers,
    rate,
    deliveries: received,
    expectedDeliveries: expected,
    p50Ms: percentile(latencies, 50),
    p99Ms: percentile(latencies, 99),
    serverCpuPercent: Math.round(((cpuMs(server.pid!) - cpuBefore) / elapsed) * 100),
    serverRssMb: Math.round(rssMb(server.pid!)),
  };
  publisher.destroy();
  for (const worker of workers) worker.send({ type: 'stop' });
  server.kill('SIGKILL');
  await new Promise((resolve) => server.once('exit', resolve));
  return outcome;
}

function runCfgproxy(subscribers: number, rate: number, seconds: number): Outcome {
  const out = execFileSync(process.execPath, [FANOUT, '--mode', 'proxy', '--subscribers', String(subscribers), '--rate', String(rate), '--seconds', String(seconds), '--workers', values.workers!], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  const result = JSON.parse(out.trim().split('\n').pop()!) as { deliveries: number; expectedDeliveries: number; p50Ms: number; p99Ms: number; proxyCpuPercent: number; proxyRssMb: number };
  return { target: 'cfgproxy', subscribers, rate, deliveries: result.deliveries, expectedDeliveries: result.expectedDeliveries, p50Ms: result.p50Ms, p99Ms: result.p99Ms, serverCpuPercent: result.proxyCpuPercent, serverRssMb: result.proxyRssMb };
}

const rate = Number(values.rate);
const seconds = Number(values.seconds);
const table: Outcome[] = [];
for (const subscribers of values.subscribers!.split(',').map(Number)) {
  for (const target of values.targets!.split(',')) {
    const outcome = target === 'cfgproxy' ? runCfgproxy(subscribers, rate, seconds) : await runBroker(target as 'redis' | 'nats', subscribers, rate, seconds);
    table.push(outcome);
    process.stdout.write(`${JSON.stringify({ bench: 'brokers', ...outcome })}\n`);
  }
}
for (const subscribers of new Set(table.map((o) => o.subscribers))) {
  const rows = table.filter((o) => o.subscribers === subscribers);
  const redis = rows.find((o) => o.target === 'redis');
  process.stderr.write(`S=${subscribers}, ${rate} changes/s for ${seconds} s:\n`);
  for (const o of rows) {
    const ratio = redis && o !== redis ? ` (${(o.p99Ms / redis.p99Ms).toFixed(2)}× Redis)` : '';
    process.stderr.write(`  ${o.target.padEnd(8)} p50 ${o.p50Ms} ms, p99 ${o.p99Ms} ms${ratio}; ${o.deliveries}/${o.expectedDeliveries} delivered; server CPU ${o.serverCpuPercent}%, RSS ${o.serverRssMb} MB\n`);
  }
}
