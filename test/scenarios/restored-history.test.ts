import { execFile } from 'node:child_process';
import { copyFileSync, existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { postgresBinDir } from '../../bench/pg-cluster.js';
import { connect, type CfgClient } from '../../src/client/index.js';
import { Mirror, snapshotOf } from '../helpers/mirror.js';
import { requirePostgres, startPostgres, type TestPostgres } from '../helpers/postgres.js';
import { freePort, killed, startCli, startProxyProcess, type CliProcess } from '../helpers/processes.js';
import { scenarioHooks } from '../helpers/scenario.js';
import { createSkills } from '../helpers/writes.js';

const { toClose, tempDir } = scenarioHooks('restored-history');
const run = promisify(execFile);
const PASSWORD = 'restored-history';

async function client(port: number, extra: { reconnect?: boolean } = {}): Promise<CfgClient> {
  const c = await connect({ endpoints: `127.0.0.1:${port}`, user: 'admin', password: PASSWORD, standby: false, ...extra });
  toClose.push(() => c.close());
  return c;
}


function caughtUp(mirror: Mirror, seq: number): Promise<void> {
  return new Promise((resolve) => (mirror.client.lastSeq >= seq ? resolve() : mirror.client.on('notification', (n: { seq: number }) => n.seq >= seq && resolve())));
}

/**
 * The sequence, whatever the database: changes, a backup, more changes a proxy and its
 * client apply, the backup put back, new changes past the proxy's seq, then the proxy restarted on
 * its history log. The proxy and its client must end with exactly the master's data: nothing of the
 * lost changes, everything of the new ones, each client re-reading once instead of mixing.
 */
async function restoreScenario(database: {
  start(): Promise<{ port: number; process: CliProcess }>;
  backup(): Promise<void>;
  restore(): Promise<void>;
}): Promise<{ master: CliProcess; proxy: CliProcess }> {
  const dir = tempDir();
  let master = await database.start();
  let writer = await client(master.port, { reconnect: false });
  await createSkills(writer, 'early', 6);
  await writer.close();
  await database.backup();

  const proxyPort = await freePort();
  const proxyArgs = ['--port', String(proxyPort), '--master', `127.0.0.1:${master.port}`, '-u', 'admin', '-p', PASSWORD, '--history-db', join(dir, 'proxy.db'), '--master-addp', '1'];
  let proxy = await startProxyProcess(proxyArgs);
  const mirror = await Mirror.follow(await client(proxyPort));
  writer = await client(master.port, { reconnect: false });
  await caughtUp(mirror, await createSkills(writer, 'doomed', 3));
  await writer.close();

  await killed(proxy.child);
  await killed(master.process.child);
  await database.restore();
  master = await database.start();
  writer = await client(master.port, { reconnect: false });
  await createSkills(writer, 'after', 5); // the master's seq passes the proxy's again

  const reset = new Promise<void>((resolve) => mirror.client.once('reset', () => resolve()));
  proxy = await startProxyProcess(proxyArgs);
  await proxy.waitForLog((line) => line.event === 'PROXY-001');
  await reset;
  await mirror.settled();
  const truth = await snapshotOf(writer);
  expect(mirror.sorted()).toEqual(truth);
  expect(truth.filter(([, o]) => o.name.startsWith('doomed-'))).toEqual([]);
  expect(truth.filter(([, o]) => o.name.startsWith('after-'))).toHaveLength(5);
  expect(mirror.misfits).toEqual([]);
  expect(await snapshotOf(await client(proxyPort, { reconnect: false }))).toEqual(truth);
  return { master: master.process, proxy };
}

describe('histories, not names [PROTO-LINEAGE-7]', () => {
  for (const host of ['the same host (its commit record beside the file)', 'a new host (no commit record: the chain hashes alone)'] as const) {
    it(`restore - a SQLite file copied back by hand, on ${host}: the proxy and its client re-read instead of mixing two histories`, async () => {
      const dir = tempDir();
      const dbPath = join(dir, 'master.db');
      const port = await freePort();
      const files = ['', '-wal', '-shm'];
      const { master } = await restoreScenario({
        start: async () => ({ port, process: await startCli(['master', '--db', dbPath, '--port', String(port)], 'master listening', { CFGPROXY_ADMIN_PASSWORD: PASSWORD }) }),
        backup: async () => {
          for (const suffix of files) if (existsSync(dbPath + suffix)) copyFileSync(dbPath + suffix, join(dir, `saved.db${suffix}`));
        },
        restore: async () => {
          for (const suffix of files) {
            rmSync(dbPath + suffix, { force: true });
            if (existsSync(join(dir, `saved.db${suffix}`))) copyFileSync(join(dir, `saved.db${suffix}`), dbPath + suffix);
          }
          if (host.startsWith('a new host')) rmSync(`${dbPath}.head`, { force: true });
        },
      });
      // On its own host the master sees the copy for what it is, and begins a new generation.
      expect(master.lines.some((line) => line.event === 'MASTER-002')).toBe(host.startsWith('the same host'));
    }, 60_000);
  }

  describe.runIf(requirePostgres())('on PostgreSQL', () => {
    let cluster: TestPostgres | undefined;
    beforeAll(async () => {
      cluster = await startPostgres();
    }, 60_000);
    afterAll(async () => {
      await cluster?.stop();
    });

    it('restore - pg_dump, three more writes a proxy applies, pg_restore --clean, five new writes: the master begins a new generation and the proxy and its client re-read', async () => {
      const dir = tempDir();
      const { url } = await cluster!.freshDatabase();
      const port = await freePort();
      const bin = postgresBinDir()!;
      const dump = join(dir, 'master.dump');
      const { master } = await restoreScenario({
        start: async () => ({ port, process: await startCli(['master', '--db', url, '--port', String(port), '--advertise', `127.0.0.1:${port}`, '--lease', '1'], 'master listening', { ...cluster!.env, CFGPROXY_ADMIN_PASSWORD: PASSWORD }) }),
        backup: async () => void (await run(join(bin, 'pg_dump'), ['--format=custom', '--file', dump, url])),
        restore: async () => void (await run(join(bin, 'pg_restore'), ['--clean', '--if-exists', '--dbname', url, dump])),
      });
      expect(master.lines.some((line) => line.event === 'MASTER-002')).toBe(true);
    }, 90_000);
  });
});
