import Database from 'better-sqlite3';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { CfgClient } from '../../src/client/client.js';
import { connect } from '../../src/client/index.js';
import type { MasterServer } from '../../src/master/master-server.js';
import type { ProxyServer } from '../../src/proxy/proxy-server.js';
import { ADMIN_PASSWORD, adminClient, startTestMaster } from '../helpers/master.js';
import { deriveSalted } from '../../src/model/scram.js';
import { startTestProxy } from '../helpers/proxy.js';
import { until } from '../helpers/until.js';

const toClose: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  for (const close of toClose.splice(0).reverse()) await close();
});

async function login(port: number, user: string, password: string): Promise<CfgClient> {
  const client = await connect({ endpoints: `127.0.0.1:${port}`, user, password, reconnect: false });
  toClose.push(() => client.close());
  return client;
}

describe('logins at a proxy', () => {
  it('proxy login - a proxy checks proofs from the verifiers it holds: a changed password takes effect there at once, and logins go on while the master is down', async () => {
    const { master, cleanup } = await startTestMaster();
    let masterUp: MasterServer | undefined = master;
    toClose.push(async () => {
      await masterUp?.stop();
      await cleanup().catch(() => undefined);
    });
    const dir = mkdtempSync(join(tmpdir(), 'cfgproxy-proxy-login-'));
    toClose.push(async () => rmSync(dir, { recursive: true, force: true }));
    const proxy: ProxyServer = await startTestProxy(dir, [master.port]);
    toClose.push(() => proxy.stop());

    const admin = await adminClient(master.port);
    toClose.push(() => admin.close());
    const person = await admin.create({ type: 'Person', name: 'desk-agent', tenant: 1, props: { password: 'monday', isAgent: true, grants: [{ on: 'tenant', target: 1, access: 'read' }] } });
    await until(() => proxy.source.credentialOf(person.dbid) !== undefined);
    expect(proxy.source.credentialOf(person.dbid)!.startsWith('scram$')).toBe(true);
    await login(proxy.port, 'desk-agent', 'monday');

    const { seq } = await admin.update('Person', person.dbid, { props: { password: 'tuesday' } });
    await until(() => proxy.source.appliedSeq() >= seq);
    await expect(login(proxy.port, 'desk-agent', 'monday')).rejects.toMatchObject({ code: 'AUTH_FAILED' });
    await login(proxy.port, 'desk-agent', 'tuesday');

    await masterUp.stop();
    masterUp = undefined;
    // The master is gone: the proxy alone checks the proof and serves from its cache.
    const agent = await login(proxy.port, 'desk-agent', 'tuesday');
    expect((await agent.readAll('DN')).length).toBe(10);
    await expect(login(proxy.port, 'desk-agent', 'monday')).rejects.toMatchObject({ code: 'AUTH_FAILED' });
  });

  it('proxy login - a history db holding older scrypt$ hashes is rewritten in the scram$ form when a proxy resumes from it', async () => {
    const { master, cleanup } = await startTestMaster();
    toClose.push(cleanup);
    const dir = mkdtempSync(join(tmpdir(), 'cfgproxy-proxy-login-'));
    toClose.push(async () => rmSync(dir, { recursive: true, force: true }));
    const historyDb = join(dir, 'history.db');
    const first = await startTestProxy(dir, [master.port], { historyDb });
    const admin = master.source.store.findByName('Person', 0, 'admin')!;
    await first.stop();

    const params = { salt: Buffer.alloc(16, 4), N: 16384, r: 8, p: 1 };
    const salted = await deriveSalted(ADMIN_PASSWORD, params);
    const file = new Database(historyDb);
    file.prepare('UPDATE credentials SET hash = ? WHERE dbid = ?').run(`scrypt$16384$8$1$${params.salt.toString('base64')}$${salted.toString('base64')}`, admin.dbid);
    file.close();

    const resumed = await startTestProxy(dir, [master.port], { historyDb });
    (await login(resumed.port, 'admin', ADMIN_PASSWORD)).close();
    await resumed.stop();
    const reread = new Database(historyDb, { readonly: true });
    const stored = (reread.prepare('SELECT hash FROM credentials WHERE dbid = ?').get(admin.dbid) as { hash: string }).hash;
    reread.close();
    expect(stored.startsWith('scram$')).toBe(true);
    expect(stored).not.toContain(salted.toString('base64'));
  });
});
