/**
 * A contact center's shape: N agent desktops through one proxy, each with its own account (100
 * tenants), each subscribed to its own person, place, DN and agent login and to its tenant's
 * skills: N×4 + 100 distinct audiences. A writer at the master changes random objects, first at a
 * steady rate (80% one desktop's objects, one delivery each; 20% a tenant's skills, N/100
 * deliveries each), then in a burst of changes to desktops' objects as fast as the master takes
 * them (a bulk import). Every expected delivery is counted.
 * Usage: npm run bench:desktops -- [--desktops 10000] [--rate 200] [--seconds 10] [--burst 20000]
 *        [--tenants 100] [--workers 2] [--ramp 10] [--runs 1]
 * Prints one JSON line per N on stdout and a summary on stderr: changes/s sustained with every
 * delivery made, commit-to-desktop p50/p99, the proxy's CPU and RSS, and its CPU per change in
 * the burst: the cost per change against the number of audiences, which should be flat.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { connect, type CfgClient } from '../src/client/index.js';
import { hashPassword } from '../src/model/passwords.js';
import { desktopObjects, skillDbid, tenantDbid, type DesktopLayout } from './desktop-layout.js';
import type { DesktopMessage } from './desktop-worker.js';
import { seedRaw } from './seed.js';
import { cpuMs, PASSWORD, percentile, rssMb, startServer } from './support.js';

const { values } = parseArgs({
  options: {
    desktops: { type: 'string', default: '10000' },
    tenants: { type: 'string', default: '100' },
    rate: { type: 'string', default: '200' },
    seconds: { type: 'string', default: '10' },
    burst: { type: 'string', default: '20000' },
    workers: { type: 'string', default: '2' },
    ramp: { type: 'string', default: '10' },
    runs: { type: 'string', default: '1' },
  },
});
const WORKER = new URL('./desktop-worker.js', import.meta.url).pathname;
const AGENT_PASSWORD = 'desktop-password';
const layout: DesktopLayout = { base: 100_000, tenants: Number(values.tenants), skillsPerTenant: 20 };

async function seed(path: string, desktops: number): Promise<void> {
  const hash = await hashPassword(AGENT_PASSWORD);
  await seedRaw(path, PASSWORD, layout.base, (put, credential) => {
    for (let t = 0; t < layout.tenants; t += 1) put({ type: 'Tenant', name: `tenant-${t}`, tenant: 0, props: {} });
    for (let t = 0; t < layout.tenants; t += 1) {
      for (let k = 0; k < layout.skillsPerTenant; k += 1) put({ type: 'Skill', name: `skill-${t}-${k}`, tenant: tenantDbid(layout, t), props: {} });
    }
    for (let d = 0; d < desktops; d += 1) {
      const own = desktopObjects(layout, d);
      const person = put({ type: 'Person', name: `agent-${d}`, tenant: own.tenant, props: { isAgent: true, grants: [{ on: 'tenant', target: own.tenant, access: 'read' }] } });
      credential(person, hash);
      put({ type: 'DN', name: `dn-${d}`, tenant: own.tenant, props: { number: `${100000 + d}`, switch: 6, dnType: 'Extension' } });
      put({ type: 'Place', name: `place-${d}`, tenant: own.tenant, props: { dns: [own.dn] } });
      put({ type: 'AgentLogin', name: `login-${d}`, tenant: own.tenant, props: { loginCode: `${700000 + d}`, switch: 6, person: own.person } });
    }
  });
}

const OWN_TYPES = ['Person', 'DN', 'Place', 'AgentLogin'] as const;

/** A random change and how many desktops it reaches: one desktop's object, or (with `skills`) a tenant's skill. */
function nextChange(desktops: number, skills: boolean, i: number): { type: (typeof OWN_TYPES)[number] | 'Skill'; dbid: number; deliveries: number } {
  if (skills && Math.random() < 0.2) {
    const t = Math.floor(Math.random() * layout.tenants);
    const inTenant = Math.floor(desktops / layout.tenants) + (t < desktops % layout.tenants ? 1 : 0);
    return { type: 'Skill', dbid: skillDbid(layout, t, i % layout.skillsPerTenant), deliveries: inTenant };
  }
  const own = desktopObjects(layout, Math.floor(Math.random() * desktops));
  const kind = OWN_TYPES[i % 4]!;
  return { type: kind, dbid: kind === 'Person' ? own.person : kind === 'DN' ? own.dn : kind === 'Place' ? own.place : own.agentLogin, deliveries: 1 };
}

