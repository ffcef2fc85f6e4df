/**
 * Fan-out throughput and latency. A master child process (and, in proxy mode, a proxy child
 * process in front of it), S raw subscribers spread over worker processes, a writer at the
 * master committing Skill updates (payload ≈ 200 bytes): as fast as the master takes them
 * (burst) or at a steady rate.
 * Usage: npm run bench:fanout -- [--mode master|proxy|pool] [--subscribers 1000,5000] [--seconds 5]
 *        [--haproxy 'option splice-auto;…' (pool: lines for HAProxy's defaults section)]
 *        [--balancer haproxy | client (pool: the subscribers spread over the members themselves)]
 *        [--workers 2] [--rate 0 (burst) | changes per second] [--inflight 64 (burst writes in flight)]
 *        [--client raw (count raw bytes) | sdk (SDK clients: what an application sees)]
 * Prints one JSON line per S on stdout and a human summary on stderr.
 */
import { fork } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { connect } from '../src/client/index.js';
import { adminPortOf, cpuMs, fetchMetrics, freePort, histogramQuantiles, PASSWORD, percentile, request, rssMb, startHaproxy, startServer } from './support.js';

const { values } = parseArgs({
  options: {
    mode: { type: 'string', default: 'proxy' },
    subscribers: { type: 'string', default: '1000,5000' },
    seconds: { type: 'string', default: '5' },
    workers: { type: 'string', default: '2' },
    rate: { type: 'string', default: '0' },
    inflight: { type: 'string', default: '64' },
    client: { type: 'string', default: 'raw' },
    haproxy: { type: 'string', default: '' },
    balancer: { type: 'string', default: 'haproxy' },
  },
});
const WORKER = new URL('./subscriber-worker.js', import.meta.url).pathname;






