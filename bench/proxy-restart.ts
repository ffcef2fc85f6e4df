/**
 * Proxy restart: C SDK clients subscribed through one proxy while the master streams changes; the
 * proxy is killed with SIGKILL and started again on the same port and history db. Reports the time
 * from the restart to the proxy serving (resumed from its history log) and to the last client
 * restored, how many were restored vs reset, and lost / duplicated notifications.
 * Usage: npm run bench:proxy-restart -- [--clients 1000] [--rate 50] [--objects 0] [--workers 2]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { seedMasterDatabase } from './seed.js';
import { freePort, PASSWORD, percentile, request, startClientWorkers, startServer, streamWrites } from './support.js';

const { values } = parseArgs({
  options: {
    clients: { type: 'string', default: '1000' },
    rate: { type: 'string', default: '50' },
    objects: { type: 'string', default: '0' },
    workers: { type: 'string', default: '2' },
  },
});
const WORKER = new URL('./switchover-worker.js', import.meta.url).pathname;
const clientCount = Number(values.clients);
const rate = Number(values.rate);

const dir = mkdtempSync(join(tmpdir(), 'cfgproxy-proxy-restart-'));
await seedMasterDatabase(join(dir, 'master.db'), Number(values.objects), PASSWORD);
const master = await startServer(['master', '--db', join(dir, 'master.db'), '--port', '0'], 'master listening');
const proxyPort = await freePort();
const proxyArgs = ['proxy', '--master', `127.0.0.1:${master.port}`, '--user', 'admin', '--port', String(proxyPort), '--history-db', join(dir, 'proxy.db'), '--master-addp', '5'];
let proxy = await startServer(proxyArgs, 'configuration loaded');

const workers = await startClientWorkers(WORKER, Number(values.workers), clientCount, [`127.0.0.1:${proxyPort}`]);

const { committed, stop: stopWriting } = await streamWrites(master.port, rate, 'restart');
await new Promise((resolve) => setTimeout(resolve, 2000));

proxy.child.kill('SIGKILL');
await new Promise((resolve) => proxy.child.once('exit', resolve));
await new Promise((resolve) => setTimeout(resolve, 500)); // down for a moment, as a supervisor restart would be
const restartedAt = Date.now();
proxy = await startServer(proxyArgs, 'proxy listening (loading)');
const serving = await proxy.waitFor((line) => line.event === 'PROXY-002' || line.msg === 'configuration loaded');
const servingAt = serving.time as number;

type Report = { restoredAt: number[]; resets: number; notRestored: number; lost: number; duplicated: number; complete: number };
let reports: Report[] = [];
for (const deadline = Date.now() + 60_000; Date.now() < deadline; ) {
  await new Promise((resolve) => setTimeout(resolve, 250));
  reports = await Promise.all(workers.map((w) => request<Report>(w, 'report', { committed: [] })));
  if (reports.flatMap((r) => r.restoredAt).filter((t) => t >= restartedAt).length >= clientCount) break;
}
await new Promise((resolve) => setTimeout(resolve, 2000));
await stopWriting();
await new Promise((resolve) => setTimeout(resolve, 1000));
reports = await Promise.all(workers.map((w) => request<Report>(w, 'report', { committed })));
const restoreTimes = reports.flatMap((r) => r.restoredAt).filter((t) => t >= restartedAt);
const notRestored = reports.reduce((s, r) => s + r.notRestored, 0);
const result = {
  bench: 'proxy-restart',
  clients: clientCount,
  objects: Number(values.objects),
  changesPerSecond: rate,
  resumedFromHistory: serving.event === 'PROXY-002',
  restartToServingMs: servingAt - restartedAt,
  restartToLastRestoredMs: Math.max(...restoreTimes) - restartedAt,
  restartToRestoredP50Ms: percentile(restoreTimes.map((t) => t - restartedAt), 50),
  reconnected: restoreTimes.length,
  restored: restoreTimes.length - notRestored,
  resets: reports.reduce((s, r) => s + r.resets, 0),
  lost: reports.reduce((s, r) => s + r.lost, 0),
  duplicated: reports.reduce((s, r) => s + r.duplicated, 0),
  clientsWithEveryCommittedSeq: reports.reduce((s, r) => s + r.complete, 0),
  committed: committed.length,
};
process.stdout.write(`${JSON.stringify(result)}\n`);
process.stderr.write(
  `proxy SIGKILLed with ${clientCount} clients and restarted on its history db: serving after ${result.restartToServingMs} ms (${result.resumedFromHistory ? 'resumed' : 'reloaded'}), ` +
    `last client restored after ${result.restartToLastRestoredMs} ms (p50 ${result.restartToRestoredP50Ms} ms); ${result.restored} restored, ${result.resets} resets, ` +
    `${result.lost} lost, ${result.duplicated} duplicated, ${result.clientsWithEveryCommittedSeq}/${clientCount} clients got all ${committed.length} seqs\n`,
);
for (const worker of workers) worker.send({ type: 'stop' });
proxy.child.kill('SIGKILL');
master.child.kill('SIGKILL');
rmSync(dir, { recursive: true, force: true });
process.exit(0);