/** Writes `count` changes, `rate` per second (0: as fast as the master takes them, 64 in flight); resolves with the deliveries they owe. */
async function write(writer: CfgClient, desktops: number, count: number, rate: number, skills: boolean): Promise<{ expected: number; firstAt: number; lastCommitAt: number }> {
  let expected = 0;
  const firstAt = Date.now();
  const inFlight = new Set<Promise<unknown>>();
  const started = performance.now();
  for (let i = 0; i < count; i += 1) {
    if (rate > 0) {
      const wait = started + (i * 1000) / rate - performance.now();
      if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    }
    const change = nextChange(desktops, skills, i);
    expected += change.deliveries;
    const done = writer.update(change.type, change.dbid, { annex: { bench: { n: String(i) } } });
    inFlight.add(done);
    void done.finally(() => inFlight.delete(done));
    if (inFlight.size >= 64) await Promise.race(inFlight);
  }
  await Promise.all(inFlight);
  return { expected, firstAt, lastCommitAt: Date.now() };
}

/** Collects the workers' counts until `expected` deliveries arrived (or 60 s passed). */
async function collect(workers: ChildProcess[], expected: number): Promise<{ deliveries: number; latenciesMs: number[]; lastAt: number }> {
  const total = { deliveries: 0, latenciesMs: [] as number[], lastAt: 0 };
  const deadline = performance.now() + 60_000;
  while (total.deliveries < expected && performance.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 250));
    const reports = await Promise.all(
      workers.map(
        (worker) =>
          new Promise<Extract<DesktopMessage, { type: 'phase' }>>((resolve) => {
            worker.once('message', resolve);
            worker.send({ type: 'phase-end' });
          }),
      ),
    );
    for (const report of reports) {
      total.deliveries += report.deliveries;
      for (const latency of report.latenciesMs) total.latenciesMs.push(latency);
      total.lastAt = Math.max(total.lastAt, report.lastAt);
    }
  }
  return total;
}

