import { afterEach, describe, expect, it } from 'vitest';
import { ErrorCode, Kind, type ErrorMessage } from '../../protocol/index.js';
import { connect, type CfgClient, type Notification } from '../../src/client/index.js';
import { ProxyServer } from '../../src/proxy/proxy-server.js';
import { ADMIN_PASSWORD, adminClient, collect, startTestMaster } from '../helpers/master.js';
import { startTestProxy } from '../helpers/proxy.js';
import { RawPeer } from '../helpers/raw-peer.js';
import { Relay } from '../helpers/relay.js';

const toClose: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const close of toClose.splice(0).reverse()) await close();
});

async function masterAndProxy(proxyOptions: Parameters<typeof startTestProxy>[2] = {}) {
  const { master, dir, cleanup } = await startTestMaster();
  toClose.push(cleanup);
  const proxy = await startTestProxy(dir, [master.port], proxyOptions);
  toClose.push(() => proxy.stop());
  const writer = await adminClient(master.port);
  toClose.push(() => writer.close());
  return { master, proxy, writer, dir };
}

async function client(port: number, user = 'admin', password = ADMIN_PASSWORD): Promise<CfgClient> {
  const c = await connect({ endpoints: `127.0.0.1:${port}`, user, password });
  toClose.push(() => c.close());
  return c;
}

async function rejection(promise: Promise<unknown>): Promise<{ code?: string }> {
  try {
    await promise;
  } catch (error) {
    return error as { code?: string };
  }
  throw new Error('expected a rejection');
}