async function run(mode: string, subscribers: number, seconds: number, workerCount: number, rate: number) {
  const dir = mkdtempSync(join(tmpdir(), 'cfgproxy-fanout-'));
  const master = await startServer(['master', '--db', join(dir, 'master.db'), '--port', '0', '--sample', '--admin-port', '0'], 'master listening', { profile: true });
  const startProxy = (name: string) =>
    startServer(['proxy', '--master', `127.0.0.1:${master.port}`, '--user', 'admin', '--port', '0', '--history-db', join(dir, `${name}.db`), '--admin-port', '0'], 'configuration loaded', { profile: true });
  const proxy = mode === 'proxy' || mode === 'pool' ? await startProxy('proxy') : undefined;
  // A pool: a second proxy, and HAProxy in front of both (--haproxy adds lines to its defaults).
  const second = mode === 'pool' ? await startProxy('proxy2') : undefined;
  const balancerPort = second ? await freePort() : undefined;
  // --balancer client: no HAProxy; the subscribers spread over the members themselves (the SDK's balance: 'random').
  const clientBalanced = second !== undefined && values.balancer === 'client';
  const haproxy =
    second && proxy && balancerPort && !clientBalanced
      ? await startHaproxy(dir, balancerPort, [proxy.port, second.port], { maxconn: subscribers + 100, extra: values.haproxy ? values.haproxy.split(';') : [] })
      : undefined;
  const server = proxy ?? master;
  const subscriberPort = balancerPort ?? server.port;
  // Every notification frame must have the same size (the workers count raw bytes): seqs stay
  // within 256..65535 (3-byte msgpack integers) and the payload has a fixed width.
  const writer = await connect({ endpoints: `127.0.0.1:${master.port}`, user: 'admin', password: PASSWORD });
  const skill = (await writer.readAll('Skill'))[0];
  const payload = 'x'.repeat(150);
  let changes = 0;
  const update = () => writer.update('Skill', skill.dbid, { options: { bench: { payload, n: String(changes).padStart(10, '0') } } });
  while ((await update()).seq < 256);
  if (proxy) await new Promise((resolve) => setTimeout(resolve, 200)); // let the proxy apply them
  const workers = Array.from({ length: workerCount }, () => fork(WORKER));
  // A subscriber closed by the server voids the run: deliveries would be counted against too many.
  const failures: string[] = [];
  const perWorker = Math.ceil(subscribers / workerCount);
  await Promise.all(
    workers.map((worker, i) => {
      const count = Math.min(perWorker, subscribers - i * perWorker);
      return new Promise<void>((resolve, reject) => {
        worker.on('message', (message: { type: string; message?: string }) => {
          if (message.type === 'ready') resolve();
          if (message.type === 'failed') {
            failures.push(message.message!);
            reject(new Error(message.message));
          }
        });
        worker.send({ port: subscriberPort, ...(clientBalanced ? { ports: [proxy!.port, second.port] } : {}), count, password: PASSWORD, sampleEvery: Math.max(1, Math.round(subscribers / 20)), sdk: values.client === 'sdk' });
      });
    }),
  );
  const pids = { master: master.child.pid!, proxy: proxy?.child.pid, proxy2: second?.child.pid, haproxy: haproxy?.pid };
  const workersCpu = (): number => workers.reduce((sum, w) => sum + cpuMs(w.pid!), 0);
  const cpuOf = (pid: number | undefined): number => (pid ? cpuMs(pid) : 0);
  const cpuBefore = { master: cpuMs(pids.master), proxy: cpuOf(pids.proxy), proxy2: cpuOf(pids.proxy2), haproxy: cpuOf(pids.haproxy), workers: workersCpu() };
  // Each stage's latency (from the commit) comes from the servers' histograms, scraped around the run.
  const admin = { master: await adminPortOf(master), proxy: proxy ? await adminPortOf(proxy) : undefined };
  const metricsBefore = { master: await fetchMetrics(admin.master), proxy: admin.proxy ? await fetchMetrics(admin.proxy) : '' };
  const started = performance.now();
  const deadline = started + seconds * 1000;
  if (rate > 0) {
    // Steady rate: one change every 1/rate s, on schedule (not after the previous reply).
    const inFlight: Array<Promise<unknown>> = [];
    for (let next = started; next < deadline; next += 1000 / rate) {
      const wait = next - performance.now();
      if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
      inFlight.push(update().then(() => (changes += 1)));
    }
    await Promise.all(inFlight);
  } else {
    await Promise.all(
      Array.from({ length: Number(values.inflight) }, async () => {
        while (performance.now() < deadline) {
          await update();
          changes += 1;
        }
      }),
    );
  }
  const writesDoneMs = performance.now() - started;
  const expected = changes * subscribers;
  let received = 0;
  let latencies: number[] = [];
  let misaligned = 0;
  let frameSizes = new Set<number>();
  // Wait for the backlog to drain; give up after 5 s without progress (frames were lost).
  for (let lastProgressAt = performance.now(); received < expected && performance.now() - lastProgressAt < 5000; ) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    const reports = await Promise.all(workers.map((w) => request<{ frames: number; frameSize: number; misaligned: number; latencies: number[] }>(w, 'report')));
    const now = reports.reduce((sum, r) => sum + r.frames, 0);
    misaligned = reports.reduce((sum, r) => sum + r.misaligned, 0);
    frameSizes = new Set(reports.map((r) => r.frameSize));
    if (now > received) lastProgressAt = performance.now();
    received = now;
    latencies = reports.flatMap((r) => r.latencies);
  }
  const lastReportMs = performance.now() - started;
  const metricsAfter = { master: await fetchMetrics(admin.master), proxy: admin.proxy ? await fetchMetrics(admin.proxy) : '' };
  const delivery = 'cfgproxy_commit_to_delivery_seconds';
  // Commit → written to the sockets of the master's own subscribers (in proxy mode: the proxy's link).
  const stages: Record<string, { count: number; p50Ms: number; p99Ms: number }> = { masterSend: histogramQuantiles(metricsBefore.master, metricsAfter.master, delivery) };
  if (proxy) {
    stages.proxyReceive = histogramQuantiles(metricsBefore.proxy, metricsAfter.proxy, 'cfgproxy_upstream_seconds', 'stage="received"');
    stages.proxyApply = histogramQuantiles(metricsBefore.proxy, metricsAfter.proxy, 'cfgproxy_upstream_seconds', 'stage="applied"');
    stages.proxySend = histogramQuantiles(metricsBefore.proxy, metricsAfter.proxy, delivery);
  }
  if (failures.length > 0) throw new Error(`${failures.length} subscribers were closed during the run (first: ${failures[0]})`);
  const cpu = {
    master: cpuMs(pids.master) - cpuBefore.master,
    proxy: cpuOf(pids.proxy) - cpuBefore.proxy,
    proxy2: cpuOf(pids.proxy2) - cpuBefore.proxy2,
    haproxy: cpuOf(pids.haproxy) - cpuBefore.haproxy,
    workers: workersCpu() - cpuBefore.workers,
  };
    const result = {
    mode,
    client: values.client!,
    subscribers,
    rate: rate > 0 ? rate : 'burst',
    changes,
    expectedDeliveries: expected,
    deliveries: received,
    frameBytes: [...frameSizes].join('/'),
    misalignedSamples: misaligned,
    // Lower bound: the last report came up to 100 ms after the last frame.
    deliveriesPerSecond: Math.round(received / (lastReportMs / 1000)),
    writesPerSecond: Math.round(changes / (writesDoneMs / 1000)),
    p50Ms: percentile(latencies, 50),
    p99Ms: percentile(latencies, 99),
    // p50/p99 (ms, bucket upper bounds) from the commit to each stage; the subscriber receipt is p50Ms/p99Ms.
    stages,
    masterCpuPercent: Math.round((cpu.master / lastReportMs) * 100),
    masterRssMb: Math.round(rssMb(pids.master)),
    subscriberWorkersCpuPercent: Math.round((cpu.workers / lastReportMs) * 100),
    ...(pids.proxy ? { proxyCpuPercent: Math.round((cpu.proxy / lastReportMs) * 100), proxyRssMb: Math.round(rssMb(pids.proxy)) } : {}),
    ...(pids.proxy2 ? { proxy2CpuPercent: Math.round((cpu.proxy2 / lastReportMs) * 100), balancer: values.balancer! } : {}),
    ...(pids.haproxy ? { haproxyCpuPercent: Math.round((cpu.haproxy / lastReportMs) * 100), haproxy: values.haproxy || 'defaults' } : {}),
  };
  await writer.close();
  for (const worker of workers) worker.send({ type: 'stop' });
  const signal = process.env.BENCH_PROFILE_DIR ? 'SIGINT' : 'SIGKILL';
  proxy?.child.kill(signal);
  second?.child.kill(signal);
  haproxy?.kill('SIGKILL');
  master.child.kill(signal);
  rmSync(dir, { recursive: true, force: true });
  return result;
}

