import { Packr } from 'msgpackr';
import pg from 'pg';
import { isPostgresUrl, MasterServer } from '../src/master/master-server.js';
import { ConfigDatabase } from '../src/store/config-db.js';

const packr = new Packr({ useRecords: false });

/**
 * A master database with the sample configuration plus `count` DNs, written straight into the
 * tables in one transaction (the benches measure loading, not importing). DN dbids start at 1000.
 */
/** The bench's DN number `i` (dbid 1000 + i). */
function benchDn(i: number): { dbid: number; body: Buffer } {
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
  return { dbid, body: packr.pack(dn) };
}

/**
 * A master database (a SQLite file or a PostgreSQL URL) with the sample configuration plus
 * `count` DNs, written straight into the tables (the benches measure loading, not importing).
 * DN dbids start at 1000.
 */
export async function seedMasterDatabase(db: string, count: number, adminPassword: string): Promise<void> {
  const seed = await MasterServer.start({ dbPath: db, port: 0, sample: true, adminPassword });
  await seed.stop();
  if (isPostgresUrl(db)) return seedPostgres(db, count);
  const database = new ConfigDatabase(db);
  const insert = database.db.prepare('INSERT INTO objects (type, dbid, body) VALUES (?, ?, ?)');
  database.db.transaction(() => {
    for (let i = 0; i < count; i += 1) {
      const { dbid, body } = benchDn(i);
      insert.run('DN', dbid, body);
    }
    database.db.prepare("INSERT OR REPLACE INTO counters (name, value) VALUES ('dbid:DN', ?)").run(1000 + count);
  })();
  database.close();
}

async function seedPostgres(url: string, count: number): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query('BEGIN');
    for (let start = 0; start < count; start += 1000) {
      const rows = Array.from({ length: Math.min(1000, count - start) }, (_, k) => benchDn(start + k));
      await client.query('INSERT INTO objects (type, dbid, body) SELECT \'DN\', * FROM unnest($1::bigint[], $2::bytea[])', [rows.map((r) => r.dbid), rows.map((r) => r.body)]);
    }
    await client.query("INSERT INTO counters (name, value) VALUES ('dbid:DN', $1) ON CONFLICT (name) DO UPDATE SET value = excluded.value", [1000 + count]);
    await client.query('COMMIT');
  } finally {
    await client.end();
  }
}
