import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ErrorCode, Kind, type ErrorMessage } from '../../protocol/index.js';
import { connect } from '../../src/client/index.js';
import { freePort, killed, startCli, startProxyProcess, type CliProcess } from '../helpers/processes.js';
import { RawPeer } from '../helpers/raw-peer.js';
import { scenarioHooks } from '../helpers/scenario.js';

const { tempDir, toClose } = scenarioHooks('lockout');

const PASSWORD = 'lockout-admin';
const RELAY_PASSWORD = 'lockout-relay';

/** One wrong login for `user` from `from`: LoginStart, then a proof that cannot be right; the answer is not waited for. */
async function wrongProof(port: number, user: string, from: string): Promise<string | undefined> {
  let peer: RawPeer;
  try {
    peer = await RawPeer.connect(port, { from });
  } catch {
    return undefined;
  }
  try {
    peer.send({ kind: Kind.LoginStart, id: 1, user, nonce: 'YXR0YWNr' });
    const challenge = await Promise.race([peer.waitFor((m) => 'id' in m && m.id === 1), peer.closed.then(() => undefined)]);
    if (!challenge || challenge.kind === Kind.Error) return challenge?.kind === Kind.Error ? (challenge as ErrorMessage).code : undefined;
    peer.send({ kind: Kind.Register, id: 2, versions: [1], clientName: 'attacker', clientType: 'sdk', user, proof: Buffer.alloc(32, 7).toString('base64') });
    return undefined;
  } finally {
    // Abandoned at once, as an attacker who does not wait for late answers would.
    setTimeout(() => void peer.close(), 50);
  }
}

/** An address in a /24 of its own: the rotation the per-range limit cannot see. */
function rotatingAddress(i: number): string {
  return `127.${1 + (Math.floor(i / 250) % 250)}.${1 + (i % 250)}.${1 + (i % 7)}`;
}

async function metric(adminPort: number, pattern: RegExp): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${adminPort}/metrics`)).text();
  return Number(pattern.exec(text)?.[1] ?? 0);
}

describe('lockout is not a weapon [PROTO-LIMIT-4]', () => {
  it('lockout - wrong proofs for admin and the proxy account from rotating addresses, against master and proxy: the owner logs in every time, and a proxy restarted meanwhile logs in to its master', async () => {
    const dir = tempDir();
    const masterPort = await freePort();
    const masterAdmin = await freePort();
    const master: CliProcess = await startCli(['master', '--db', join(dir, 'master.db'), '--port', String(masterPort), '--admin-port', String(masterAdmin)], 'master listening', { CFGPROXY_ADMIN_PASSWORD: PASSWORD });
    toClose.push(() => killed(master.child));
    const admin = await connect({ endpoints: `127.0.0.1:${masterPort}`, user: 'admin', password: PASSWORD, reconnect: false, standby: false });
    toClose.push(() => admin.close());
    await admin.create({ type: 'Person', name: 'relay', props: { isProxy: true, password: RELAY_PASSWORD } });
    const proxyArgs = ['--master', `127.0.0.1:${masterPort}`, '-u', 'relay', '-p', RELAY_PASSWORD, '--history-db', join(dir, 'proxy.db'), '--master-addp', '1'];
    let proxy = await startProxyProcess(proxyArgs);

    let attacking = true;
    let sent = 0;
    const attacker = (async () => {
      while (attacking) {
        const i = sent;
        sent += 1;
        const target = i % 2 === 0 ? masterPort : proxy.port;
        await wrongProof(target, i % 3 === 0 ? 'admin' : 'relay', rotatingAddress(i));
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
    })();

    const ownerLogins: Array<{ ms: number; code?: string }> = [];
    const ownerLogsIn = async (port: number): Promise<void> => {
      const started = performance.now();
      try {
        await (await connect({ endpoints: `127.0.0.1:${port}`, user: 'admin', password: PASSWORD, reconnect: false, standby: false })).close();
        ownerLogins.push({ ms: performance.now() - started });
      } catch (error) {
        ownerLogins.push({ ms: performance.now() - started, code: (error as { code?: string }).code });
      }
    };
    while (sent < 60) await ownerLogsIn(sent % 2 === 0 ? masterPort : proxy.port);

    // The proxy restarts in the middle of the attack and must log in to its master.
    await killed(proxy.child);
    proxy = await startProxyProcess(proxyArgs);
    await proxy.waitForLog((line) => line.msg === 'connected to the master');
    while (sent < 200) await ownerLogsIn(sent % 2 === 0 ? masterPort : proxy.port);
    attacking = false;
    await attacker;

    expect(ownerLogins.filter((login) => login.code !== undefined)).toEqual([]);
    expect(ownerLogins.length).toBeGreaterThan(10);
    expect(Math.max(...ownerLogins.map((login) => login.ms))).toBeLessThan(1500);
    expect(proxy.lines.some((line) => line.event === 'PROXY-004')).toBe(false);
    expect(await metric(masterAdmin, /cfgproxy_logins_throttled_total\{reason="account"\} (\d+)/)).toBeGreaterThan(10);
    // The proxy serves what the master holds, logged in as itself.
    const viaProxy = await connect({ endpoints: `127.0.0.1:${proxy.port}`, user: 'admin', password: PASSWORD, reconnect: false, standby: false });
    toClose.push(() => viaProxy.close());
    expect((await viaProxy.readAll('Person', { name: 'relay' })).length).toBe(1);
  });

  it('lockout - rotating addresses inside one /24 is still one source: that range is refused, another range logs in', async () => {
    const dir = tempDir();
    const masterPort = await freePort();
    const master = await startCli(['master', '--db', join(dir, 'master.db'), '--port', String(masterPort)], 'master listening', { CFGPROXY_ADMIN_PASSWORD: PASSWORD });
    toClose.push(() => killed(master.child));
    const codes: Array<string | undefined> = [];
    for (let i = 0; i < 30; i += 1) codes.push(await wrongProof(masterPort, `nobody-${i}`, `127.9.9.${1 + i}`));
    // The per-range limit: 20 failures, then LOGIN_THROTTLED at LoginStart, whatever the address in the range.
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(await wrongProof(masterPort, 'nobody', '127.9.9.250')).toBe(ErrorCode.LOGIN_THROTTLED);
    expect(codes.filter((code) => code === ErrorCode.LOGIN_THROTTLED).length).toBeGreaterThan(5);
    const owner = await connect({ endpoints: `127.0.0.1:${masterPort}`, user: 'admin', password: PASSWORD, reconnect: false, standby: false });
    await owner.close();
  });
});