async function run(desktops: number) {
  const dir = mkdtempSync(join(tmpdir(), 'cfgproxy-desktops-'));
  await seed(join(dir, 'master.db'), desktops);
  const limits = ['--max-clients', String(desktops + 100), '--max-pending', '4000', '--admin-port', '0'];
  const master = await startServer(['master', '--db', join(dir, 'master.db'), '--port', '0', ...limits], 'master listening');
  const proxy = await startServer(['proxy', '--master', `127.0.0.1:${master.port}`, '--user', 'admin', '--port', '0', '--history-db', join(dir, 'proxy.db'), ...limits], 'configuration loaded', { profile: true });
  const workerCount = Number(values.workers);
  const workers = Array.from({ length: workerCount }, () => fork(WORKER));
  const perWorker = Math.ceil(desktops / workerCount);
  const ready = await Promise.all(
    workers.map(
      (worker, i) =>
        new Promise<Extract<DesktopMessage, { type: 'ready' }>>((resolve) => {
          worker.once('message', resolve);
          worker.send({ type: 'start', port: proxy.port, first: i * perWorker, count: Math.min(perWorker, desktops - i * perWorker), password: AGENT_PASSWORD, rampMs: Number(values.ramp) * 1000, ...layout });
        }),
    ),
  );
  const failed = ready.reduce((sum, r) => sum + r.failed, 0);
  if (failed > 0) throw new Error(`${failed} desktops could not log in: ${ready.find((r) => r.firstError)?.firstError}`);
  const writer = await connect({ endpoints: `127.0.0.1:${master.port}`, user: 'admin', password: PASSWORD, requestTimeoutMs: 120_000 });
  const proxyPid = proxy.child.pid!;

  // Steady: a mix at a fixed rate.
  const rate = Number(values.rate);
  const steadyCount = rate * Number(values.seconds);
  let cpu = cpuMs(proxyPid);
  let wall = performance.now();
  const steady = await write(writer, desktops, steadyCount, rate, true);
  const steadyGot = await collect(workers, steady.expected);
  const steadyProxyCpu = (cpuMs(proxyPid) - cpu) / (performance.now() - wall);

  // Burst: a bulk import of desktops' objects, as fast as the master commits.
  const burstCount = Number(values.burst);
  cpu = cpuMs(proxyPid);
  wall = performance.now();
  const burst = await write(writer, desktops, burstCount, 0, false);
  const burstGot = await collect(workers, burst.expected);
  const burstCpuMs = cpuMs(proxyPid) - cpu;
  const burstMs = burstGot.lastAt - burst.firstAt;
  const result = {
    desktops,
    audiences: desktops * 4 + layout.tenants,
    steady: {
      changesPerSecond: rate,
      changes: steadyCount,
      deliveriesExpected: steady.expected,
      deliveries: steadyGot.deliveries,
      p50Ms: percentile(steadyGot.latenciesMs, 50),
      p99Ms: percentile(steadyGot.latenciesMs, 99),
      proxyCpuPercent: Math.round(steadyProxyCpu * 100),
    },
    burst: {
      changes: burstCount,
      deliveriesExpected: burst.expected,
      deliveries: burstGot.deliveries,
      changesPerSecond: Math.round((burstCount / burstMs) * 1000),
      p50Ms: percentile(burstGot.latenciesMs, 50),
      p99Ms: percentile(burstGot.latenciesMs, 99),
      proxyCpuUsPerChange: Math.round((burstCpuMs * 1000) / burstCount),
      proxyCpuPercent: Math.round((burstCpuMs / (performance.now() - wall)) * 100),
    },
    proxyRssMb: Math.round(rssMb(proxyPid)),
  };
  await writer.close();
  for (const worker of workers) worker.send({ type: 'stop' });
  await Promise.all(workers.map((worker) => new Promise((resolve) => worker.once('exit', resolve))));
  // SIGINT, so that a profile asked for by BENCH_PROFILE_DIR is written.
  const proxyExited = new Promise((resolve) => proxy.child.once('exit', resolve));
  proxy.child.kill('SIGINT');
  await proxyExited;
  master.child.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
  return result;
}

for (const desktops of values.desktops.split(',').map(Number)) {
  for (let i = 0; i < Number(values.runs); i += 1) {
    const r = await run(desktops);
    process.stdout.write(`${JSON.stringify({ bench: 'desktops', ...r })}\n`);
    process.stderr.write(
      `N=${r.desktops} (${r.audiences} audiences): steady ${r.steady.changesPerSecond} changes/s, ${r.steady.deliveries}/${r.steady.deliveriesExpected} delivered, p50 ${r.steady.p50Ms} / p99 ${r.steady.p99Ms} ms, proxy ${r.steady.proxyCpuPercent}%; ` +
        `burst ${r.burst.changes} changes at ${r.burst.changesPerSecond}/s, ${r.burst.deliveries}/${r.burst.deliveriesExpected} delivered, p50 ${r.burst.p50Ms} / p99 ${r.burst.p99Ms} ms, proxy ${r.burst.proxyCpuUsPerChange} µs CPU a change (${r.burst.proxyCpuPercent}%); proxy RSS ${r.proxyRssMb} MB\n`,
    );
  }
}
