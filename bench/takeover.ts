/**
 * A master pair on PostgreSQL: SIGKILL of the active master while a client writes, and the time
 * until the standby has taken over and acknowledged its first write (the writer's view: kill →
 * first write accepted by the new active). Each run on a fresh database; medians over `runs`.
 * Usage: npm run bench:takeover [-- --runs 5 --lease 2]
 */
import { parseArgs } from 'node:util';
import { connect } from '../src/client/index.js';
import { startPostgres } from './pg-cluster.js';
import { freePort, PASSWORD, percentile, startServer, type ServerProcess } from './support.js';

const { values } = parseArgs({ options: { runs: { type: 'string', default: '5' }, lease: { type: 'string', default: '2' } } });
const cluster = await startPostgres();
const runs: Array<{ killToTakeoverLoggedMs: number; killToFirstWriteMs: number; failedWrites: number }> = [];

async function member(name: string, db: string): Promise<ServerProcess & { endpoint: string }> {
  const port = await freePort();
  const endpoint = `127.0.0.1:${port}`;
  const server = await startServer(['master', '--db', db, '--name', name, '--port', String(port), '--advertise', endpoint, '--lease', values.lease!, '--sample'], 'master listening');
  return { ...server, endpoint };
}

for (let run = 0; run < Number(values.runs); run += 1) {
  const { url } = await cluster.freshDatabase();
  const active = await member('m1', url);
  const standby = await member('m2', url);
  const writer = await connect({ endpoints: `${active.endpoint},${standby.endpoint}`, user: 'admin', password: PASSWORD });
  let killedAt = 0;
  let firstAfterKill = 0;
  let failed = 0;
  let running = true;
  const loop = (async () => {
    for (let i = 0; running; i += 1) {
      try {
        await writer.create({ type: 'Skill', name: `r${run}-${i}`, tenant: 1 });
        if (killedAt > 0 && firstAfterKill === 0 && writer.server?.serverName === 'm2') firstAfterKill = performance.now();
      } catch {
        failed += 1;
        await new Promise((resolve) => setTimeout(resolve, 5)); // the SDK reconnects meanwhile
      }
    }
  })();
  await new Promise((resolve) => setTimeout(resolve, 500)); // writes flowing to the active master
  killedAt = performance.now();
  const killedAtWall = Date.now();
  active.child.kill('SIGKILL');
  const took = await standby.waitFor((line) => line.event === 'MASTER-002');
  while (firstAfterKill === 0) await new Promise((resolve) => setTimeout(resolve, 5)); // the writer's loop notes it
  running = false;
  await loop;
  await writer.close();
  standby.child.kill('SIGKILL');
  runs.push({ killToTakeoverLoggedMs: (took.time as number) - killedAtWall, killToFirstWriteMs: Math.round(firstAfterKill - killedAt), failedWrites: failed });
}
await cluster.stop();

const result = {
  bench: 'takeover',
  leaseSeconds: Number(values.lease),
  killToFirstWriteMsMedian: percentile(runs.map((r) => r.killToFirstWriteMs), 50),
  killToTakeoverLoggedMsMedian: percentile(runs.map((r) => r.killToTakeoverLoggedMs), 50),
  runs,
};
process.stdout.write(`${JSON.stringify(result)}\n`);
process.stderr.write(
  `takeover on PostgreSQL (lease ${values.lease} s): SIGKILL of the active master → first write accepted by the new active, median ${result.killToFirstWriteMsMedian} ms over ${runs.length} runs ` +
    `(the standby logged the takeover ${result.killToTakeoverLoggedMsMedian} ms after the kill)\n`,
);
process.exit(0);
