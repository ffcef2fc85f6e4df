import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ErrorCode } from '../../protocol/index.js';
import { connect, type CfgClient, type Notification } from '../../src/client/index.js';
import { ProxyServer } from '../../src/proxy/proxy-server.js';
import { freePort, killed, startMasterProcess } from '../helpers/processes.js';
import { scenarioHooks } from '../helpers/scenario.js';

const { toClose, tempDir } = scenarioHooks('proxy-failover');

const PASSWORD = 'proxy-failover';


async function client(port: number, user = 'admin', password = PASSWORD): Promise<CfgClient> {
  const c = await connect({ endpoints: `127.0.0.1:${port}`, user, password });
  toClose.push(() => c.close());
  return c;
}

function nextNotifications(c: CfgClient, count: number): Promise<number[]> {
  const seqs: number[] = [];
  return new Promise((resolve) => {
    const on = (n: Notification): void => {
      seqs.push(n.seq);
      if (seqs.length === count) {
        c.off('notification', on);
        resolve(seqs);
      }
    };
    c.on('notification', on);
  });
}

describe('proxy with a master process that dies', () => {
  it('proxy - master SIGKILLed: reads, logins and subscriptions go on, writes fail fast; restarted: the proxy catches up', async () => {
    const dir = tempDir();
    const port = await freePort();
    const dbPath = join(dir, 'master.db');
    let master = await startMasterProcess(dbPath, PASSWORD, port);
    const proxy = await ProxyServer.start({
      masters: [`127.0.0.1:${port}`],
      user: 'admin',
      password: PASSWORD,
      port: 0,
      writable: true,
      historyDb: join(dir, 'proxy.db'),
      upstreamAddp: { localTimeoutMs: 1000, remoteTimeoutMs: 1000 },
    });
    toClose.push(() => proxy.stop());
    await proxy.loaded();

    const writer = await client(port);
    const viaProxy = await client(proxy.port);
    await viaProxy.subscribe({ type: 'Skill' });
    const before = (await writer.create({ type: 'Skill', name: 'before-kill' })).seq;
    expect(await nextNotifications(viaProxy, 1)).toEqual([before]);
    await writer.close();

    const lost = new Promise((resolve) => proxy.upstream.once('disconnected', resolve));
    await killed(master.child);
    await lost;

    // The master is gone: the proxy still serves reads, new logins and subscriptions.
    expect((await viaProxy.readAll('Skill')).map((s) => s.name)).toContain('before-kill');
    const late = await client(proxy.port);
    await late.subscribe({ type: 'Skill' });
    expect((await late.readAll('Person', { name: 'admin' })).length).toBe(1);
    // Writes fail at once with a code that says why; nothing is queued.
    const started = Date.now();
    await expect(viaProxy.create({ type: 'Skill', name: 'while-down' })).rejects.toMatchObject({ code: ErrorCode.MASTER_UNAVAILABLE });
    expect(Date.now() - started).toBeLessThan(1000);

    // The master comes back (same database, same port): the proxy catches up from its change log.
    master = await startMasterProcess(dbPath, PASSWORD, port);
    const writer2 = await client(port);
    const missed: number[] = [];
    const expectBoth = Promise.all([nextNotifications(viaProxy, 3), nextNotifications(late, 3)]);
    for (let i = 0; i < 3; i += 1) missed.push((await writer2.create({ type: 'Skill', name: `after-${i}` })).seq);
    const [first, second] = await expectBoth;
    expect(first).toEqual(missed);
    expect(second).toEqual(missed);
    expect(proxy.source.appliedSeq()).toBe(missed.at(-1));
    // And writes through the proxy work again.
    const again = await viaProxy.create({ type: 'Skill', name: 'after-restart' });
    expect((await viaProxy.readAll('Skill', { dbid: again.dbid })).length).toBe(1);
  });
});
