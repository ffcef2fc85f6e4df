import net from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Kind, type Message } from '../../protocol/index.js';
import type { CfgClient } from '../../src/client/client.js';
import { connect } from '../../src/client/index.js';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { MasterServer } from '../../src/master/master-server.js';
import { ConfigDatabase } from '../../src/store/config-db.js';
import { authMessage, clientProof, deriveSalted } from '../../src/model/scram.js';
import { ADMIN_PASSWORD, adminClient, startTestMaster } from '../helpers/master.js';
import { RawPeer } from '../helpers/raw-peer.js';

let master: MasterServer;
let dir: string;
let cleanup: () => Promise<void>;
const clients: CfgClient[] = [];
const peers: RawPeer[] = [];
const servers: net.Server[] = [];

beforeEach(async () => {
  ({ master, dir } = await startTestMaster());
  // A test may replace the master: stop whichever runs then.
  cleanup = async () => {
    await master.stop();
    rmSync(dir, { recursive: true, force: true });
  };
});

afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
  for (const peer of peers.splice(0)) peer.socket.destroy();
  await Promise.all(servers.splice(0).map((server) => new Promise((resolve) => server.close(resolve))));
  await cleanup();
});

async function peer(): Promise<RawPeer> {
  const p = await RawPeer.connect(master.port);
  peers.push(p);
  return p;
}

/** LoginStart on `p`, and the proof for `password` against the challenge it gets. */
async function prove(p: RawPeer, user: string, password: string, id = 1): Promise<{ proof: string; challenge: Extract<Message, { kind: 31 }> }> {
  p.send({ kind: Kind.LoginStart, id, user, nonce: 'client-nonce' });
  const challenge = (await p.waitFor((m) => 'id' in m && m.id === id)) as Extract<Message, { kind: 31 }>;
  expect(challenge.kind).toBe(Kind.LoginChallenge);
  const params = { salt: Buffer.from(challenge.salt, 'base64'), N: challenge.n, r: challenge.r, p: challenge.p };
  const salted = await deriveSalted(password, params);
  return { proof: clientProof(salted, authMessage(user, 'client-nonce', { nonce: challenge.nonce, ...params })).toString('base64'), challenge };
}

function register(p: RawPeer, fields: Record<string, unknown>, id = 2): Promise<Message> {
  p.send({ kind: Kind.Register, id, versions: [1], clientName: 'raw', clientType: 'test', user: 'admin', ...fields });
  return p.waitFor((m) => 'id' in m && m.id === id);
}

