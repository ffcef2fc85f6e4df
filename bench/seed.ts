import { Packr } from 'msgpackr';
import { MasterServer } from '../src/master/master-server.js';
import { ConfigDatabase } from '../src/store/config-db.js';

const packr = new Packr({ useRecords: false });

/**
 * A master database with the sample configuration plus `count` DNs, written straight into the
 * tables in one transaction (the benches measure loading, not importing). DN dbids start at 1000.
 */
export async function seedMasterDatabase(dbPath: string, count: number, adminPassword: string): Promise<void> {
  const seed = await MasterServer.start({ dbPath, port: 0, sample: true, adminPassword });
  await seed.stop();
  const db = new ConfigDatabase(dbPath);
  const insert = db.db.prepare('INSERT INTO objects (type, dbid, body) VALUES (?, ?, ?)');
  db.db.transaction(() => {
    for (let i = 0; i < count; i += 1) {
      const dbid = 1000 + i;
      const dn = {
        type: 'DN',
        dbid,
        name: `bench-${dbid}`,
        tenant: 1,
        folder: 0,
        state: 'enabled',
        props: { number: `${100000 + i}`, switch: 1, dnType: 'Extension' },
        options: { TServer: { 'agent-group': 'sales', priority: String(i % 10) } },
        annex: {},
      };
      insert.run('DN', dbid, packr.pack(dn));
    }
    db.db.prepare("INSERT OR REPLACE INTO counters (name, value) VALUES ('dbid:DN', ?)").run(1000 + count);
  })();
  db.close();
}
