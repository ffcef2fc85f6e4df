/**
 * Switchover: C SDK clients subscribed through a warm-standby pair while the master streams
 * changes at a steady rate; the primary is killed with SIGKILL. Reports the time from the kill to
 * the backup's promotion (detection) and from the promotion to the last client restored
 * (restore), lost / duplicated notifications and re-reads, and the journal traffic on the HA link.
 * Usage: npm run bench:switchover -- [--clients 1000] [--rate 50] [--heartbeat 1] [--failures 1] [--workers 2]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { percentile, request, startClientWorkers, startServer, streamWrites, type ServerProcess } from './support.js';

const { values } = parseArgs({
  options: {
    clients: { type: 'string', default: '1000' },
    rate: { type: 'string', default: '50' },
    heartbeat: { type: 'string', default: '1' },
    failures: { type: 'string', default: '1' },
    workers: { type: 'string', default: '2' },
  },
});
const WORKER = new URL('./switchover-worker.js', import.meta.url).pathname;

function portLogged(server: ServerProcess, msg: string): number {
  return server.lines.find((line) => line.msg === msg)!.port as number;
}

const clientCount = Number(values.clients);
const rate = Number(values.rate);
const dir = mkdtempSync(join(tmpdir(), 'cfgproxy-switchover-'));
const master = await startServer(['master', '--db', join(dir, 'master.db'), '--port', '0', '--sample'], 'master listening');
const pairArgs = ['--master', `127.0.0.1:${master.port}`, '--user', 'admin', '--ha-addp', values.heartbeat!, '--heartbeat-interval', values.heartbeat!, '--failures-to-switch', values.failures!, '--master-addp', '5'];
const haPort = 30000 + Math.floor(Math.random() * 20000);
const primary = await startServer(['proxy', ...pairArgs, '--role', 'primary', '--port', '0', '--ha-port', String(haPort), '--history-db', join(dir, 'primary.db')], 'configuration loaded');
const backup = await startServer(['proxy', ...pairArgs, '--role', 'backup', '--port', '0', '--peer', `127.0.0.1:${haPort}`, '--history-db', join(dir, 'backup.db'), '--admin-port', '0', ...(process.env.BENCH_DEBUG ? ['--log-level', 'debug'] : [])], 'configuration loaded', { profile: true });
await backup.waitFor((line) => line.msg === 'HA link up');
const endpoints = [`127.0.0.1:${portLogged(primary, 'proxy listening (loading)')}`, `127.0.0.1:${portLogged(backup, 'proxy listening (loading)')}`];

const connectStarted = performance.now();
const workers = await startClientWorkers(WORKER, Number(values.workers), clientCount, endpoints);
process.stderr.write(`${clientCount} clients subscribed through the primary in ${Math.round(performance.now() - connectStarted)} ms\n`);

const { committed, stop: stopWriting } = await streamWrites(master.port, rate, 'switchover');
await new Promise((resolve) => setTimeout(resolve, 2000));
const journalSessions = await fetchHa(backup);

if (process.env.BENCH_DEBUG) {
  const adminPort = backup.lines.find((line) => line.msg === 'admin HTTP listening')?.adminPort;
  const metrics = await (await fetch(`http://127.0.0.1:${adminPort}/metrics`)).text();
  process.stderr.write(`before the kill: backup ${metrics.split('\n').filter((l) => /clients|standby/.test(l)).join(' ')}\n`);
}
const killedAt = Date.now();
primary.child.kill('SIGKILL');
const promotion = await backup.waitFor((line) => line.event === 'HA-004');
const promotedAt = promotion.time as number;
if (process.env.BENCH_DEBUG) {
  const adminPort = backup.lines.find((line) => line.msg === 'admin HTTP listening')?.adminPort;
  for (let i = 0; i < 8; i += 1) {
    const metrics = await (await fetch(`http://127.0.0.1:${adminPort}/metrics`)).text();
    process.stderr.write(`t+${Date.now() - killedAt} ms: committed ${committed.at(-1)} backup ${metrics.split('\n').filter((l) => /applied|sessions|clients|standby/.test(l)).join(' ')}\n`);
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}
// Let every client come back and the stream go on a little, then stop and compare.
let reports: Array<{ restoredAt: number[]; resets: number; notRestored: number; lost: number; duplicated: number; complete: number }> = [];
for (const deadline = Date.now() + 30_000; Date.now() < deadline; ) {
  await new Promise((resolve) => setTimeout(resolve, 500));
  reports = await Promise.all(workers.map((w) => request<(typeof reports)[number]>(w, 'report', { committed: [] })));
  const restored = reports.flatMap((r) => r.restoredAt).filter((t) => t >= killedAt).length;
  if (restored >= clientCount) break;
}
await new Promise((resolve) => setTimeout(resolve, 2000));
await stopWriting();
await new Promise((resolve) => setTimeout(resolve, 1000));
reports = await Promise.all(workers.map((w) => request<(typeof reports)[number]>(w, 'report', { committed })));
const restoreTimes = reports.flatMap((r) => r.restoredAt).filter((t) => t >= killedAt);
const lastRestoredAt = Math.max(...restoreTimes);
if (process.env.BENCH_DEBUG) {
  const held = backup.lines.filter((l) => l.msg === 'register held during a failover');
  const waits = backup.lines.filter((l) => l.msg === 'restore waits for this server to catch up');
  const relative = (l: Record<string, unknown>): number => (l.time as number) - killedAt;
  process.stderr.write(`held: ${held.length} (first at +${held.length ? relative(held[0]) : '-'} ms, last at +${held.length ? relative(held.at(-1)!) : '-'} ms, max ${Math.max(0, ...held.map((l) => l.heldMs as number))} ms); waits for seq: ${waits.length}\n`);
  const restoredOnServer = backup.lines.filter((l) => l.msg === 'session restored').map((l) => relative(l) - (promotedAt - killedAt)).sort((a, b) => a - b);
  process.stderr.write(`server-side restores after promotion (ms): p10=${percentile(restoredOnServer, 10)} p50=${percentile(restoredOnServer, 50)} p90=${percentile(restoredOnServer, 90)} p100=${percentile(restoredOnServer, 100)} (${restoredOnServer.length})\n`);
  for (const l of backup.lines.filter((l) => typeof l.event === 'string' && l.time as number >= killedAt)) process.stderr.write(`  +${relative(l)} ms ${String(l.event)} ${String(l.msg)}\n`);
  const lostAt = (reports as unknown as Array<{ disconnectedAt: number[] }>).flatMap((r) => r.disconnectedAt).filter((t) => t >= killedAt).map((t) => t - killedAt);
  process.stderr.write(`clients saw the kill after (ms): ${[10, 50, 90, 100].map((p) => `p${p}=${percentile(lostAt, p)}`).join(' ')} (${lostAt.length})\n`);
  const after = restoreTimes.map((t) => t - promotedAt).sort((a, b) => a - b);
  process.stderr.write(`restored after promotion, deciles (ms): ${[10, 20, 30, 40, 50, 60, 70, 80, 90, 95, 99, 100].map((p) => `p${p}=${percentile(after, p)}`).join(' ')}\n`);
}
const result = {
  bench: 'switchover',
  clients: clientCount,
  changesPerSecond: rate,
  heartbeatSeconds: Number(values.heartbeat),
  failuresToSwitch: Number(values.failures),
  detectionMs: promotedAt - killedAt,
  restoreMs: lastRestoredAt - promotedAt,
  restoreP50Ms: percentile(restoreTimes.map((t) => t - promotedAt), 50),
  killToLastRestoredMs: lastRestoredAt - killedAt,
  restored: restoreTimes.length,
  restoredWithoutReRead: restoreTimes.length - reports.reduce((s, r) => s + r.notRestored, 0),
  resets: reports.reduce((s, r) => s + r.resets, 0),
  lost: reports.reduce((s, r) => s + r.lost, 0),
  duplicated: reports.reduce((s, r) => s + r.duplicated, 0),
  clientsWithEveryCommittedSeq: reports.reduce((s, r) => s + r.complete, 0),
  committed: committed.length,
  journalBytesFor1000SessionsOpened: Math.round((journalSessions.bytesReceived / clientCount) * 1000),
  journalRecords: journalSessions.recordsReceived,
};
process.stdout.write(`${JSON.stringify(result)}\n`);
process.stderr.write(
  `SIGKILL of the primary with ${clientCount} clients: detection ${result.detectionMs} ms, restore ${result.restoreMs} ms after promotion (p50 ${result.restoreP50Ms} ms), ` +
    `${result.restored} restored (${result.restoredWithoutReRead} without re-read), ${result.resets} resets, ${result.lost} lost, ${result.duplicated} duplicated, ` +
    `${result.clientsWithEveryCommittedSeq}/${clientCount} clients got all ${committed.length} seqs; journal ${result.journalBytesFor1000SessionsOpened} bytes per 1000 sessions (opens, subscriptions, positions, changes over the first 2 s)\n`,
);
for (const worker of workers) worker.send({ type: 'stop' });
backup.child.kill(process.env.BENCH_PROFILE_DIR ? 'SIGINT' : 'SIGKILL');
await new Promise((resolve) => backup.child.once('exit', resolve));
master.child.kill('SIGKILL');
rmSync(dir, { recursive: true, force: true });
process.exit(0);

async function fetchHa(server: ServerProcess): Promise<{ bytesReceived: number; recordsReceived: number }> {
  const adminPort = server.lines.find((line) => line.msg === 'admin HTTP listening')?.adminPort;
  if (!adminPort) return { bytesReceived: 0, recordsReceived: 0 };
  const status = (await (await fetch(`http://127.0.0.1:${adminPort}/ha`)).json()) as { journal: { bytesReceived: number; recordsReceived: number } };
  return status.journal;
}

