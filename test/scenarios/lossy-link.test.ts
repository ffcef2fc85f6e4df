import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { connect, type CfgClient } from '../../src/client/index.js';
import { Mirror, snapshotOf } from '../helpers/mirror.js';
import { freePort, startMasterProcess, startProxyProcess } from '../helpers/processes.js';
import { Relay } from '../helpers/relay.js';
import { scenarioHooks } from '../helpers/scenario.js';

const { toClose, tempDir } = scenarioHooks('lossy');

const PASSWORD = 'lossy-scenario';

async function client(port: number): Promise<CfgClient> {
  const c = await connect({ endpoints: `127.0.0.1:${port}`, user: 'admin', password: PASSWORD, standby: false });
  toClose.push(() => c.close());
  return c;
}

describe('gapless means checked [PROTO-SEQ-2]', () => {
  it('lossy - a relay that throws away what the master sends (connections kept open), three times during a write stream: the proxy notices, catches up, and its subscriber gets every change once, in order', async () => {
    const dir = tempDir();
    const masterPort = await freePort();
    await startMasterProcess(join(dir, 'master.db'), PASSWORD, masterPort);
    const relay = await Relay.start(masterPort, { lossy: true });
    toClose.push(() => relay.close());
    const proxy = await startProxyProcess(['--master', `127.0.0.1:${relay.port}`, '-u', 'admin', '-p', PASSWORD, '--history-db', join(dir, 'proxy.db'), '--master-addp', '1']);
    const subscriber = await client(proxy.port);
    const seen: number[] = [];
    subscriber.on('notification', (n: { seq: number }) => seen.push(n.seq));
    await subscriber.subscribe({ type: 'Skill' });
    const writer = await client(masterPort);

    const written: number[] = [];
    let writing = true;
    const writes = (async () => {
      for (let i = 0; writing; i += 1) {
        written.push((await writer.create({ type: 'Skill', name: `lossy-${i}` })).seq);
        if (i % 20 === 19) await new Promise((resolve) => setTimeout(resolve, 5));
      }
    })();
    for (let cut = 0; cut < 3; cut += 1) {
      await new Promise((resolve) => setTimeout(resolve, 700));
      relay.discard();
      await new Promise((resolve) => setTimeout(resolve, 400));
      relay.keep();
    }
    await new Promise((resolve) => setTimeout(resolve, 300));
    writing = false;
    await writes;
    const last = written[written.length - 1];
    await new Promise<void>((resolve) => {
      if (seen.includes(last)) return resolve();
      subscriber.on('notification', (n: { seq: number }) => n.seq === last && resolve());
    });

    expect(relay.discardedBytes).toBeGreaterThan(0);
    expect(seen).toEqual(written);
    // The proxy said what happened: a broken stream, or a link that carried no whole frame.
    expect(proxy.lines.some((line) => line.event === 'PROXY-005' || /ADDP|UNDECODABLE|FRAME/.test(JSON.stringify(line)))).toBe(true);
    const mirror = await Mirror.follow(await client(proxy.port));
    expect(mirror.sorted()).toEqual(await snapshotOf(writer));
  }, 60_000);
});
