/**
 * Does fan-out win from more than one event loop here? The part of a burst that grows with the
 * subscribers is the socket writes (one per subscriber per slice); matching and encoding happen
 * once. This bench isolates that part: the main thread encodes each change once (every frame the
 * same size, its commit time inside), and the subscribers' sockets are written either by the main
 * thread itself (`--threads 0`, the proxy today) or spread over N worker threads, each with its
 * own listener, that are handed every slice once, in shared memory (write-thread.ts). Subscriber
 * processes (subscriber-worker.ts, sink mode) connect round-robin and count frames.
 * Usage: npm run bench:threads -- [--subscribers 1000,5000] [--threads 0,1,2] [--deliveries 10000000] [--runs 3] [--clients 2]
 * Prints one JSON line per run on stdout and the medians on stderr.
 */
import { fork, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import { parseArgs } from 'node:util';
import { Worker } from 'node:worker_threads';
import { percentile, request } from './support.js';
import { writeSliceTo } from './write-slice.js';

const { values } = parseArgs({
  options: {
    subscribers: { type: 'string', default: '1000,5000' },
    threads: { type: 'string', default: '0,1,2' },
    deliveries: { type: 'string', default: '10000000' },
    runs: { type: 'string', default: '3' },
    clients: { type: 'string', default: '2' },
  },
});
const SUBSCRIBER = new URL('./subscriber-worker.js', import.meta.url).pathname;
const WRITER = new URL('./write-thread.js', import.meta.url).pathname;
/** About the size of cfgproxy's notification in bench:fanout. */
const FRAME_BYTES = 200;
/** Changes per slice, as the proxy's apply slices (MIN_CHANGES_PER_SLICE). */
const SLICE = 256;
/** Slices handed to a writer before it answered the first. */
const IN_FLIGHT = 2;

interface Writer {
  port: number;
  write(buffer: SharedArrayBuffer, length: number): Promise<void>;
  sockets(): Promise<number>;
  stop(): Promise<void>;
}

function frame(): string {
  const head = `{"at":${Date.now()},"pad":"`;
  return `${head}${'x'.repeat(FRAME_BYTES - head.length - 2)}"}`;
}

/** The main thread writing its own sockets: today's single event loop. */
async function inlineWriter(): Promise<Writer> {
  const sockets: net.Socket[] = [];
  const server = net.createServer((socket) => {
    socket.setNoDelay(true);
    socket.on('error', () => undefined);
    sockets.push(socket);
  });
  // A deep backlog: 5,000 subscribers connect at once, and a connection dropped from a full queue would stall the run.
  await new Promise<void>((resolve) => server.listen({ port: 0, host: '127.0.0.1', backlog: 8192 }, resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    write: (buffer, length) => writeSliceTo(sockets, Buffer.from(buffer, 0, length)),
    sockets: async () => sockets.length,
    stop: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

async function threadWriter(): Promise<Writer> {
  const worker = new Worker(WRITER);
  const port = await new Promise<number>((resolve) => worker.once('message', (m: { port: number }) => resolve(m.port)));
  const written: Array<() => void> = [];
  let counted: ((n: number) => void) | undefined;
  worker.on('message', (message: { type: string; sockets?: number }) => {
    if (message.type === 'written') written.shift()?.();
    if (message.type === 'count') counted?.(message.sockets!);
  });
  return {
    port,
    write: (buffer, length) =>
      new Promise<void>((resolve) => {
        written.push(resolve);
        worker.postMessage({ type: 'slice', buffer, length });
      }),
    sockets: () =>
      new Promise<number>((resolve) => {
        counted = resolve;
        worker.postMessage({ type: 'count' });
      }),
    stop: async () => {
      worker.postMessage({ type: 'stop' });
      await new Promise((resolve) => worker.once('exit', resolve));
    },
  };
}

async function run(subscribers: number, threads: number): Promise<Record<string, number>> {
  const writers = threads === 0 ? [await inlineWriter()] : await Promise.all(Array.from({ length: threads }, () => threadWriter()));
  const clientCount = Number(values.clients);
  const clients: ChildProcess[] = Array.from({ length: clientCount }, () => fork(SUBSCRIBER));
  const perClient = Math.ceil(subscribers / clientCount);
  await Promise.all(
    clients.map(
      (client, i) =>
        new Promise<void>((resolve, reject) => {
          client.on('message', (message: { type: string; message?: string }) => {
            if (message.type === 'ready') resolve();
            if (message.type === 'failed') reject(new Error(message.message));
          });
          client.send({ port: 0, ports: writers.map((w) => w.port), count: Math.min(perClient, subscribers - i * perClient), password: '', sampleEvery: Math.max(1, Math.round(subscribers / 20)), broker: 'sink', payloadBytes: FRAME_BYTES });
        }),
    ),
  );
  // Every subscriber accepted (a connect the client saw may not have reached accept() yet).
  for (const deadline = performance.now() + 30_000; ; ) {
    const accepted = (await Promise.all(writers.map((w) => w.sockets()))).reduce((a, b) => a + b, 0);
    if (accepted >= subscribers) break;
    if (performance.now() > deadline) throw new Error(`only ${accepted} of ${subscribers} subscribers were accepted in 30 s (a full accept queue: raise net.core.somaxconn)`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  const changes = Math.max(SLICE, Math.round(Number(values.deliveries) / subscribers / SLICE) * SLICE);
  const cpuBefore = process.cpuUsage();
  const started = performance.now();
  // Each writer has at most IN_FLIGHT slices it has not answered.
  const inFlight = writers.map(() => [] as Array<Promise<void>>);
  for (let sent = 0; sent < changes; sent += SLICE) {
    const bytes = Buffer.from(Array.from({ length: SLICE }, frame).join(''), 'latin1');
    const shared = new SharedArrayBuffer(bytes.length);
    bytes.copy(Buffer.from(shared));
    await Promise.all(
      writers.map(async (writer, i) => {
        if (inFlight[i].length >= IN_FLIGHT) await inFlight[i].shift();
        inFlight[i].push(writer.write(shared, bytes.length));
      }),
    );
  }
  await Promise.all(inFlight.flat());
  const expected = changes * subscribers;
  let received = 0;
  let latencies: number[] = [];
  for (let lastProgressAt = performance.now(); received < expected && performance.now() - lastProgressAt < 5000; ) {
    await new Promise((resolve) => setTimeout(resolve, 20));
    const reports = await Promise.all(clients.map((c) => request<{ frames: number; latencies: number[] }>(c, 'report')));
    const now = reports.reduce((sum, r) => sum + r.frames, 0);
    if (now > received) lastProgressAt = performance.now();
    received = now;
    latencies = reports.flatMap((r) => r.latencies);
  }
  const elapsed = performance.now() - started;
  const cpu = process.cpuUsage(cpuBefore);
  for (const client of clients) client.send({ type: 'stop' });
  await Promise.all(writers.map((w) => w.stop()));
  return {
    subscribers,
    threads,
    changes,
    delivered: received,
    expected,
    deliveriesPerSecond: Math.round((received / elapsed) * 1000),
    p50Ms: percentile(latencies, 50),
    p99Ms: percentile(latencies, 99),
    // This process: the main thread and its writer threads together.
    serverCpuPercent: Math.round(((cpu.user + cpu.system) / 1000 / elapsed) * 100),
  };
}

const medians: string[] = [];
for (const subscribers of values.subscribers!.split(',').map(Number)) {
  for (const threads of values.threads!.split(',').map(Number)) {
    const results: Array<Record<string, number>> = [];
    for (let i = 0; i < Number(values.runs); i += 1) {
      const result = await run(subscribers, threads);
      results.push(result);
      process.stdout.write(`${JSON.stringify({ bench: 'threads', ...result })}\n`);
    }
    const median = (key: string): number => results.map((r) => r[key]).sort((a, b) => a - b)[Math.floor(results.length / 2)];
    medians.push(`S=${subscribers} threads=${threads}: ${(median('deliveriesPerSecond') / 1e6).toFixed(2)} M deliveries/s, p99 ${median('p99Ms')} ms, server CPU ${median('serverCpuPercent')}% (median of ${results.length})`);
  }
}
process.stderr.write(`${medians.join('\n')}\n`);
