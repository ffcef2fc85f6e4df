/**
 * Master figures of issue 2: start-up with N objects loaded from SQLite, one client reading all
 * of them, and single-object writes per second (each its own transaction). The master runs as
 * its own process, as in production; the reader and the writer are this process.
 * Usage: npm run bench:master [-- --objects 100000 --write-seconds 5 --writers 2 --inflight 64]
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { connect } from '../src/client/index.js';
import { seedMasterDatabase } from './seed.js';

const { values } = parseArgs({
  options: { objects: { type: 'string', default: '100000' }, 'write-seconds': { type: 'string', default: '5' }, inflight: { type: 'string', default: '64' }, writers: { type: 'string', default: '2' } },
});
const objectCount = Number(values.objects);
const writeSeconds = Number(values['write-seconds']);
const CLI = new URL('../../bin/cfgproxy.js', import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), 'cfgproxy-bench-'));
const dbPath = join(dir, 'master.db');
await seedMasterDatabase(dbPath, objectCount, 'bench');

const startedAt = performance.now();
// BENCH_PROFILE_DIR=dir writes a V8 CPU profile of the master (stopped with SIGINT then).
const profile = process.env.BENCH_PROFILE_DIR ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_PROFILE_DIR}`] : [];
const child = spawn(process.execPath, [...profile, CLI, 'master', '--db', dbPath, '--port', '0'], { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, CFGPROXY_ADMIN_PASSWORD: 'bench' } });
let loadMs = 0;
const port = await new Promise<number>((resolve, reject) => {
  child.once('exit', (code) => reject(new Error(`master exited with ${code}`)));
  createInterface({ input: child.stderr! }).on('line', (line) => {
    const log = JSON.parse(line) as { msg: string; port?: number; loadMs?: number };
    if (log.msg === 'configuration loaded') loadMs = log.loadMs ?? 0;
    if (log.msg === 'master listening') resolve(log.port!);
  });
});
const startupMs = performance.now() - startedAt;
const client = await connect({ endpoints: `127.0.0.1:${port}`, user: 'admin', password: 'bench' });
const readStarted = performance.now();
let read = 0;
for await (const _ of client.read('DN')) read += 1;
const readAllMs = performance.now() - readStarted;

// Writes: updates of DNs from `writers` connections with `inflight` requests each, for writeSeconds.
const writers = await Promise.all(Array.from({ length: Number(values.writers) }, () => connect({ endpoints: `127.0.0.1:${port}`, user: 'admin', password: 'bench' })));
const writeStarted = performance.now();
const deadline = writeStarted + writeSeconds * 1000;
let writes = 0;
await Promise.all(
  writers.flatMap((writer, w) =>
    Array.from({ length: Number(values.inflight) }, async (_, lane) => {
      for (let i = 0; performance.now() < deadline; i += 1) {
        await writer.update('DN', 1000 + (((w * 1000 + lane) * 7919 + i) % objectCount), { options: { TServer: { priority: String(i % 100) } } });
        writes += 1;
      }
    }),
  ),
);
await Promise.all(writers.map((writer) => writer.close()));
const writesPerSecond = writes / ((performance.now() - writeStarted) / 1000);
await client.close();
child.kill(process.env.BENCH_PROFILE_DIR ? 'SIGINT' : 'SIGKILL');
await new Promise((resolve) => child.once('exit', resolve));
rmSync(dir, { recursive: true, force: true });

const result = {
  bench: 'master',
  objects: read,
  startupMs: Math.round(startupMs),
  loadMs,
  readAllMs: Math.round(readAllMs),
  writesPerSecond: Math.round(writesPerSecond),
  node: process.version,
};
process.stdout.write(`${JSON.stringify(result)}\n`);
process.stderr.write(
  `master with ${read} DNs: start-up ${result.startupMs} ms (process start to listening; loading ${loadMs} ms), one client reads all in ${result.readAllMs} ms, ` +
    `${result.writesPerSecond} single-object writes/s (each its own transaction)\n`,
);