describe('proxy', () => {
  it('loads the whole configuration and answers reads like the master, naming itself a proxy', async () => {
    const { master, proxy } = await masterAndProxy();
    const viaMaster = await client(master.port);
    const viaProxy = await client(proxy.port);
    expect(viaProxy.server?.serverKind).toBe('proxy');
    for (const type of ['DN', 'Person', 'Folder', 'Application'] as const) {
      expect(await viaProxy.readAll(type)).toEqual(await viaMaster.readAll(type));
    }
    expect(await viaProxy.readAll('DN', { props: { number: '5003' } })).toHaveLength(1);
    expect(proxy.source.appliedSeq()).toBe(master.source.appliedSeq());
  });

  it('fans out every change to 200 subscribed clients, once each, in order', async () => {
    const { proxy, writer } = await masterAndProxy();
    const clients = await Promise.all(Array.from({ length: 200 }, () => connect({ endpoints: `127.0.0.1:${proxy.port}`, user: 'admin', password: ADMIN_PASSWORD })));
    toClose.push(async () => void (await Promise.all(clients.map((c) => c.close()))));
    await Promise.all(clients.map((c) => c.subscribe({ type: 'Skill' })));
    const received = clients.map(() => [] as number[]);
    const done = Promise.all(clients.map((c, i) => collect<Notification>(c, 'notification', 50).then((ns) => received[i].push(...ns.map((n) => n.seq)))));
    const committed: number[] = [];
    for (let i = 0; i < 50; i += 1) committed.push((await writer.create({ type: 'Skill', name: `fan-${i}`, tenant: 1 })).seq);
    await done;
    for (const seqs of received) expect(seqs).toEqual(committed);
  });

  it('logs in persons created or changed after the load, from the hashes the master sent', async () => {
    const { proxy, writer } = await masterAndProxy();
    const { dbid, seq } = await writer.create({ type: 'Person', name: 'late', tenant: 1, props: { password: 'first-pass' } });
    await proxy.source.waitForSeq(seq, 5000);
    await (await client(proxy.port, 'late', 'first-pass')).close();
    const changed = await writer.update('Person', dbid, { props: { password: 'second-pass' } });
    await proxy.source.waitForSeq(changed.seq, 5000);
    expect((await rejection(client(proxy.port, 'late', 'first-pass'))).code).toBe(ErrorCode.AUTH_FAILED);
    await client(proxy.port, 'late', 'second-pass');
  });

  it('filters reads and notifications by the client permissions, as the master does', async () => {
    const { proxy, writer } = await masterAndProxy();
    const paris = (await writer.readAll('Folder', { name: 'Paris' }))[0];
    const { seq } = await writer.create({
      type: 'Person',
      name: 'paris-viewer',
      tenant: 1,
      props: { password: 'pw-paris', grants: [{ on: 'folder', target: paris.dbid, access: 'read' }] },
    });
    await proxy.source.waitForSeq(seq, 5000);
    const viewer = await client(proxy.port, 'paris-viewer', 'pw-paris');
    const dns = await viewer.readAll('DN');
    expect(dns.length).toBeGreaterThan(0);
    expect(dns.every((dn) => dn.folder === paris.dbid)).toBe(true);
    await viewer.subscribe({ type: 'DN' });
    const seen: Notification[] = [];
    viewer.on('notification', (n: Notification) => seen.push(n));
    const berlin = (await writer.readAll('Folder', { name: 'Berlin' }))[0];
    const sw = (await writer.readAll('Switch', { name: 'SIP_Switch_Paris' }))[0];
    await writer.create({ type: 'DN', name: 'b-1', tenant: 1, folder: berlin.dbid, props: { number: 'b-1', switch: sw.dbid } });
    const visible = await writer.create({ type: 'DN', name: 'p-1', tenant: 1, folder: paris.dbid, props: { number: 'p-1', switch: sw.dbid } });
    while (seen.length < 1) await new Promise((resolve) => viewer.once('notification', resolve));
    expect(seen.map((n) => n.seq)).toEqual([visible.seq]);
  });

  it('--scope keeps only the listed folders (plus environment objects and folders)', async () => {
    const { master, dir } = await (async () => {
      const m = await startTestMaster();
      toClose.push(m.cleanup);
      return m;
    })();
    const writer = await adminClient(master.port);
    toClose.push(() => writer.close());
    const paris = (await writer.readAll('Folder', { name: 'Paris' }))[0];
    const proxy = await startTestProxy(dir, [master.port], { scope: `folder:${paris.dbid}` });
    toClose.push(() => proxy.stop());
    const viaProxy = await client(proxy.port);
    const dns = await viaProxy.readAll('DN');
    expect(dns.length).toBe(5);
    expect(dns.every((dn) => dn.folder === paris.dbid)).toBe(true);
    expect((await viaProxy.readAll('Tenant')).length).toBe(1);
    // An object moved into the scope arrives whole; one moved out leaves.
    const berlinDn = (await writer.readAll('DN', { name: '5002' }))[0];
    const seen: Notification[] = [];
    await viaProxy.subscribe({ type: 'DN' });
    viaProxy.on('notification', (n: Notification) => seen.push(n));
    const movedIn = await writer.update('DN', berlinDn.dbid, { folder: paris.dbid });
    await proxy.source.waitForSeq(movedIn.seq, 5000);
    expect(proxy.source.store.get('DN', berlinDn.dbid)?.folder).toBe(paris.dbid);
    const berlin = (await writer.readAll('Folder', { name: 'Berlin' }))[0];
    const movedOut = await writer.update('DN', berlinDn.dbid, { folder: berlin.dbid });
    await proxy.source.waitForSeq(movedOut.seq, 5000);
    expect(proxy.source.store.get('DN', berlinDn.dbid)).toBeUndefined();
    while (seen.length < 2) await new Promise((resolve) => viaProxy.once('notification', resolve));
    expect(seen.map((n) => [n.kind, n.seq])).toEqual([
      [9, movedIn.seq],
      [11, movedOut.seq],
    ]);
  });

  it('refuses writes when read-only, and forwards them under the client identity when writable', async () => {
    const readOnly = await masterAndProxy();
    const roClient = await client(readOnly.proxy.port);
    expect((await rejection(roClient.create({ type: 'Skill', name: 'nope', tenant: 1 }))).code).toBe(ErrorCode.READ_ONLY);

    const { master, dir } = readOnly;
    const proxy = await startTestProxy(dir, [master.port], { writable: true });
    toClose.push(() => proxy.stop());
    const viaProxy = await client(proxy.port);
    const created = await viaProxy.create({ type: 'Skill', name: 'via-proxy', tenant: 1 });
    // Read-your-write at the same proxy: the reply came after the proxy applied the change.
    expect(await viaProxy.readAll('Skill', { dbid: created.dbid })).toHaveLength(1);
    expect(master.source.store.get('Skill', created.dbid)?.name).toBe('via-proxy');

    const { seq } = await readOnly.writer.create({ type: 'Person', name: 'reader', tenant: 1, props: { password: 'pw-reader', grants: [{ on: 'tenant', target: 1, access: 'read' }] } });
    await proxy.source.waitForSeq(seq, 5000);
    const reader = await client(proxy.port, 'reader', 'pw-reader');
    const before = master.source.appliedSeq();
    expect((await rejection(reader.create({ type: 'Skill', name: 'denied', tenant: 1 }))).code).toBe(ErrorCode.PERMISSION_DENIED);
    expect(master.source.appliedSeq()).toBe(before);
  });

  it('refuses clients with PROXY_LOADING until it has loaded, then serves them', async () => {
    const { master, dir, cleanup } = await startTestMaster();
    toClose.push(cleanup);
    const relay = await Relay.start(master.port);
    toClose.push(() => relay.close());
    relay.cut();
    const proxy = await ProxyServer.start({ masters: [`127.0.0.1:${relay.port}`], user: 'admin', password: ADMIN_PASSWORD, port: 0, historyDb: `${dir}/loading.db` });
    toClose.push(() => proxy.stop());
    expect((await rejection(client(proxy.port))).code).toBe(ErrorCode.PROXY_LOADING);
    // Nor does it take a standby connection: it cannot check credentials yet.
    const standby = await RawPeer.connect(proxy.port);
    toClose.push(() => standby.close());
    standby.send({ kind: Kind.Standby, id: 1, user: 'admin', password: ADMIN_PASSWORD, remoteTimeoutMs: 10000 });
    expect(((await standby.waitFor((m) => m.kind === Kind.Error)) as ErrorMessage).code).toBe(ErrorCode.PROXY_LOADING);
    relay.heal();
    await proxy.loaded();
    await client(proxy.port);
  });

  it('restores a client that comes back with its lastSeq from its own history log', async () => {
    const { proxy, writer } = await masterAndProxy();
    const relay = await Relay.start(proxy.port);
    toClose.push(() => relay.close());
    const watcher = await client(relay.port);
    await watcher.subscribe({ type: 'Skill' });
    const seen: number[] = [];
    const restored: boolean[] = [];
    watcher.on('notification', (n: Notification) => seen.push(n.seq));
    watcher.on('connected', (info: { restored: boolean }) => restored.push(info.restored));
    const disconnected = new Promise((resolve) => watcher.once('disconnected', resolve));
    relay.cut();
    await disconnected;
    const committed: number[] = [];
    for (let i = 0; i < 5; i += 1) committed.push((await writer.create({ type: 'Skill', name: `missed-${i}`, tenant: 1 })).seq);
    await proxy.source.waitForSeq(committed.at(-1)!, 5000);
    const reconnected = new Promise((resolve) => watcher.once('connected', resolve));
    relay.heal();
    await reconnected;
    while (seen.length < 5) await new Promise((resolve) => watcher.once('notification', resolve));
    expect(seen).toEqual(committed);
    expect(restored).toEqual([true]);
  });
});
