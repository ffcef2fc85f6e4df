import { copyFileSync, existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { connect, type CfgClient } from '../../src/client/index.js';
import { Mirror, snapshotOf } from '../helpers/mirror.js';
import { freePort, killed, startMasterProcess, startProxyProcess } from '../helpers/processes.js';
import { scenarioHooks } from '../helpers/scenario.js';
import { createSkills } from '../helpers/writes.js';

const { toClose, tempDir } = scenarioHooks('lineage');

const PASSWORD = 'lineage-scenario';



async function client(port: number, extra: { reconnect?: boolean } = {}): Promise<CfgClient> {
  const c = await connect({ endpoints: `127.0.0.1:${port}`, user: 'admin', password: PASSWORD, standby: false, ...extra });
  toClose.push(() => c.close());
  return c;
}


/** Resolves after the mirror's next reset and the re-read it triggers. */
function nextReset(mirror: Mirror): Promise<void> {
  return new Promise((resolve) => mirror.client.once('reset', () => void mirror.settled().then(resolve)));
}

describe('one seq space: a proxy never merges two databases', () => {
  for (const [relation, aCount, bCount] of [['behind', 12, 3], ['ahead of', 3, 40]] as const) {
    it(`lineage - --master A,B with B an independent master ${relation} A: after SIGKILL of A the proxy stays up, its clients reset once and end equal to B, and writes land on the object meant`, async () => {
      const dir = tempDir();
      const a = await startMasterProcess(join(dir, 'a.db'), PASSWORD);
      const b = await startMasterProcess(join(dir, 'b.db'), PASSWORD);
      const writerA = await client(a.port, { reconnect: false });
      const writerB = await client(b.port, { reconnect: false });
      await createSkills(writerA, 'a-only', aCount);
      await createSkills(writerB, 'b-only', bCount);
      await writerA.close();

      const proxy = await startProxyProcess([
        '--master', `127.0.0.1:${a.port},127.0.0.1:${b.port}`, '-u', 'admin', '-p', PASSWORD,
        '--history-db', join(dir, 'proxy.db'), '--writable', '--master-addp', '1',
      ]);
      const mirrors = [await Mirror.follow(await client(proxy.port)), await Mirror.follow(await client(proxy.port))];
      expect(mirrors[0].sorted()).not.toEqual(await snapshotOf(writerB));

      const resets = mirrors.map(nextReset);
      await killed(a.child);
      await proxy.waitForLog((line) => line.event === 'PROXY-001');
      await Promise.all(resets);

      const truth = await snapshotOf(writerB);
      for (const mirror of mirrors) {
        expect(mirror.sorted()).toEqual(truth);
        expect(mirror.resets).toBe(1);
        expect(mirror.misfits).toEqual([]);
      }
      // Changes of B's lineage now continue the clients' view as ordinary notifications.
      const later = await createSkills(writerB, 'b-later', 2);
      await Promise.all(mirrors.map((m) => m.client.lastSeq >= later || new Promise((resolve) => m.client.on('notification', (n) => n.seq === later && resolve(n)))));
      for (const mirror of mirrors) expect(mirror.sorted()).toEqual(await snapshotOf(writerB));

      // A write through the writable proxy lands on the object the client meant.
      const target = [...mirrors[0].objects.values()].find((o) => o.name === 'b-only-0')!;
      await mirrors[0].client.update('Skill', target.dbid, { options: { note: { via: 'proxy' } } });
      const [atB] = await writerB.readAll('Skill', { dbid: target.dbid });
      expect(atB.name).toBe('b-only-0');
      expect(atB.options.note).toEqual({ via: 'proxy' });

      expect(proxy.child.exitCode).toBeNull();
    });
  }

  it('lineage - a master restarted from an older copy of its own database: the proxy notices its seq went back, and clients reset instead of merging', async () => {
    const dir = tempDir();
    const port = await freePort();
    const dbPath = join(dir, 'master.db');
    let master = await startMasterProcess(dbPath, PASSWORD, port);
    let writer = await client(port, { reconnect: false });
    await createSkills(writer, 'early', 4);
    await writer.close();
    await killed(master.child);
    // The "older copy": the files as they were at this point.
    for (const suffix of ['', '-wal']) if (existsSync(dbPath + suffix)) copyFileSync(dbPath + suffix, join(dir, `old.db${suffix}`));

    master = await startMasterProcess(dbPath, PASSWORD, port);
    const proxy = await startProxyProcess(['--master', `127.0.0.1:${port}`, '-u', 'admin', '-p', PASSWORD, '--history-db', join(dir, 'proxy.db'), '--master-addp', '1']);
    const mirror = await Mirror.follow(await client(proxy.port));
    writer = await client(port, { reconnect: false });
    const newest = await createSkills(writer, 'late', 8);
    await new Promise((resolve) => (mirror.client.lastSeq >= newest ? resolve(null) : mirror.client.on('notification', (n) => n.seq === newest && resolve(n))));
    await writer.close();

    const reset = nextReset(mirror);
    await killed(master.child);
    for (const suffix of ['', '-wal']) {
      rmSync(dbPath + suffix, { force: true });
      if (existsSync(join(dir, `old.db${suffix}`))) copyFileSync(join(dir, `old.db${suffix}`), dbPath + suffix);
    }
    master = await startMasterProcess(dbPath, PASSWORD, port);
    await proxy.waitForLog((line) => line.event === 'PROXY-001');
    await reset;
    writer = await client(port, { reconnect: false });
    expect(mirror.sorted()).toEqual(await snapshotOf(writer));
    expect([...mirror.objects.values()].some((o) => o.name.startsWith('late-'))).toBe(false);
    expect(mirror.misfits).toEqual([]);
  });
});
