/**
 * Master figures: start-up with N objects loaded from the database, one client reading all of
 * them, and single-object writes per second (each its own transaction, acknowledged after its
 * commit), `runs` times. The master runs as its own process, as in production; the reader and the
 * writers are this process. `--backend postgres` runs it on a throwaway PostgreSQL cluster
 * (synchronous_commit on) instead of a SQLite file.
 * Usage: npm run bench:master [-- --backend sqlite|postgres --objects 100000 --write-seconds 5 --runs 5 --writers 2 --inflight 64]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { connect } from '../src/client/index.js';
import { startPostgres } from './pg-cluster.js';
import { seedMasterDatabase } from './seed.js';
import { cpuMs, PASSWORD, percentile, startServer } from './support.js';

const { values } = parseArgs({
  options: {
    backend: { type: 'string', default: 'sqlite' },
    objects: { type: 'string', default: '100000' },
    'write-seconds': { type: 'string', default: '5' },
    runs: { type: 'string', default: '1' },
    inflight: { type: 'string', default: '64' },
    writers: { type: 'string', default: '2' },
  },
});
const objectCount = Number(values.objects);
const writeSeconds = Number(values['write-seconds']);
const dir = mkdtempSync(join(tmpdir(), 'cfgproxy-bench-'));
const cluster = values.backend === 'postgres' ? await startPostgres() : undefined;
const dbPath = cluster ? cluster.url : join(dir, 'master.db');
await seedMasterDatabase(dbPath, objectCount, PASSWORD);

// BENCH_PROFILE_DIR=dir writes a V8 CPU profile of the master (stopped with SIGINT then).
const master = await startServer(['master', '--db', dbPath, '--port', '0'], 'master listening', { profile: true });
const startupMs = performance.now() - master.startedAt;
const loadMs = Number(master.lines.find((line) => line.msg === 'configuration loaded')?.loadMs ?? 0);
const port = master.port;
const client = await connect({ endpoints: `127.0.0.1:${port}`, user: 'admin', password: PASSWORD });
const readStarted = performance.now();
let read = 0;
for await (const _ of client.read('DN')) read += 1;
const readAllMs = performance.now() - readStarted;

// Writes: updates of DNs from `writers` connections with `inflight` requests each, for writeSeconds, `runs` times.
const writers = await Promise.all(Array.from({ length: Number(values.writers) }, () => connect({ endpoints: `127.0.0.1:${port}`, user: 'admin', password: PASSWORD })));
const runs: Array<{ writesPerSecond: number; masterCpuUsPerWrite: number; writerCpuUsPerWrite: number }> = [];
for (let run = 0; run < Number(values.runs); run += 1) {
  const masterCpuBefore = cpuMs(master.child.pid!);
  const writerCpuBefore = process.cpuUsage();
  const writeStarted = performance.now();
  const deadline = writeStarted + writeSeconds * 1000;
  let writes = 0;
  await Promise.all(
    writers.flatMap((writer, w) =>
      Array.from({ length: Number(values.inflight) }, async (_, lane) => {
        for (let i = 0; performance.now() < deadline; i += 1) {
          await writer.update('DN', 1000 + (((w * 1000 + lane) * 7919 + i + run) % objectCount), { options: { TServer: { priority: String((i + run) % 100) } } });
          writes += 1;
        }
      }),
    ),
  );
  // CPU per write is steadier than writes/s on a shared machine: it compares builds across runs.
  const writerCpu = process.cpuUsage(writerCpuBefore);
  runs.push({
    writesPerSecond: Math.round(writes / ((performance.now() - writeStarted) / 1000)),
    masterCpuUsPerWrite: Math.round(((cpuMs(master.child.pid!) - masterCpuBefore) * 1000) / writes),
    writerCpuUsPerWrite: Math.round((writerCpu.user + writerCpu.system) / writes),
  });
}
await Promise.all(writers.map((writer) => writer.close()));
const median = (pick: (r: (typeof runs)[number]) => number): number => percentile(runs.map(pick), 50);
await client.close();
const exited = new Promise((resolve) => master.child.once('exit', resolve));
master.child.kill(process.env.BENCH_PROFILE_DIR ? 'SIGINT' : 'SIGKILL');
await exited;
rmSync(dir, { recursive: true, force: true });
await cluster?.stop();

const result = {
  bench: 'master',
  backend: values.backend,
  objects: read,
  startupMs: Math.round(startupMs),
  loadMs,
  readAllMs: Math.round(readAllMs),
  writesPerSecond: median((r) => r.writesPerSecond),
  masterCpuUsPerWrite: median((r) => r.masterCpuUsPerWrite),
  writerCpuUsPerWrite: median((r) => r.writerCpuUsPerWrite),
  runs,
  node: process.version,
};
process.stdout.write(`${JSON.stringify(result)}\n`);
process.stderr.write(
  `master (${values.backend}) with ${read} DNs: start-up ${result.startupMs} ms (process start to listening; loading ${loadMs} ms), one client reads all in ${result.readAllMs} ms, ` +
    `${result.writesPerSecond} single-object writes/s (median of ${runs.length}; each its own transaction; ${result.masterCpuUsPerWrite} µs of master CPU each)\n`,
);
