/**
 * Master figures of issue 2: start-up with N objects loaded from SQLite, one client reading all
 * of them, and single-object writes per second (each its own transaction).
 * Usage: npm run bench:master [-- --objects 100000 --write-seconds 5]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { connect } from '../src/client/index.js';
import { MasterServer } from '../src/master/master-server.js';
import { seedMasterDatabase } from './seed.js';

const { values } = parseArgs({ options: { objects: { type: 'string', default: '100000' }, 'write-seconds': { type: 'string', default: '5' } } });
const objectCount = Number(values.objects);
const writeSeconds = Number(values['write-seconds']);
const dir = mkdtempSync(join(tmpdir(), 'cfgproxy-bench-'));
const dbPath = join(dir, 'master.db');
await seedMasterDatabase(dbPath, objectCount, 'bench');

const startedAt = performance.now();
const master = await MasterServer.start({ dbPath, port: 0, adminPassword: 'bench' });
const startupMs = performance.now() - startedAt;
const client = await connect({ endpoints: `127.0.0.1:${master.port}`, user: 'admin', password: 'bench' });
const readStarted = performance.now();
let read = 0;
for await (const _ of client.read('DN')) read += 1;
const readAllMs = performance.now() - readStarted;

// Writes: 64 updates in flight from one connection for writeSeconds.
const deadline = performance.now() + writeSeconds * 1000;
let writes = 0;
await Promise.all(
  Array.from({ length: 64 }, async (_, lane) => {
    for (let i = 0; performance.now() < deadline; i += 1) {
      await client.update('DN', 1000 + ((lane * 7919 + i) % objectCount), { options: { TServer: { priority: String(i % 100) } } });
      writes += 1;
    }
  }),
);
const writesPerSecond = writes / writeSeconds;
await client.close();
await master.stop();
rmSync(dir, { recursive: true, force: true });

const result = { bench: 'master', objects: read, startupMs: Math.round(startupMs), readAllMs: Math.round(readAllMs), writesPerSecond: Math.round(writesPerSecond), node: process.version };
process.stdout.write(`${JSON.stringify(result)}\n`);
process.stderr.write(
  `master with ${read} objects: start-up ${result.startupMs} ms, one client reads all in ${result.readAllMs} ms, ` +
    `${result.writesPerSecond} single-object writes/s (each its own transaction)\n`,
);