const modes = values.mode!.split(',');
for (const mode of modes) {
  for (const s of values.subscribers!.split(',').map(Number)) {
    const result = await run(mode, s, Number(values.seconds), Number(values.workers), Number(values.rate));
    process.stdout.write(`${JSON.stringify({ bench: 'fanout', ...result })}\n`);
    process.stderr.write(
      `${mode} ${values.client} S=${s} ${result.rate === 'burst' ? 'burst' : `${result.rate} changes/s`}: ${result.deliveriesPerSecond.toLocaleString('en')} deliveries/s ` +
        `(${result.deliveries}/${result.expectedDeliveries}, ${result.writesPerSecond} writes/s), p50 ${result.p50Ms} ms, p99 ${result.p99Ms} ms, ` +
        `master CPU ${result.masterCpuPercent}% RSS ${result.masterRssMb} MB` +
        (result.proxyCpuPercent !== undefined ? `, proxy CPU ${result.proxyCpuPercent}% RSS ${result.proxyRssMb} MB` : '') +
        (result.proxy2CpuPercent !== undefined ? `, proxy2 CPU ${result.proxy2CpuPercent}%, balancer ${result.balancer}` : '') +
        (result.haproxyCpuPercent !== undefined ? ` (${result.haproxy}) CPU ${result.haproxyCpuPercent}%` : '') +
        `, subscriber workers CPU ${result.subscriberWorkersCpuPercent}%` +
        `\n  from the commit, p50/p99 ms: ${Object.entries(result.stages).map(([stage, q]) => `${stage} ${q.p50Ms}/${q.p99Ms}`).join(', ')}, received by subscribers ${result.p50Ms}/${result.p99Ms}` +
        '\n',
    );
  }
}