describe('login by challenge-response [PROTO-HELLO-5]', () => {
  it('login - the SDK logs in by proof: the password never crosses the wire and the server proves it holds the verifier', async () => {
    const sent: Buffer[] = [];
    const tap = net.createServer((client) => {
      const upstream = net.connect({ host: '127.0.0.1', port: master.port });
      client.on('data', (chunk: Buffer) => sent.push(chunk));
      client.pipe(upstream).on('error', () => undefined);
      upstream.pipe(client).on('error', () => undefined);
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
    });
    servers.push(tap);
    await new Promise<void>((resolve) => tap.listen(0, '127.0.0.1', resolve));
    const client = await adminClient((tap.address() as net.AddressInfo).port);
    clients.push(client);
    expect(await client.readAll('Tenant')).toHaveLength(1);
    const bytes = Buffer.concat(sent);
    expect(bytes.length).toBeGreaterThan(50);
    expect(bytes.includes(Buffer.from(ADMIN_PASSWORD))).toBe(false);
  });

  it('login - a proof is good for its own challenge once: replayed on another connection, or sent without LoginStart, it is refused', async () => {
    const first = await peer();
    const { proof } = await prove(first, 'admin', ADMIN_PASSWORD);
    const registered = await register(first, { proof });
    expect(registered.kind).toBe(Kind.Registered);
    expect((registered as Extract<Message, { kind: 2 }>).serverProof).toMatch(/^[A-Za-z0-9+/]+=*$/);

    // An eavesdropper replays the proof after a challenge of its own: another server nonce, refused.
    const replayer = await peer();
    await prove(replayer, 'admin', 'whatever');
    const replayed = await register(replayer, { proof });
    expect(replayed).toMatchObject({ kind: Kind.Error, code: 'AUTH_FAILED' });

    // Without a challenge on this connection there is nothing to answer.
    const direct = await peer();
    expect(await register(direct, { proof })).toMatchObject({ kind: Kind.Error, code: 'AUTH_FAILED' });
    // Neither password nor proof on a fresh connection: refused (only a standby connection may).
    expect(await register(await peer(), {})).toMatchObject({ kind: Kind.Error, code: 'AUTH_FAILED' });
    // Both: a malformed Register.
    expect(await register(await peer(), { proof, password: ADMIN_PASSWORD })).toMatchObject({ kind: Kind.Error, code: 'INVALID_MESSAGE' });
  });

  it('login - a standby connection registers without a second login only as the user it logged in as', async () => {
    const p = await peer();
    const { proof } = await prove(p, 'admin', ADMIN_PASSWORD);
    p.send({ kind: Kind.Standby, id: 2, user: 'admin', proof, remoteTimeoutMs: 10_000 });
    expect(await p.waitFor((m) => 'id' in m && m.id === 2)).toMatchObject({ kind: Kind.Ack });
    // A peer that logged in as admin claims to be someone else: refused, and it stands by again.
    expect(await register(p, { user: 'agent1' }, 3)).toMatchObject({ kind: Kind.Error, code: 'AUTH_FAILED' });
    expect(await register(p, {}, 4)).toMatchObject({ kind: Kind.Registered });
  });

  it('login - an unknown user gets a decoy challenge, the same on every ask, and its login fails like a wrong password', async () => {
    const a = await peer();
    const ghost1 = await prove(a, 'nobody-here', 'x');
    const b = await peer();
    const ghost2 = await prove(b, 'nobody-here', 'x');
    const real = await prove(await peer(), 'admin', 'x');
    expect(ghost1.challenge.salt).toBe(ghost2.challenge.salt);
    expect(ghost1.challenge.salt).not.toBe(real.challenge.salt);
    expect([ghost1.challenge.n, ghost1.challenge.r, ghost1.challenge.p]).toEqual([real.challenge.n, real.challenge.r, real.challenge.p]);
    const refused = await register(a, { proof: ghost1.proof, user: 'nobody-here' });
    expect(refused).toMatchObject({ kind: Kind.Error, code: 'AUTH_FAILED', message: 'unknown user or wrong password' });
    const wrong = await prove(await peer(), 'admin', 'not-the-password');
    expect(wrong.challenge.nonce.startsWith('client-nonce')).toBe(true);
  });

  it('login - the password in the clear still works (older clients), and the SDK can be told to send it', async () => {
    const p = await peer();
    expect((await register(p, { password: ADMIN_PASSWORD })).kind).toBe(Kind.Registered);
    const client = await connect({ endpoints: `127.0.0.1:${master.port}`, user: 'admin', password: ADMIN_PASSWORD, login: 'password' });
    clients.push(client);
    expect(await client.readAll('Tenant')).toHaveLength(1);
  });

  it('login - failed proofs count against the login throttle like failed passwords: past five, their answers come late, and the right password still logs in at once', async () => {
    const times: number[] = [];
    for (let i = 0; i < 7; i += 1) {
      const p = await peer();
      p.send({ kind: Kind.LoginStart, id: 1, user: 'admin', nonce: 'client-nonce' });
      expect((await p.waitFor((m) => 'id' in m && m.id === 1)).kind).toBe(Kind.LoginChallenge);
      const started = performance.now();
      expect(await register(p, { proof: Buffer.alloc(32, i).toString('base64') })).toMatchObject({ kind: Kind.Error, code: 'AUTH_FAILED' });
      times.push(performance.now() - started);
    }
    expect(Math.max(...times.slice(0, 5))).toBeLessThan(200);
    expect(times[5]).toBeGreaterThan(240);
    expect(times[6]).toBeGreaterThan(times[5]);
    const p = await peer();
    const started = performance.now();
    expect((await register(p, { password: ADMIN_PASSWORD })).kind).toBe(Kind.Registered);
    expect(performance.now() - started).toBeLessThan(times[6]);
  });

  it('login - a person created with an older scrypt$ hash logs in with the SDK, and the master keeps the scram$ form', async () => {
    const admin = await adminClient(master.port);
    clients.push(admin);
    const params = { salt: Buffer.alloc(16, 9), N: 16384, r: 8, p: 1 };
    const salted = await deriveSalted('legacy-pw', params);
    const old = `scrypt$16384$8$1$${params.salt.toString('base64')}$${salted.toString('base64')}`;
    const created = await admin.create({ type: 'Person', name: 'legacy', tenant: 1, props: { isAdmin: true, passwordHash: old } });
    const stored = master.source.credentialOf(created.dbid)!;
    expect(stored.startsWith('scram$16384$8$1$')).toBe(true);
    expect(stored).not.toContain(salted.toString('base64'));
    const legacy = await connect({ endpoints: `127.0.0.1:${master.port}`, user: 'legacy', password: 'legacy-pw' });
    clients.push(legacy);
    expect(await legacy.readAll('Tenant')).toHaveLength(1);
  });

  it('login - a database written with older scrypt$ hashes is rewritten in the scram$ form when a master starts on it', async () => {
    const admin = master.source.store.findByName('Person', 0, 'admin')!;
    const params = { salt: Buffer.alloc(16, 5), N: 16384, r: 8, p: 1 };
    const salted = await deriveSalted(ADMIN_PASSWORD, params);
    const old = `scrypt$16384$8$1$${params.salt.toString('base64')}$${salted.toString('base64')}`;
    const path = join(dir, 'master.db');
    await master.stop();
    const file = new ConfigDatabase(path);
    file.db.prepare('UPDATE credentials SET hash = ? WHERE dbid = ?').run(old, admin.dbid);
    file.close();
    master = await MasterServer.start({ dbPath: path, port: 0 });
    const client = await adminClient(master.port);
    expect(await client.readAll('Tenant')).toHaveLength(1);
    await client.close();
    await master.stop();
    const reopened = new ConfigDatabase(path);
    const stored = reopened.loadCredentials().get(admin.dbid)!;
    reopened.close();
    expect(stored.startsWith('scram$16384$8$1$')).toBe(true);
    expect(stored).not.toContain(salted.toString('base64'));
    master = await MasterServer.start({ dbPath: path, port: 0 });
  });

  it('login - LoginStart buys a connection a short grace from the idle eviction, not a place to hold: past it, a real client gets in', async () => {
    const small = await startTestMaster({ limits: { maxPendingConnections: 4, loginGraceMs: 300 } });
    try {
      const port = small.master.port;
      // An attacker fills every pending place with connections that sent LoginStart and nothing more.
      const holders = await Promise.all(Array.from({ length: 4 }, () => RawPeer.connect(port)));
      peers.push(...holders);
      for (const holder of holders) {
        holder.send({ kind: Kind.LoginStart, id: 1, user: 'admin', nonce: 'n' });
        await holder.waitFor((m) => 'id' in m && m.id === 1);
      }
      // Within the grace they are mid-login: a newcomer is turned away, and they all stay.
      await expect(connect({ endpoints: `127.0.0.1:${port}`, user: 'admin', password: ADMIN_PASSWORD, reconnect: false })).rejects.toBeInstanceOf(Error);
      expect(holders.every((holder) => !holder.socket.destroyed && holder.received.every((m) => m.kind !== Kind.Error))).toBe(true);
      // Past it they are idle again: the next newcomers make room, and a real client logs in.
      let client: CfgClient | undefined;
      for (let attempt = 0; !client && attempt < 100; attempt += 1) {
        client = await connect({ endpoints: `127.0.0.1:${port}`, user: 'admin', password: ADMIN_PASSWORD, reconnect: false }).catch(() => undefined);
        if (!client) await new Promise((resolve) => setTimeout(resolve, 50)); // a refused client retries, as the SDK does
      }
      if (!client) throw new Error('the real client never got in');
      clients.push(client);
      expect(await client.readAll('Tenant')).toHaveLength(1);
      expect(holders.some((holder) => holder.received.some((m) => m.kind === Kind.Error && m.code === 'TOO_MANY_CLIENTS'))).toBe(true);
    } finally {
      await Promise.all(clients.splice(0).map((c) => c.close()));
      await small.cleanup();
    }
  });
});
