import { mkdtempSync, rmSync } from 'node:fs';
import pg from 'pg';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCode, Kind } from '../../protocol/index.js';
import { connect, type CfgClient } from '../../src/client/index.js';
import { deriveSalted } from '../../src/model/scram.js';
import { MasterServer } from '../../src/master/master-server.js';
import { ADMIN_PASSWORD } from '../helpers/master.js';
import { requirePostgres, startPostgres, type TestPostgres } from '../helpers/postgres.js';
import { RawPeer } from '../helpers/raw-peer.js';

/**
 * One contract for both configuration databases: what a master promises its clients must not
 * depend on whether the database is a SQLite file or PostgreSQL. Each test gets a new database.
 */
const backends = [{ name: 'sqlite' }, { name: 'postgres', needs: requirePostgres }];

let cluster: TestPostgres | undefined;
const toClose: Array<() => Promise<void>> = [];
const dirs: string[] = [];

afterEach(async () => {
  for (const close of toClose.splice(0).reverse()) await close();
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});
afterAll(async () => {
  await cluster?.stop();
});

for (const backend of backends) {
  describe.runIf(backend.needs?.() ?? true)(`configuration database contract (${backend.name})`, () => {
    beforeAll(async () => {
      if (backend.name === 'postgres') cluster ??= await startPostgres();
    }, 60_000);

    /** A new database; `start()` runs a master on it (again and again: restarts keep it). */
    async function database(): Promise<{ start(): Promise<MasterServer> }> {
      let db: string;
      if (backend.name === 'postgres') db = (await cluster!.freshDatabase()).url;
      else {
        const dir = mkdtempSync(join(tmpdir(), 'cfgproxy-contract-'));
        dirs.push(dir);
        db = join(dir, 'master.db');
      }
      return {
        start: async () => {
          const master = await MasterServer.start({ dbPath: db, port: 0, sample: true, adminPassword: ADMIN_PASSWORD, leaseMs: 2000 });
          toClose.push(() => master.stop());
          return master;
        },
      };
    }

    async function client(port: number, user = 'admin', password = ADMIN_PASSWORD): Promise<CfgClient> {
      const c = await connect({ endpoints: `127.0.0.1:${port}`, user, password, reconnect: false });
      toClose.push(() => c.close());
      return c;
    }

    it(`contract (${backend.name}) - objects, deltas, references and names; every write takes the next seq`, async () => {
      const master = await (await database()).start();
      const writer = await client(master.port);
      const start = master.source.appliedSeq();
      const host = await writer.create({ type: 'Host', name: 'h1', tenant: 1, props: { ip: '10.0.0.1' } });
      const app = await writer.create({ type: 'Application', name: 'a1', tenant: 1, props: { appType: 'TServer', host: host.dbid, port: 7000 } });
      const updated = await writer.update('Host', host.dbid, { props: { ip: '10.0.0.2' }, options: { lca: { port: '4999' } } });
      expect([host.seq, app.seq, updated.seq]).toEqual([start + 1, start + 2, start + 3]);
      const [read] = await writer.readAll('Host', { dbid: host.dbid });
      expect(read).toMatchObject({ name: 'h1', props: { ip: '10.0.0.2' }, options: { lca: { port: '4999' } } });
      await expect(writer.create({ type: 'Host', name: 'h1', tenant: 1, props: { ip: '10.0.0.9' } })).rejects.toMatchObject({ code: ErrorCode.NAME_IN_USE });
      await expect(writer.create({ type: 'Application', name: 'a2', tenant: 1, props: { appType: 'TServer', host: 999_999 } })).rejects.toMatchObject({ code: ErrorCode.MISSING_REFERENCE });
      await expect(writer.delete('Host', host.dbid)).rejects.toMatchObject({ code: ErrorCode.OBJECT_IN_USE });
      expect(master.source.appliedSeq()).toBe(start + 3); // refusals take no seq
      await writer.delete('Application', app.dbid);
      expect((await writer.delete('Host', host.dbid)).seq).toBe(start + 5);
    });

    it(`contract (${backend.name}) - concurrent writers: seqs are gapless and unique, and each write is committed once`, async () => {
      const master = await (await database()).start();
      const writers = await Promise.all([client(master.port), client(master.port)]);
      const start = master.source.appliedSeq();
      const outcomes = await Promise.all(writers.flatMap((writer, w) => Array.from({ length: 40 }, (_, i) => writer.create({ type: 'Skill', name: `w${w}-${i}`, tenant: 1 }))));
      const seqs = outcomes.map((o) => o.seq).sort((a, b) => a - b);
      expect(seqs).toEqual(Array.from({ length: 80 }, (_, i) => start + 1 + i));
      expect(new Set(outcomes.map((o) => o.dbid)).size).toBe(80);
      expect((await writers[0]!.readAll('Skill')).filter((s) => /^w\d-/.test(s.name))).toHaveLength(80);
    });

    it(`contract (${backend.name}) - a restart keeps objects, seq, dbid counters and identity; a session restores from the change log`, async () => {
      const db = await database();
      const first = await db.start();
      const c = await client(first.port);
      await c.subscribe({ type: 'Skill' });
      const created = await c.create({ type: 'Skill', name: 'kept', tenant: 1 });
      await c.delete('Skill', created.dbid); // its dbid must never be handed out again
      const lastSeen = first.source.appliedSeq();
      const lineage = first.source.lineage();
      const objects = first.source.store.size;
      const session = { id: 'contract-session', lastSeq: lastSeen, lineage, subscriptions: [{ type: 'Skill' as const }] };
      await c.close();
      await first.stop();

      const second = await db.start();
      expect(second.source.lineage()).toEqual(lineage);
      expect(second.source.appliedSeq()).toBe(lastSeen);
      expect(second.source.store.size).toBe(objects);
      const writer = await client(second.port);
      const next = await writer.create({ type: 'Skill', name: 'after-restart', tenant: 1 });
      expect(next).toMatchObject({ seq: lastSeen + 1 });
      expect(next.dbid).toBeGreaterThan(created.dbid);
      // A client that saw up to lastSeen - 1 is replayed the delete and the new create, restored.
      const peer = await RawPeer.connect(second.port);
      toClose.push(() => peer.close());
      peer.send({ kind: Kind.Register, id: 1, versions: [1], user: 'admin', password: ADMIN_PASSWORD, clientName: 'contract', clientType: 'test', session: { ...session, lastSeq: lastSeen - 1 } });
      expect(await peer.waitFor((m) => m.kind === Kind.Registered)).toMatchObject({ restored: true });
      const replayed = await peer.waitFor((m) => m.kind === Kind.ObjectCreated);
      expect(replayed).toMatchObject({ seq: lastSeen + 1 });
    });

    it(`contract (${backend.name}) - retention: a pruned change log no longer restores, it tells the client to re-read`, async () => {
      const master = await (await database()).start();
      const writer = await client(master.port);
      const early = master.source.appliedSeq();
      for (let i = 0; i < 5; i += 1) await writer.create({ type: 'Skill', name: `r${i}`, tenant: 1 });
      master.prune(2, 24 * 3600_000);
      await expect.poll(() => master.source.oldestSeq()).toBe(master.source.appliedSeq() - 1);
      const peer = await RawPeer.connect(master.port);
      toClose.push(() => peer.close());
      peer.send({ kind: Kind.Register, id: 1, versions: [1], user: 'admin', password: ADMIN_PASSWORD, clientName: 'contract', clientType: 'test', session: { id: 's', lastSeq: early, lineage: master.source.lineage(), subscriptions: [] } });
      expect(await peer.waitFor((m) => m.kind === Kind.Registered)).toMatchObject({ restored: false });
      expect(await peer.waitFor((m) => m.kind === Kind.HistoryLogExpired)).toMatchObject({ lastSeq: early });
    });

    it(`contract (${backend.name}) - accounts: a new person logs in, a changed password replaces the old, a deleted person cannot log in`, async () => {
      const db = await database();
      const master = await db.start();
      const admin = await client(master.port);
      const person = await admin.create({ type: 'Person', name: 'contract-agent', tenant: 1, props: { password: 'first-secret' } });
      await (await client(master.port, 'contract-agent', 'first-secret')).close();
      await admin.update('Person', person.dbid, { props: { password: 'second-secret' } });
      await expect(client(master.port, 'contract-agent', 'first-secret')).rejects.toMatchObject({ code: ErrorCode.AUTH_FAILED });
      await master.stop();
      const again = await db.start(); // the hash was committed with the change
      await (await client(again.port, 'contract-agent', 'second-secret')).close();
      const admin2 = await client(again.port);
      await admin2.delete('Person', person.dbid);
      await expect(client(again.port, 'contract-agent', 'second-secret')).rejects.toMatchObject({ code: ErrorCode.AUTH_FAILED });
    });

    it(`contract (${backend.name}) - stored passwords in the older scrypt$ form are rewritten as scram$ verifiers at start; a row that changed meanwhile is left alone`, async () => {
      const db = await database();
      const master = await db.start();
      const admin = await client(master.port);
      const person = await admin.create({ type: 'Person', name: 'legacy-agent', tenant: 1, props: { password: 'legacy-secret' } });
      const params = { salt: Buffer.alloc(16, 1), N: 16384, r: 8, p: 1 };
      const old = `scrypt$16384$8$1$${params.salt.toString('base64')}$${(await deriveSalted('legacy-secret', params)).toString('base64')}`;
      const current = master.source.credentialOf(person.dbid)!;
      // Plant the older form (the rewrite is a compare-and-set), and check that a stale one is not applied.
      expect(await master.db.upgradeCredentials([[person.dbid, current, old]])).toBe(1);
      expect(await master.db.upgradeCredentials([[person.dbid, current, 'scram$stale']])).toBe(0);
      await master.stop();
      const again = await db.start();
      const stored = again.source.credentialOf(person.dbid)!;
      expect(stored.startsWith('scram$16384$8$1$')).toBe(true);
      // The database holds what memory holds (the compare matches it), not the older form.
      expect(await again.db.upgradeCredentials([[person.dbid, old, stored]])).toBe(0);
      expect(await again.db.upgradeCredentials([[person.dbid, stored, stored]])).toBe(1);
      await (await client(again.port, 'legacy-agent', 'legacy-secret')).close();
    });
  });
}

