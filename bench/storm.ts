/**
 * The morning login storm: N agent desktops start within a few seconds, each with its own
 * account; each logs in, reads its tenant's DNs, agent logins and places (≈200 objects) and
 * subscribes to them. Against the master alone, one proxy, or a pool of two proxies behind
 * HAProxy (processes; the clients in worker processes).
 * Usage: npm run bench:storm -- [--clients 10000] [--target master,proxy,pool] [--ramp 5]
 *        [--workers 2] [--tenants 100] [--login proof|password] [--max-pending 1000 (the servers')]
 *        [--directory ldap [--ldap-connections 4]]: every account is an LDAP one (authMethod ldap), checked against a local
 *        slapd over LDAPS by the server the desktops reach; the desktops' link is plain TCP with
 *        --external-in-clear (TLS on 10,000 client links would measure the bench's two cores), so
 *        each login costs the proxy a bind and slapd a password check. A probe client (a local
 *        account) reads 200 objects every 50 ms meanwhile: the other clients' read latency.
 * Prints one JSON line per target on stdout and a summary on stderr: the time until the last
 * desktop was served, p50/p99 of the time to registered, to read and to served, retries, the CPU
 * of every process during the storm, and RSS.
 *
 * The accounts share one password and salt, so the bench's two cores derive the key once per
 * worker instead of playing 10,000 desktops' CPUs (each desktop derives it once on its own, ≈25
 * ms); every login still costs the server its full check, per account.
 */
