/**
 * Proxy memory and load figures: a master child process with N objects, a proxy child process
 * that loads them (time from its start to "configuration loaded", RSS after), then C idle
 * clients registered and subscribed at the proxy (RSS per client).
 * `--backend postgres` puts the master's database on a throwaway PostgreSQL cluster.
 * Usage: npm run bench:proxy-load -- [--objects 1000000] [--clients 10000] [--workers 2] [--backend sqlite|postgres]
 * Prints one JSON line on stdout and a human summary on stderr.
 */
import { fork } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { startPostgres } from './pg-cluster.js';
import { seedMasterDatabase } from './seed.js';
import { PASSWORD, rssMb, startServer } from './support.js';

const { values } = parseArgs({
  options: { objects: { type: 'string', default: '1000000' }, clients: { type: 'string', default: '10000' }, workers: { type: 'string', default: '2' }, backend: { type: 'string', default: 'sqlite' } },
});
const WORKER = new URL('./subscriber-worker.js', import.meta.url).pathname;



const objects = Number(values.objects);
const clients = Number(values.clients);
const dir = mkdtempSync(join(tmpdir(), 'cfgproxy-proxy-load-'));
process.stderr.write(`seeding a master database with ${objects.toLocaleString('en')} DNs…\n`);
const cluster = values.backend === 'postgres' ? await startPostgres() : undefined;
const db = cluster?.url ?? join(dir, 'master.db');
await seedMasterDatabase(db, objects, PASSWORD);
const master = await startServer(['master', '--db', db, '--port', '0'], 'master listening');
const masterStartupMs = Math.round(performance.now() - master.startedAt);
const proxy = await startServer(['proxy', '--master', `127.0.0.1:${master.port}`, '--user', 'admin', '--port', '0', '--history-db', join(dir, 'proxy.db')], 'configuration loaded');
const proxyLoadMs = Math.round(performance.now() - proxy.startedAt);
const loadedObjects = (proxy.lines.find((l) => l.msg === 'configuration loaded')!.objects as number);
const rssLoaded = rssMb(proxy.child.pid!);
const rssMasterLoaded = rssMb(master.child.pid!);

const proxyPort = proxy.port;

const workerCount = Number(values.workers);
const workers = Array.from({ length: workerCount }, () => fork(WORKER));
const perWorker = Math.ceil(clients / workerCount);
const connectStarted = performance.now();
await Promise.all(
  workers.map((worker, i) => {
    const count = Math.min(perWorker, clients - i * perWorker);
    return new Promise<void>((resolve) => {
      worker.once('message', () => resolve());
      worker.send({ port: proxyPort, count, password: PASSWORD, sampleEvery: 1000 });
    });
  }),
);
const connectMs = Math.round(performance.now() - connectStarted);
await new Promise((resolve) => setTimeout(resolve, 1000)); // let the proxy settle
const rssWithClients = rssMb(proxy.child.pid!);
for (const worker of workers) worker.send({ type: 'stop' });
proxy.child.kill('SIGKILL');
master.child.kill('SIGKILL');
rmSync(dir, { recursive: true, force: true });
await cluster?.stop();

const result = {
  bench: 'proxy-load',
  backend: values.backend,
  objects: loadedObjects,
  masterStartupMs,
  masterRssMb: Math.round(rssMasterLoaded),
  proxyLoadMs,
  proxyLoadLoggedMs: proxy.lines.find((l) => l.msg === 'configuration loaded')!.ms as number,
  proxyRssMb: Math.round(rssLoaded),
  proxyMbPer100kObjects: Math.round((rssLoaded / loadedObjects) * 100_000 * 10) / 10,
  clients,
  clientsConnectMs: connectMs,
  proxyRssWithClientsMb: Math.round(rssWithClients),
  proxyKbPerClient: Math.round(((rssWithClients - rssLoaded) * 1024 * 10) / clients) / 10,
};
process.stdout.write(`${JSON.stringify(result)}\n`);
process.stderr.write(
  `proxy loaded ${loadedObjects.toLocaleString('en')} objects in ${proxyLoadMs} ms (start to loaded), RSS ${result.proxyRssMb} MB ` +
    `(${result.proxyMbPer100kObjects} MB per 100k objects); master start-up ${masterStartupMs} ms, RSS ${result.masterRssMb} MB; ` +
    `${clients.toLocaleString('en')} idle subscribed clients connected in ${connectMs} ms: RSS ${result.proxyRssWithClientsMb} MB, ${result.proxyKbPerClient} KB per client\n`,
);
process.exit(0);
