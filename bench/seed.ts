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

/** Puts one object straight into the tables (dbids from `firstDbid` up); returns its dbid. */
export type PutObject = (object: Record<string, unknown>) => number;

/**
 * A master database with the sample configuration plus what `fill` puts, straight into the SQLite
 * tables in one transaction; `credential` stores a password hash for a person. The dbid counters
 * are moved past what was put.
 */
export async function seedRaw(path: string, adminPassword: string, firstDbid: number, fill: (put: PutObject, credential: (dbid: number, hash: string) => void) => void): Promise<void> {
  const master = await MasterServer.start({ dbPath: path, port: 0, sample: true, adminPassword });
  await master.stop();
  const database = new ConfigDatabase(path);
  const insert = database.db.prepare('INSERT INTO objects (type, dbid, body) VALUES (?, ?, ?)');
  const credential = database.db.prepare('INSERT INTO credentials (dbid, hash) VALUES (?, ?)');
  const types = new Set<string>();
  let dbid = firstDbid;
  const put: PutObject = (object) => {
    types.add(String(object.type));
    insert.run(object.type, dbid, packr.pack({ dbid, folder: 0, state: 'enabled', options: {}, annex: {}, ...object }));
    return dbid++;
  };
  database.db.transaction(() => {
    fill(put, (person, hash) => credential.run(person, hash));
    const counter = database.db.prepare('INSERT OR REPLACE INTO counters (name, value) VALUES (?, ?)');
    for (const type of types) counter.run(`dbid:${type}`, dbid);
  })();
  database.close();
}