import { execFileSync, fork, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { connect } from '../src/client/index.js';
import { startLdap, type TestLdap } from './directories.js';
import { hashPassword } from '../src/model/passwords.js';
import { seedRaw } from './seed.js';
import type { StormReport } from './storm-worker.js';
import { adminPortOf, cpuMs, fetchMetrics, freePort, haproxyMaxConn, PASSWORD, percentile, rssMb, startHaproxy, startServer, type ServerProcess } from './support.js';

const { values } = parseArgs({
  options: {
    clients: { type: 'string', default: '10000' },
    target: { type: 'string', default: 'master,proxy,pool' },
    ramp: { type: 'string', default: '5' },
    workers: { type: 'string', default: '2' },
    tenants: { type: 'string', default: '100' },
    login: { type: 'string', default: 'proof' },
    'max-pending': { type: 'string', default: '1000' },
    directory: { type: 'string', default: 'none' },
    'ldap-connections': { type: 'string', default: '4' },
  },
});
const LDAP = values.directory === 'ldap';
const WORKER = new URL('./storm-worker.js', import.meta.url).pathname;
const AGENT_PASSWORD = 'agent-password';
/** Tenants, then per tenant 70 DNs, 70 agent logins and 60 places, then the agents. */
const TENANT_BASE = 100_000;

/** A master database with the sample configuration, `tenants` tenants of 200 objects each and `agents` accounts. */
async function seed(path: string, agents: number, tenants: number): Promise<void> {
  const hash = await hashPassword(AGENT_PASSWORD);
  await seedRaw(path, PASSWORD, TENANT_BASE, (put, credential) => {
    for (let t = 0; t < tenants; t += 1) put({ type: 'Tenant', name: `tenant-${t}`, tenant: 0, props: {} });
    for (let t = 0; t < tenants; t += 1) {
      const tenant = TENANT_BASE + t;
      for (let i = 0; i < 70; i += 1) put({ type: 'DN', name: `${t}-${1000 + i}`, tenant, props: { number: `${1000 + i}`, switch: 6, dnType: 'Extension' } });
      for (let i = 0; i < 70; i += 1) put({ type: 'AgentLogin', name: `${t}-${7000 + i}`, tenant, props: { loginCode: `${7000 + i}`, switch: 6 } });
      for (let i = 0; i < 60; i += 1) put({ type: 'Place', name: `${t}-place-${i}`, tenant, props: { dns: [] } });
    }
    for (let i = 0; i < agents; i += 1) {
      const tenant = TENANT_BASE + (i % tenants);
      const directory = LDAP ? { authMethod: 'ldap' } : {};
      const person = put({ type: 'Person', name: `agent-${i}`, tenant, props: { isAgent: true, grants: [{ on: 'tenant', target: tenant, access: 'read' }], ...directory } });
      if (!LDAP) credential(person, hash);
    }
  });
}

async function run(target: string, clients: number) {
  const dir = mkdtempSync(join(tmpdir(), 'cfgproxy-storm-'));
  const tenants = Number(values.tenants);
  await seed(join(dir, 'master.db'), clients, tenants);
  let ldap: TestLdap | undefined;
  const directoryArgs: string[] = [];
  if (LDAP) {
    const certs = makeCerts(dir);
    ldap = await startLdap(Array.from({ length: clients }, (_, i) => ({ uid: `agent-${i}`, password: AGENT_PASSWORD })), { tls: certs });
    directoryArgs.push('--ldap-url', ldap.ldapsUrl!, '--ldap-ca', certs.ca, '--ldap-bind-dn', `uid={user},${ldap.peopleDn}`, '--ldap-connections', values['ldap-connections']!, '--external-in-clear');
  }
  const master = await startServer(['master', ...directoryArgs, '--db', join(dir, 'master.db'), '--port', '0', '--max-clients', String(clients + 100), '--max-pending', values['max-pending']!, '--admin-port', '0'], 'master listening');
  const proxies: ServerProcess[] = [];
  for (let i = 0; i < (target === 'pool' ? 2 : target === 'proxy' ? 1 : 0); i += 1) {
    proxies.push(
      await startServer(['proxy', ...directoryArgs, '--master', `127.0.0.1:${master.port}`, '--user', 'admin', '--port', '0', '--history-db', join(dir, `proxy${i}.db`), '--max-clients', String(clients + 100), '--max-pending', values['max-pending']!, '--admin-port', '0'], 'configuration loaded'),
    );
  }
  let haproxy: ChildProcess | undefined;
  let port = proxies[0]?.port ?? master.port;
  if (target === 'pool') {
    port = await freePort();
    haproxy = await startHaproxy(dir, port, proxies.map((proxy) => proxy.port), { maxconn: Math.min(clients + 1000, haproxyMaxConn()) });
  }
  const workerCount = Number(values.workers);
  const workers = Array.from({ length: workerCount }, () => fork(WORKER));
  const pids: Record<string, number> = { ...(ldap ? { slapd: ldap.pid } : {}), master: master.child.pid!, ...Object.fromEntries(proxies.map((proxy, i) => [`proxy${i + 1}`, proxy.child.pid!])), ...(haproxy ? { haproxy: haproxy.pid! } : {}) };
  const cpuBefore = Object.fromEntries(Object.entries(pids).map(([name, pid]) => [name, cpuMs(pid)]));
  const workersCpu = (): number => workers.reduce((sum, w) => sum + cpuMs(w.pid!), 0);
  const workersBefore = workersCpu();
  const started = performance.now();
  const probe = await startProbe(port);
  const perWorker = Math.ceil(clients / workerCount);
  const reports = await Promise.all(
    workers.map(
      (worker, i) =>
        new Promise<StormReport & { wallMs: number }>((resolve) => {
          worker.once('message', (report: StormReport & { wallMs: number }) => resolve(report));
          // A directory password is sent as such (the desktops' link is plain TCP here, allowed by --external-in-clear).
          worker.send({ port, first: i * perWorker, count: Math.min(perWorker, clients - i * perWorker), tenants, tenantBase: TENANT_BASE, password: AGENT_PASSWORD, rampMs: Number(values.ramp) * 1000, login: LDAP ? 'password' : values.login });
        }),
    ),
  );
  const stormMs = performance.now() - started;
  const probeMs = await probe.stop();
  // Why the servers closed connections during the storm (a refused client retried).
  const servers: Array<[string, ServerProcess]> = [['master', master], ...proxies.map((proxy, i): [string, ServerProcess] => [`proxy${i + 1}`, proxy])];
  const closes: Record<string, Record<string, number>> = {};
  for (const [name, server] of servers) {
    const text = await fetchMetrics(await adminPortOf(server));
    for (const match of text.matchAll(/^cfgproxy_connections_closed_total\{reason="([^"]+)"\} (\d+)/gm)) {
      if (Number(match[2]) > 0) (closes[name] ??= {})[match[1]] = Number(match[2]);
    }
  }
  const cpuPercent = Object.fromEntries(Object.entries(pids).map(([name, pid]) => [name, Math.round(((cpuMs(pid) - cpuBefore[name]) / stormMs) * 100)]));
  const all = (pick: (r: StormReport) => number[]): number[] => reports.flatMap(pick).map(Math.round);
  const result = {
    target,
    login: LDAP ? 'ldap' : values.login!,
    clients,
    rampSeconds: Number(values.ramp),
    served: reports.reduce((sum, r) => sum + r.served, 0),
    failed: reports.reduce((sum, r) => sum + r.failed, 0),
    retries: reports.reduce((sum, r) => sum + r.retries, 0),
    firstError: reports.find((r) => r.firstError)?.firstError,
    lastServedMs: Math.round(stormMs),
    objectsPerClient: Math.round(reports.reduce((sum, r) => sum + r.objectsRead, 0) / clients),
    registeredP50Ms: percentile(all((r) => r.registeredMs), 50),
    registeredP99Ms: percentile(all((r) => r.registeredMs), 99),
    readP50Ms: percentile(all((r) => r.readMs), 50),
    readP99Ms: percentile(all((r) => r.readMs), 99),
    servedP50Ms: percentile(all((r) => r.servedMs), 50),
    servedP99Ms: percentile(all((r) => r.servedMs), 99),
    closes,
    otherClientReadP50Ms: Math.round(percentile(probeMs, 50) * 10) / 10,
    otherClientReadP99Ms: Math.round(percentile(probeMs, 99) * 10) / 10,
    otherClientReads: probeMs.length,
    cpuPercent,
    workersCpuPercent: Math.round(((workersCpu() - workersBefore) / stormMs) * 100),
    rssMb: Object.fromEntries(Object.entries(pids).map(([name, pid]) => [name, Math.round(rssMb(pid))])),
  };
  for (const worker of workers) worker.send({ type: 'stop' });
  await Promise.all(workers.map((worker) => new Promise((resolve) => worker.once('exit', resolve))));
  haproxy?.kill('SIGKILL');
  for (const proxy of proxies) proxy.child.kill('SIGKILL');
  master.child.kill('SIGKILL');
  await ldap?.close();
  rmSync(dir, { recursive: true, force: true });
  return result;
}

/** A throwaway CA and a certificate for 127.0.0.1, for the directory's LDAPS. */
function makeCerts(dir: string): { cert: string; key: string; ca: string } {
  const path = (name: string): string => join(dir, name);
  const openssl = (...args: string[]): void => void execFileSync('openssl', args, { stdio: 'ignore' });
  openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', path('ca.key'), '-out', path('ca.pem'), '-days', '2', '-subj', '/CN=bench CA');
  writeFileSync(path('server.ext'), 'subjectAltName=IP:127.0.0.1\n');
  openssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', path('server.key'), '-out', path('server.csr'), '-subj', '/CN=bench directory');
  openssl('x509', '-req', '-in', path('server.csr'), '-CA', path('ca.pem'), '-CAkey', path('ca.key'), '-CAcreateserial', '-out', path('server.pem'), '-days', '2', '-extfile', path('server.ext'));
  return { cert: path('server.pem'), key: path('server.key'), ca: path('ca.pem') };
}

/** Another client of the same server, by a local account, reading 200 objects every 50 ms: what the storm costs everyone else. */
async function startProbe(port: number): Promise<{ stop(): Promise<number[]> }> {
  const client = await connect({ endpoints: `127.0.0.1:${port}`, user: 'admin', password: PASSWORD, reconnect: false, requestTimeoutMs: 120_000 });
  const latencies: number[] = [];
  let running = true;
  const loop = (async () => {
    while (running) {
      const started = performance.now();
      await client.readAll('DN', { tenant: TENANT_BASE });
      latencies.push(performance.now() - started);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  })();
  return {
    stop: async () => {
      running = false;
      await loop;
      await client.close();
      return latencies;
    },
  };
}

for (const target of values.target!.split(',')) {
  let clients = Number(values.clients);
  if (target === 'pool' && clients > haproxyMaxConn()) {
    // HAProxy cannot hold more here, and clients it leaves unaccepted would measure nothing.
    clients = haproxyMaxConn();
    process.stderr.write(`pool: ${values.clients} clients capped at ${clients}: HAProxy holds two descriptors per client and this machine's hard file limit (ulimit -Hn) allows no more\n`);
  }
  const result = await run(target, clients);
  process.stdout.write(`${JSON.stringify({ bench: 'storm', ...result })}\n`);
  process.stderr.write(
    `${target} (${result.login}) N=${result.clients} over ${result.rampSeconds} s: last served after ${(result.lastServedMs / 1000).toFixed(1)} s; ` +
      `${result.served} served, ${result.failed} failed, ${result.retries} retries` +
      (Object.keys(result.closes).length > 0 ? ` (closed by the servers: ${JSON.stringify(result.closes)})` : '') +
      '; ' +
      `registered p50 ${result.registeredP50Ms} / p99 ${result.registeredP99Ms} ms, read p50 ${result.readP50Ms} / p99 ${result.readP99Ms} ms, served p99 ${result.servedP99Ms} ms; ` +
      `another client's reads p50 ${result.otherClientReadP50Ms} / p99 ${result.otherClientReadP99Ms} ms (${result.otherClientReads}); ` +
      `CPU ${Object.entries(result.cpuPercent).map(([name, cpu]) => `${name} ${cpu}%`).join(', ')}, workers ${result.workersCpuPercent}%; ` +
      `RSS ${Object.entries(result.rssMb).map(([name, mb]) => `${name} ${mb} MB`).join(', ')}\n`,
  );
}