describe.runIf(requirePostgres())('PostgreSQL commits in flight together', () => {
  beforeAll(async () => {
    cluster ??= await startPostgres();
  }, 60_000);

  it('postgres - a commit that fails in the middle of writes in flight: those before it are made, it and those after it are not, memory matches the database, and the next writes go on', async () => {
    const { url } = await cluster!.freshDatabase();
    const master = await MasterServer.start({ dbPath: url, port: 0, sample: true, adminPassword: ADMIN_PASSWORD });
    toClose.push(() => master.stop());
    // A fault the database raises for one object, as a full disk or a failing trigger would.
    const admin = new pg.Client({ connectionString: url });
    await admin.connect();
    toClose.push(() => admin.end());
    await admin.query(`CREATE FUNCTION refuse_poison() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN
      IF position(convert_to('poison', 'UTF8') in NEW.frame) > 0 THEN RAISE EXCEPTION 'disk full (simulated)'; END IF; RETURN NEW; END $$`);
    await admin.query('CREATE TRIGGER refuse_poison BEFORE INSERT ON changes FOR EACH ROW EXECUTE FUNCTION refuse_poison()');
    const writers = await Promise.all([0, 1, 2, 3].map(() => connect({ endpoints: `127.0.0.1:${master.port}`, user: 'admin', password: ADMIN_PASSWORD, reconnect: false })));
    toClose.push(async () => void (await Promise.all(writers.map((w) => w.close()))));
    const names = Array.from({ length: 40 }, (_, i) => (i === 20 ? 'poison' : `flight-${i}`));
    const outcomes = await Promise.allSettled(names.map((name, i) => writers[i % 4]!.create({ type: 'Skill', name, tenant: 1 })));
    const poison = outcomes[20]!;
    expect(poison.status).toBe('rejected');
    expect((poison as PromiseRejectedResult).reason).toMatchObject({ code: ErrorCode.STORAGE_FAILED });
    expect(outcomes.filter((o) => o.status === 'fulfilled').length).toBeGreaterThan(0); // the fault hit one write, not all
    const made = (await admin.query<{ value: string }>("SELECT value FROM counters WHERE name = 'seq'")).rows[0]!.value;
    expect(master.source.appliedSeq()).toBe(Number(made)); // nothing landed that was not committed
    for (const [i, outcome] of outcomes.entries()) {
      const inDatabase = master.source.store.findByName('Skill', 1, names[i]!) !== undefined;
      expect(outcome.status === 'fulfilled', names[i]).toBe(inDatabase); // acknowledged exactly when made
    }
    const seqs = (await admin.query<{ seq: string }>('SELECT seq FROM changes ORDER BY seq')).rows.map((r) => Number(r.seq));
    expect(seqs).toEqual(Array.from({ length: seqs.length }, (_, i) => seqs[0]! + i));
    // The master is still the active one and takes writes.
    await expect.poll(async () => (await writers[0]!.create({ type: 'Skill', name: `after-${Date.now()}`, tenant: 1 }).then(() => 'ok', (e: { code: string }) => e.code))).toBe('ok');
  });
});
