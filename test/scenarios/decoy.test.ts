import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Kind, type LoginChallengeMessage } from '../../protocol/index.js';
import { freePort, killed, startMasterProcess, startProxyProcess } from '../helpers/processes.js';
import { RawPeer } from '../helpers/raw-peer.js';
import { scenarioHooks } from '../helpers/scenario.js';

const { tempDir, toClose } = scenarioHooks('decoy');

const PASSWORD = 'decoy-scenario';

/** What a LoginStart for `user` answers on `port`: salt and cost, the nonce left out. */
async function challenge(port: number, user: string): Promise<Omit<LoginChallengeMessage, 'nonce' | 'id' | 'kind'>> {
  const peer = await RawPeer.connect(port);
  toClose.push(() => peer.close());
  peer.send({ kind: Kind.LoginStart, id: 1, user, nonce: 'bm9uY2U=' });
  const answer = (await peer.waitFor((m) => m.kind === Kind.LoginChallenge)) as LoginChallengeMessage;
  await peer.close();
  return { salt: answer.salt, n: answer.n, r: answer.r, p: answer.p };
}

describe('one decoy per deployment', () => {
  it('decoy - a name that does not exist gets the same salt and cost from master and proxy, and across restarts of both; shaped as a real account’s', async () => {
    const dir = tempDir();
    const masterPort = await freePort();
    let master = await startMasterProcess(join(dir, 'master.db'), PASSWORD, masterPort);
    const proxyArgs = ['--master', `127.0.0.1:${masterPort}`, '-u', 'admin', '-p', PASSWORD, '--history-db', join(dir, 'proxy.db')];
    let proxy = await startProxyProcess(proxyArgs);

    const unknown = ['nobody', 'root', 'a'.repeat(200)];
    const fromMaster = await Promise.all(unknown.map((user) => challenge(masterPort, user)));
    const fromProxy = await Promise.all(unknown.map((user) => challenge(proxy.port, user)));
    expect(fromProxy).toEqual(fromMaster);
    // Different names, different salts; a real account's answer has the same shape.
    expect(new Set(fromMaster.map((c) => c.salt)).size).toBe(unknown.length);
    const real = await challenge(masterPort, 'admin');
    expect(await challenge(proxy.port, 'admin')).toEqual(real);
    expect({ n: real.n, r: real.r, p: real.p, saltBytes: Buffer.from(real.salt, 'base64').length }).toEqual({ n: fromMaster[0].n, r: fromMaster[0].r, p: fromMaster[0].p, saltBytes: Buffer.from(fromMaster[0].salt, 'base64').length });

    await killed(proxy.child);
    await killed(master.child);
    master = await startMasterProcess(join(dir, 'master.db'), PASSWORD, masterPort);
    expect(await Promise.all(unknown.map((user) => challenge(masterPort, user)))).toEqual(fromMaster);
    // A proxy restarted on its history log, before and after it reaches the master again.
    await killed(master.child);
    proxy = await startProxyProcess(proxyArgs);
    expect(await Promise.all(unknown.map((user) => challenge(proxy.port, user)))).toEqual(fromMaster);
  });
});
