import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeFrame, ErrorCode, Kind } from '../../protocol/index.js';
import { connect, type CfgClient, type Notification } from '../../src/client/index.js';
import { ADMIN_PASSWORD } from '../helpers/master.js';
import { requirePostgres, startPostgres, type TestPostgres } from '../helpers/postgres.js';
import { freePort, killed, startCli, startProxyProcess, type CliProcess } from '../helpers/processes.js';
import { Relay } from '../helpers/relay.js';
import { scenarioHooks } from '../helpers/scenario.js';
import { until } from '../helpers/until.js';

const { toClose } = scenarioHooks('master-pair');
const CLI = new URL('../../bin/cfgproxy.js', import.meta.url).pathname;
const run = promisify(execFile);
let cluster: TestPostgres | undefined;
const LEASE_S = 1;

interface Member {
  process: CliProcess;
  port: number;
  admin: number;
  endpoint: string;
}

/** Starts `cfgproxy master` on the shared database, as an operator would: the password in PGPASSWORD. */
async function startMember(name: string, db: string, ports?: { port: number; admin: number }): Promise<Member> {
  const port = ports?.port ?? (await freePort());
  const admin = ports?.admin ?? (await freePort());
  const endpoint = `127.0.0.1:${port}`;
  const process = await startCli(
    ['master', '--db', db, '--name', name, '--port', String(port), '--advertise', endpoint, '--admin-port', String(admin), '--lease', String(LEASE_S), '--sample'],
    'master listening',
    { ...cluster!.env, CFGPROXY_ADMIN_PASSWORD: ADMIN_PASSWORD },
  );
  return { process, port, admin, endpoint };
}

async function isActive(member: Member): Promise<boolean> {
  return (await fetch(`http://127.0.0.1:${member.admin}/health/active`).then((r) => r.status, () => 0)) === 200;
}

/** Writers that create Skills one after another until stopped, noting what was acknowledged and what failed. */
function streamWriters(clients: CfgClient[]): { stop(): Promise<void>; acked: Map<string, number>; failed: Set<string> } {
  const acked = new Map<string, number>();
  const failed = new Set<string>();
  let running = true;
  const loops = clients.map(async (client, w) => {
    for (let i = 0; running; i += 1) {
      const name = `w${w}-${i}`;
      try {
        acked.set(name, (await client.create({ type: 'Skill', name, tenant: 1 })).seq);
      } catch {
        failed.add(name); // not acknowledged: it may or may not have been made
        await new Promise((resolve) => setTimeout(resolve, 20)); // the SDK reconnects meanwhile; retry pacing, not a wait for an event
      }
    }
  });
  return {
    acked,
    failed,
    stop: async () => {
      running = false;
      await Promise.all(loops);
    },
  };
}

/** What the database holds: every change's seq, and each Skill name created, with how often. */
async function databaseFacts(url: string): Promise<{ seqs: number[]; createdSkills: Map<string, number> }> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const seqs = (await client.query<{ seq: string }>('SELECT seq FROM changes ORDER BY seq')).rows.map((row) => Number(row.seq));
    // The frame of a create holds the object; counting creates per name finds a write made twice.
    const frames = (await client.query<{ frame: Buffer }>("SELECT frame FROM changes WHERE op = 'created' AND type = 'Skill'")).rows;
    const createdSkills = new Map<string, number>();
    for (const { frame } of frames) {
      const message = decodeFrame(frame);
      if (message.kind === Kind.ObjectCreated) createdSkills.set(message.object.name, (createdSkills.get(message.object.name) ?? 0) + 1);
    }
    return { seqs, createdSkills };
  } finally {
    await client.end();
  }
}

function expectGapless(seqs: number[]): void {
  expect(seqs.length).toBeGreaterThan(0);
  expect(seqs).toEqual(Array.from({ length: seqs.length }, (_, i) => seqs[0]! + i));
}

/** Every acknowledged write is in the database once; nothing else but writes whose outcome was unknown. */
function expectExactlyOnce(facts: { createdSkills: Map<string, number> }, writes: { acked: Map<string, number>; failed: Set<string> }): void {
  for (const name of writes.acked.keys()) expect(facts.createdSkills.get(name), name).toBe(1);
  for (const [name, count] of facts.createdSkills) {
    if (!/^w\d-/.test(name)) continue;
    expect(count, name).toBe(1);
    expect(writes.acked.has(name) || writes.failed.has(name), name).toBe(true);
  }
}

