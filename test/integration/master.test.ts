import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CfgError, type Notification } from '../../src/client/index.js';
import type { CfgClient } from '../../src/client/client.js';
import { connect } from '../../src/client/index.js';
import { adminClient, collect, startTestMaster } from '../helpers/master.js';
import type { MasterServer } from '../../src/master/master-server.js';
import { ConfigDatabase } from '../../src/store/config-db.js';

let master: MasterServer;
let cleanup: () => Promise<void>;
const clients: CfgClient[] = [];

beforeEach(async () => {
  ({ master, cleanup } = await startTestMaster());
});

afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
  await cleanup();
});

async function admin(): Promise<CfgClient> {
  const client = await adminClient(master.port);
  clients.push(client);
  return client;
}

async function codeOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (error) {
    return (error as CfgError).code;
  }
  return 'no error';
}

describe('master end to end', () => {
  it('master - reads by type and filter, in chunks, with the snapshot seq', async () => {
    const client = await admin();
    const dns = await client.readAll('DN');
    expect(dns).toHaveLength(10);
    const one = await client.readAll('DN', { props: { number: '5003' } });
    expect(one.map((d) => d.name)).toEqual(['5003']);
    const paris = master.source.store.findByName('Folder', 1, 'Paris')!;
    expect((await client.readAll('DN', { folder: paris.dbid })).every((d) => d.folder === paris.dbid)).toBe(true);
  });

  it('master - writes get gapless seqs and subscribers receive them in order', async () => {
    const writer = await admin();
    const watcher = await admin();
    await watcher.subscribe({ type: 'Host' });
    const received = collect<Notification>(watcher, 'notification', 3);
    const start = master.source.appliedSeq();
    const a = await writer.create({ type: 'Host', name: 'h-a', tenant: 1, props: { ip: '10.1.1.1' } });
    const b = await writer.update('Host', a.dbid, { options: { lca: { port: '4999' } } });
    const c = await writer.delete('Host', a.dbid);
    expect([a.seq, b.seq, c.seq]).toEqual([start + 1, start + 2, start + 3]);
    expect((await received).map((n) => [n.kind, n.seq])).toEqual([[9, start + 1], [10, start + 2], [11, start + 3]]);
    expect(watcher.lastSeq).toBe(start + 3);
  });

  it('master - subscriptions select by type, so other changes are not delivered', async () => {
    const writer = await admin();
    const watcher = await admin();
    await watcher.subscribe({ type: 'Skill' });
    const seen: number[] = [];
    watcher.on('notification', (n: Notification) => seen.push(n.seq));
    const arrived = collect(watcher, 'notification', 1);
    await writer.create({ type: 'Host', name: 'not-watched', tenant: 1, props: { ip: '1.2.3.4' } });
    const skill = await writer.create({ type: 'Skill', name: 'Spanish', tenant: 1 });
    await arrived;
    expect(seen).toEqual([skill.seq]);
  });

  it('master - refuses bad objects with their own codes and leaves the database unchanged', async () => {
    const client = await admin();
    const before = master.source.appliedSeq();
    expect(await codeOf(client.create({ type: 'DN', name: 'x', tenant: 1, props: { number: '1' } }))).toBe('INVALID_OBJECT');
    expect(await codeOf(client.create({ type: 'DN', name: 'x', tenant: 1, props: { number: '1', switch: 999 } }))).toBe('MISSING_REFERENCE');
    expect(await codeOf(client.create({ type: 'DN', name: 'x', tenant: 1, folder: 777, props: { number: '1', switch: 1 } }))).toBe('MISSING_REFERENCE');
    expect(await codeOf(client.create({ type: 'Skill', name: 'French', tenant: 1 }))).toBe('NAME_IN_USE');
    expect(await codeOf(client.update('DN', 99999, { state: 'disabled' }))).toBe('UNKNOWN_OBJECT');
    expect(await codeOf(client.delete('Switch', 1))).toBe('OBJECT_IN_USE');
    expect(await codeOf(client.update('Host', 1, { props: { nonsense: 1 } } as never))).toBe('INVALID_OBJECT');
    expect(master.source.appliedSeq()).toBe(before);
    expect((master.db as ConfigDatabase).lastSeq()).toBe(before);
  });

  it('master - permissions filter reads and notifications, and refuse writes', async () => {
    const writer = await admin();
    const paris = master.source.store.findByName('Folder', 1, 'Paris')!;
    const berlin = master.source.store.findByName('Folder', 1, 'Berlin')!;
    await writer.create({ type: 'Person', name: 'viewer', tenant: 1, props: { password: 'pw', grants: [{ on: 'folder', target: paris.dbid, access: 'read' }] } });
    const viewer = await connect({ endpoints: `127.0.0.1:${master.port}`, user: 'viewer', password: 'pw' });
    clients.push(viewer);
    const dns = await viewer.readAll('DN');
    expect(dns.length).toBe(5);
    expect(dns.every((d) => d.folder === paris.dbid)).toBe(true);
    await viewer.subscribe({ type: 'DN' });
    const seen: number[] = [];
    viewer.on('notification', (n: Notification) => seen.push(n.seq));
    const arrived = collect(viewer, 'notification', 1);
    const hidden = await writer.create({ type: 'DN', name: '9001', tenant: 1, folder: berlin.dbid, props: { number: '9001', switch: 2 } });
    const shown = await writer.create({ type: 'DN', name: '9002', tenant: 1, folder: paris.dbid, props: { number: '9002', switch: 1 } });
    await arrived;
    expect(seen).toEqual([shown.seq]);
    expect(hidden.seq).toBeLessThan(shown.seq);
    const before = master.source.appliedSeq();
    expect(await codeOf(viewer.update('DN', dns[0].dbid, { state: 'disabled' }))).toBe('PERMISSION_DENIED');
    expect(master.source.appliedSeq()).toBe(before);
  });

  it('master - wrong password is refused with AUTH_FAILED', async () => {
    expect(await codeOf(connect({ endpoints: `127.0.0.1:${master.port}`, user: 'admin', password: 'nope', reconnect: false }))).toBe('AUTH_FAILED');
  });

  it('master - a second master on the same database file is refused, and the first goes on', async () => {
    expect(() => new ConfigDatabase((master.db as ConfigDatabase).path)).toThrow(/in use by another process/);
    const admin = await adminClient(master.port);
    clients.push(admin);
    const [dn] = await admin.readAll('DN');
    const { seq } = await admin.update('DN', dn.dbid, { state: 'disabled' });
    expect(seq).toBe(master.source.appliedSeq());
  });
});
