import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { HaKind } from '../../protocol/index.js';
import { ADMIN_PASSWORD, startTestMaster } from '../helpers/master.js';
import { freePort, startCli, type CliProcess } from '../helpers/processes.js';
import { RawPeer } from '../helpers/raw-peer.js';
import { scenarioHooks } from '../helpers/scenario.js';

const { toClose, tempDir } = scenarioHooks('ha-guessing');

/** One guess at the pair secret: wait for the challenge, answer it with a proof that cannot be right. */
async function wrongHello(haPort: number, from: string): Promise<'refused' | 'turned-away'> {
  const peer = await RawPeer.connect(haPort, { ha: true, from });
  try {
    const challenge = await Promise.race([peer.waitFor((m) => (m.kind as number) === HaKind.Challenge), peer.closed.then(() => undefined)]);
    if (!challenge) return 'turned-away';
    peer.send({ kind: HaKind.Hello, versions: [1], pairName: 'default', masters: ['x'], nonce: 'ab'.repeat(16), proof: 'cd'.repeat(32), role: 'backup', clientEndpoint: '127.0.0.1:1' });
    await peer.closed;
    return 'refused';
  } finally {
    await peer.close();
  }
}

const logBytes = (process: CliProcess): number => process.lines.reduce((sum, line) => sum + JSON.stringify(line).length + 1, 0);

describe('guessing the pair secret [PROTO-HA-13]', () => {
  it('ha - 10 s of wrong Hellos, from one range and from rotating ranges: the pair stays linked, the range is turned away, and the primary logs under 100 KB', async () => {
    const dir = tempDir();
    const { master, cleanup } = await startTestMaster();
    toClose.push(cleanup);
    const [haPort, adminA, portA, portB] = await Promise.all([freePort(), freePort(), freePort(), freePort()]);
    const common = ['--master', `127.0.0.1:${master.port}`, '--user', 'admin', '--master-addp', '1'];
    const env = { CFGPROXY_PROXY_PASSWORD: ADMIN_PASSWORD, CFGPROXY_HA_SECRET: 'guess-me' };
    const primary = await startCli(['proxy', ...common, '--role', 'primary', '--port', String(portA), '--ha-port', String(haPort), '--admin-port', String(adminA), '--history-db', join(dir, 'a.db')], 'proxy listening (loading)', env);
    const backup = await startCli(['proxy', ...common, '--role', 'backup', '--port', String(portB), '--peer', `127.0.0.1:${haPort}`, '--history-db', join(dir, 'b.db')], 'proxy listening (loading)', env);
    await backup.waitForLog((line) => line.msg === 'HA link up');
    const before = logBytes(primary);

    const outcomes = { refused: 0, 'turned-away': 0 };
    const until = performance.now() + 10_000;
    let i = 0;
    const guesser = async (rotate: boolean): Promise<void> => {
      while (performance.now() < until) {
        i += 1;
        const from = rotate ? `127.${10 + (i % 200)}.${i % 250}.1` : `127.0.7.${1 + (i % 250)}`;
        outcomes[await wrongHello(haPort, from)] += 1;
      }
    };
    await Promise.all([guesser(false), guesser(false), guesser(true), guesser(true)]);

    expect(outcomes.refused + outcomes['turned-away']).toBeGreaterThan(500);
    expect(outcomes['turned-away']).toBeGreaterThan(outcomes.refused / 10);
    expect(logBytes(primary) - before).toBeLessThan(100_000);
    // The link never went down, and it is up now.
    expect([...primary.lines, ...backup.lines].filter((line) => line.event === 'HA-002')).toEqual([]);
    const ha = (await (await fetch(`http://127.0.0.1:${adminA}/ha`)).json()) as { link?: string; linkUp?: boolean };
    expect(JSON.stringify(ha)).toMatch(/"link(Up)?":\s*("up"|true)/);
    expect(primary.lines.some((line) => line.event === 'HA-020')).toBe(true);
  }, 40_000);
});