describe.runIf(requirePostgres())('master pair on PostgreSQL', () => {
  beforeAll(async () => {
    cluster = await startPostgres();
  }, 60_000);
  afterAll(async () => {
    await cluster?.stop();
  });

  it('master pair - one active, the standby refuses with BACKUP_MODE naming it; SIGKILL of the active under two writers: the standby takes over, every acknowledged write once, seqs gapless, a proxy\'s subscriber sees every seq once in order with no reset', async () => {
    const { url, urlWithoutPassword } = await cluster!.freshDatabase();
    const a = await startMember('m1', urlWithoutPassword);
    const b = await startMember('m2', urlWithoutPassword);
    expect([await isActive(a), await isActive(b)]).toEqual([true, false]);
    const refused = await connect({ endpoints: b.endpoint, user: 'admin', password: ADMIN_PASSWORD, reconnect: false }).then(
      () => undefined,
      (error: { code: string; details?: { primary?: string } }) => error,
    );
    expect(refused).toMatchObject({ code: ErrorCode.BACKUP_MODE, details: { primary: a.endpoint } });
    // `cfgproxy status` reads a master's admin port as it reads a proxy's.
    const status = await run(process.execPath, [CLI, 'status', '--admin', `127.0.0.1:${b.admin}`]);
    expect(status.stdout).toContain(`serving: no   active: no`);
    expect(status.stdout).toContain(`this master is standby, the active one at ${a.endpoint}`);
    const metrics = await (await fetch(`http://127.0.0.1:${a.admin}/metrics`)).text();
    expect(metrics).toMatch(/^cfgproxy_master_active 1$/m);
    expect(metrics).toMatch(/^cfgproxy_db_commits_total [1-9]\d*$/m);

    const proxy = await startProxyProcess(['--master', `${a.endpoint},${b.endpoint}`, '--user', 'admin', '--master-addp', '1', '--history-db', ':memory:'], { CFGPROXY_PROXY_PASSWORD: ADMIN_PASSWORD });
    const subscriber = await connect({ endpoints: `127.0.0.1:${proxy.port}`, user: 'admin', password: ADMIN_PASSWORD });
    toClose.push(() => subscriber.close());
    await subscriber.subscribe({ type: 'Skill' });
    const seen: number[] = [];
    let resets = 0;
    subscriber.on('notification', (n: Notification) => seen.push(n.seq));
    subscriber.on('reset', () => (resets += 1));

    const clients = await Promise.all([0, 1].map(() => connect({ endpoints: `${a.endpoint},${b.endpoint}`, user: 'admin', password: ADMIN_PASSWORD })));
    toClose.push(async () => void (await Promise.all(clients.map((c) => c.close()))));
    const writes = streamWriters(clients);
    await until(() => writes.acked.size >= 100, 10_000, '100 writes');
    const killedAt = Date.now();
    await killed(a.process.child);
    const took = await b.process.waitForLog((line) => line.event === 'MASTER-002');
    const ackedAtKill = writes.acked.size;
    await until(() => writes.acked.size >= ackedAtKill + 100, 15_000, '100 writes on the new active');
    await writes.stop();
    expect(await isActive(b)).toBe(true);
    expect((took.time as number) - killedAt).toBeLessThan(2_000 + 500); // within 2 s (and the log's own latency)
    const facts = await databaseFacts(url);
    expectGapless(facts.seqs);
    expectExactlyOnce(facts, writes);
    const last = facts.seqs.at(-1)!;
    await until(() => seen.at(-1) === last, 10_000, 'the subscriber reaching the last seq');
    expect(resets).toBe(0);
    expectGapless(seen); // every Skill create, once, in order, across the takeover
    for (const seq of writes.acked.values()) expect(seen).toContain(seq);
  }, 90_000);

  it('master pair - the active master cut off from PostgreSQL (its session stays open there) steps down; the standby ends that session, takes over, and no write commits on both', async () => {
    const { url } = await cluster!.freshDatabase();
    const parsed = new URL(url);
    const relay = await Relay.start(Number(parsed.port));
    toClose.push(() => relay.close());
    const viaRelay = `postgres://${parsed.username}@127.0.0.1:${relay.port}${parsed.pathname}`;
    const direct = `postgres://${parsed.username}@127.0.0.1:${parsed.port}${parsed.pathname}`;
    const a = await startMember('m1', viaRelay);
    const b = await startMember('m2', direct);
    expect(await isActive(a)).toBe(true);
    const clients = await Promise.all([0, 1].map(() => connect({ endpoints: `${a.endpoint},${b.endpoint}`, user: 'admin', password: ADMIN_PASSWORD })));
    toClose.push(async () => void (await Promise.all(clients.map((c) => c.close()))));
    const writes = streamWriters(clients);
    await until(() => writes.acked.size >= 100, 10_000, '100 writes');
    relay.partition();
    await a.process.waitForLog((line) => line.event === 'MASTER-003'); // it stepped down on its own
    await b.process.waitForLog((line) => line.event === 'MASTER-004'); // the lease expired: its session ended
    await b.process.waitForLog((line) => line.event === 'MASTER-002');
    const ackedAtTakeover = writes.acked.size;
    await until(() => writes.acked.size >= ackedAtTakeover + 100, 15_000, '100 writes on the new active');
    await writes.stop();
    expect([await isActive(a), await isActive(b)]).toEqual([false, true]);
    const facts = await databaseFacts(url);
    expectGapless(facts.seqs);
    expectExactlyOnce(facts, writes);
  }, 90_000);

  it('master pair - PostgreSQL crashes and restarts under the masters: they reconnect, one is active again, and nothing acknowledged is lost', async () => {
    const { url, urlWithoutPassword } = await cluster!.freshDatabase();
    const a = await startMember('m1', urlWithoutPassword);
    const b = await startMember('m2', urlWithoutPassword);
    const clients = await Promise.all([0, 1].map(() => connect({ endpoints: `${a.endpoint},${b.endpoint}`, user: 'admin', password: ADMIN_PASSWORD })));
    toClose.push(async () => void (await Promise.all(clients.map((c) => c.close()))));
    const writes = streamWriters(clients);
    await until(() => writes.acked.size >= 100, 10_000, '100 writes');
    await cluster!.restart('crash');
    const ackedAtRestart = writes.acked.size;
    await until(() => writes.acked.size >= ackedAtRestart + 100, 20_000, '100 writes after the restart');
    await writes.stop();
    expect((await Promise.all([isActive(a), isActive(b)])).filter(Boolean)).toHaveLength(1);
    const facts = await databaseFacts(url);
    expectGapless(facts.seqs);
    expectExactlyOnce(facts, writes);
  }, 90_000);
});
