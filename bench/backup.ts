/**
 * Online backup: a master process with N objects takes writes at a steady rate (from this
 * process) while an administrator runs `cfgproxy backup` (another process). Reports the backup's
 * time and size and the write latencies before and during it (p50, p99, max: how long any write
 * waited).
 * Usage: npm run bench:backup -- [--objects 1000000] [--rate 1000]
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs, promisify } from 'node:util';
import { connect } from '../src/client/index.js';
import { seedMasterDatabase } from './seed.js';
import { PASSWORD, cpuMs, percentile, rssMb, startServer } from './support.js';

const { values } = parseArgs({ options: { objects: { type: 'string', default: '1000000' }, rate: { type: 'string', default: '1000' } } });
const objects = Number(values.objects);
const rate = Number(values.rate);
const dir = mkdtempSync(join(tmpdir(), 'cfgproxy-backup-bench-'));
process.stderr.write(`seeding a master database with ${objects.toLocaleString('en')} DNs…\n`);
await seedMasterDatabase(join(dir, 'master.db'), objects, PASSWORD);
const master = await startServer(['master', '--db', join(dir, 'master.db'), '--port', '0'], 'master listening');
const writer = await connect({ endpoints: `127.0.0.1:${master.port}`, user: 'admin', password: PASSWORD });
const CLI = new URL('../../bin/cfgproxy.js', import.meta.url).pathname;

// Writes on a schedule, each timed from its scheduled start, so a stall shows as waiting.
const latencies: Array<{ at: number; ms: number }> = [];
let writing = true;
const stream = (async () => {
  const inFlight = new Set<Promise<void>>();
  for (let i = 0, next = performance.now(); writing; i += 1, next += 1000 / rate) {
    const wait = next - performance.now();
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    const scheduled = next;
    const write = writer.update('DN', 1000 + (i % Math.max(1, objects)), { options: { TServer: { priority: String(i % 10), bench: String(i) } } }).then(() => {
      latencies.push({ at: scheduled, ms: performance.now() - scheduled });
      inFlight.delete(write);
    });
    inFlight.add(write);
    if (inFlight.size >= 256) await Promise.race(inFlight);
  }
  await Promise.all(inFlight);
})();

await new Promise((resolve) => setTimeout(resolve, 3000));
const file = join(dir, 'copy.db');
const cpuBefore = cpuMs(master.child.pid!);
const backupStarted = performance.now();
const { stdout } = await promisify(execFile)(process.execPath, [CLI, 'backup', file, '--json', '--server', `127.0.0.1:${master.port}`], {
  env: { ...process.env, CFGPROXY_USER: 'admin', CFGPROXY_PASSWORD: PASSWORD },
});
const backupEnded = performance.now();
const end = JSON.parse(stdout) as { bytes: number; seq: number };
const masterCpuMs = cpuMs(master.child.pid!) - cpuBefore;
const rss = rssMb(master.child.pid!);
await new Promise((resolve) => setTimeout(resolve, 1000));
writing = false;
await stream;

const before = latencies.filter((l) => l.at < backupStarted).map((l) => l.ms);
const during = latencies.filter((l) => l.at >= backupStarted && l.at <= backupEnded).map((l) => l.ms);
const round = (ms: number): number => Math.round(ms * 10) / 10;
const result = {
  bench: 'backup',
  objects,
  writesPerSecond: rate,
  backupMs: Math.round(backupEnded - backupStarted),
  backupBytes: end.bytes,
  seq: end.seq,
  masterCpuMsDuringBackup: Math.round(masterCpuMs),
  masterRssMb: Math.round(rss),
  writesBefore: before.length,
  writeP50MsBefore: round(percentile(before, 50)),
  writeP99MsBefore: round(percentile(before, 99)),
  writeMaxMsBefore: round(Math.max(...before)),
  writesDuring: during.length,
  writeP50MsDuring: round(percentile(during, 50)),
  writeP99MsDuring: round(percentile(during, 99)),
  writeMaxMsDuring: round(Math.max(...during)),
};
process.stdout.write(`${JSON.stringify(result)}\n`);
process.stderr.write(
  `backup of ${objects.toLocaleString('en')} objects (${(end.bytes / 1e6).toFixed(0)} MB) at seq ${end.seq} took ${result.backupMs} ms while ${rate} writes/s went on; ` +
    `writes before: p50 ${result.writeP50MsBefore} ms, p99 ${result.writeP99MsBefore} ms, max ${result.writeMaxMsBefore} ms; ` +
    `during: p50 ${result.writeP50MsDuring} ms, p99 ${result.writeP99MsDuring} ms, max ${result.writeMaxMsDuring} ms (${during.length} writes)\n`,
);
await writer.close();
master.child.kill('SIGKILL');
rmSync(dir, { recursive: true, force: true });
process.exit(0);
