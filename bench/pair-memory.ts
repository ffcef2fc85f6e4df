/**
 * Memory of a pair under large objects: a master and a warm-standby pair (processes); a writer
 * updates one object with a different value of about `--object-kib` KiB (the largest the master
 * allows by default is 1 MiB) `--updates` times. Reports the primary's and the backup's RSS before
 * and after: the history log's in-memory changes and the HA journal are bounded in bytes, so the
 * growth must level off instead of following the number of updates.
 * Usage: npm run bench:pair-memory -- [--updates 150] [--object-kib 1000]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { connect } from '../src/client/index.js';
import { PASSWORD, rssMb, startServer } from './support.js';

const { values } = parseArgs({ options: { updates: { type: 'string', default: '150' }, 'object-kib': { type: 'string', default: '1000' } } });
const updates = Number(values.updates);
const keys = Math.max(1, Math.floor((Number(values['object-kib']) * 1024) / 15_010));
const dir = mkdtempSync(join(tmpdir(), 'cfgproxy-pair-memory-'));
const master = await startServer(['master', '--db', join(dir, 'master.db'), '--port', '0', '--sample'], 'master listening');
const pairArgs = ['--master', `127.0.0.1:${master.port}`, '--user', 'admin', '--port', '0'];
const haPort = 30000 + Math.floor(Math.random() * 20000);
const primary = await startServer(['proxy', ...pairArgs, '--role', 'primary', '--ha-port', String(haPort), '--history-db', join(dir, 'primary.db')], 'configuration loaded');
const backup = await startServer(['proxy', ...pairArgs, '--role', 'backup', '--peer', `127.0.0.1:${haPort}`, '--history-db', join(dir, 'backup.db')], 'configuration loaded');
await backup.waitFor((line) => line.msg === 'HA link up');

const writer = await connect({ endpoints: `127.0.0.1:${master.port}`, user: 'admin', password: PASSWORD });
const { dbid } = await writer.create({ type: 'Skill', name: 'large', tenant: 1 });
const before = { primary: rssMb(primary.child.pid!), backup: rssMb(backup.child.pid!) };
let peak = { ...before };
for (let i = 0; i < updates; i += 1) {
  const section = Object.fromEntries(Array.from({ length: keys }, (_, k) => [`k${k}`, String.fromCharCode(97 + (i % 26)).repeat(15_000)]));
  await writer.update('Skill', dbid, { options: { data: section } });
  if (i % 10 === 9) peak = { primary: Math.max(peak.primary, rssMb(primary.child.pid!)), backup: Math.max(peak.backup, rssMb(backup.child.pid!)) };
}
await new Promise((resolve) => setTimeout(resolve, 2000)); // let both apply and the journal drain
const after = { primary: rssMb(primary.child.pid!), backup: rssMb(backup.child.pid!) };
const result = {
  bench: 'pair-memory',
  updates,
  objectKiB: Math.round((keys * 15_010) / 1024),
  primaryRssMbBefore: Math.round(before.primary),
  primaryRssMbPeak: Math.round(Math.max(peak.primary, after.primary)),
  primaryRssMbAfter: Math.round(after.primary),
  backupRssMbBefore: Math.round(before.backup),
  backupRssMbPeak: Math.round(Math.max(peak.backup, after.backup)),
  backupRssMbAfter: Math.round(after.backup),
};
process.stdout.write(`${JSON.stringify(result)}\n`);
process.stderr.write(
  `${updates} updates of a ${result.objectKiB} KiB object through a pair: primary RSS ${result.primaryRssMbBefore} → peak ${result.primaryRssMbPeak} → ${result.primaryRssMbAfter} MB, ` +
    `backup ${result.backupRssMbBefore} → peak ${result.backupRssMbPeak} → ${result.backupRssMbAfter} MB\n`,
);
await writer.close();
for (const server of [primary, backup, master]) server.child.kill('SIGKILL');
rmSync(dir, { recursive: true, force: true });
process.exit(0);
