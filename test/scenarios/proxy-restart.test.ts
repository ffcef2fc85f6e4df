import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { connect, type CfgClient, type Notification } from '../../src/client/index.js';
import { freePort, killed, startCli, startMasterProcess, startProxyProcess } from '../helpers/processes.js';
import { requireCapability } from '../helpers/tools.js';
import { scenarioHooks } from '../helpers/scenario.js';

const { toClose, tempDir } = scenarioHooks('restart');
// A real full disk needs a small file system: a tmpfs, which only root may mount.
const haveTmpfs = requireCapability('mounting a tmpfs (root)', process.getuid?.() === 0 && canMountTmpfs());

const PASSWORD = 'proxy-restart';



/** An SDK client of the proxy that records every notification seq and every reset. */
interface Watcher {
  client: CfgClient;
  seqs: number[];
  resets: number;
}

async function watcher(port: number): Promise<Watcher> {
  const client = await connect({ endpoints: `127.0.0.1:${port}`, user: 'admin', password: PASSWORD, standby: false });
  toClose.push(() => client.close());
  const w: Watcher = { client, seqs: [], resets: 0 };
  client.on('notification', (n: Notification) => w.seqs.push(n.seq));
  client.on('reset', () => (w.resets += 1));
  await client.subscribe({ type: 'Skill' });
  return w;
}

function allReached(watchers: Watcher[], seq: number): Promise<void> {
  return Promise.all(
    watchers.map((w) => (w.client.lastSeq >= seq ? undefined : new Promise<void>((resolve) => w.client.on('notification', (n: Notification) => n.seq >= seq && resolve())))),
  ).then(() => undefined);
}

async function createSkills(c: CfgClient, prefix: string, count: number): Promise<number[]> {
  const seqs: number[] = [];
  for (let i = 0; i < count; i += 1) seqs.push((await c.create({ type: 'Skill', name: `${prefix}-${i}` })).seq);
  return seqs;
}

describe('a proxy restarted on its history log', () => {
  it('restart - SIGKILL of a proxy with 200 subscribed clients, restarted on its history db: every client is restored, 0 resets, 0 lost, 0 duplicated', async () => {
    const dir = tempDir();
    const master = await startMasterProcess(join(dir, 'master.db'), PASSWORD);
    const writer = await connect({ endpoints: `127.0.0.1:${master.port}`, user: 'admin', password: PASSWORD, reconnect: false });
    toClose.push(() => writer.close());
    const args = ['--master', `127.0.0.1:${master.port}`, '-u', 'admin', '-p', PASSWORD, '--history-db', join(dir, 'proxy.db'), '--master-addp', '1'];
    let proxy = await startProxyProcess(args);
    const watchers: Watcher[] = [];
    for (let i = 0; i < 200; i += 1) watchers.push(await watcher(proxy.port));

    const committed = await createSkills(writer, 'before', 20);
    await allReached(watchers, committed.at(-1)!);
    await killed(proxy.child);
    committed.push(...(await createSkills(writer, 'while-down', 20)));

    // The same port and history db: the cache comes back from the file and catches up from the master.
    proxy = await startCli(['proxy', '--port', String(proxy.port), ...args], 'proxy listening (loading)').then((p) => ({ ...p, port: proxy.port }));
    const resumed = await proxy.waitForLog((line) => line.event === 'PROXY-002');
    expect(resumed.seq).toBeGreaterThanOrEqual(committed[19]);
    expect(proxy.lines.some((line) => line.msg === 'configuration loaded')).toBe(false); // no snapshot load
    committed.push(...(await createSkills(writer, 'after', 20)));
    await allReached(watchers, committed.at(-1)!);

    for (const w of watchers) {
      expect(w.resets).toBe(0);
      expect(w.seqs).toEqual(committed);
    }
  }, 60_000);

  it.runIf(haveTmpfs)('restart - the history db on a full file system: the proxy keeps serving, says so on /health and /metrics, and recovers when space returns', async () => {
    const dir = tempDir();
    const small = join(dir, 'small');
    mkdirSync(small);
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=3m', 'tmpfs', small]);
    toClose.push(async () => void execFileSync('umount', ['-l', small]));
    const master = await startMasterProcess(join(dir, 'master.db'), PASSWORD);
    const writer = await connect({ endpoints: `127.0.0.1:${master.port}`, user: 'admin', password: PASSWORD, reconnect: false });
    toClose.push(() => writer.close());
    const adminPort = String(await freePort());
    const args = ['--master', `127.0.0.1:${master.port}`, '-u', 'admin', '-p', PASSWORD, '--history-db', join(small, 'proxy.db'), '--admin-port', adminPort];
    const proxy = await startProxyProcess(args);
    const w = await watcher(proxy.port);

    // Fill the file system to the last byte.
    const filler = join(small, 'filler');
    try {
      execFileSync('dd', ['if=/dev/zero', `of=${filler}`, 'bs=64k'], { stdio: 'ignore' });
    } catch {
      // dd stops with "No space left on device": that is the point
    }
    const pad = 'z'.repeat(2000);
    const committed: number[] = [];
    for (let i = 0; i < 30; i += 1) committed.push((await writer.create({ type: 'Skill', name: `full-${i}`, options: { pad: { pad } } })).seq);
    await proxy.waitForLog((line) => line.event === 'HIST-001');
    await allReached([w], committed.at(-1)!);
    expect(w.seqs).toEqual(committed); // clients noticed nothing
    const health = await fetch(`http://127.0.0.1:${adminPort}/health`);
    expect(health.status).toBe(200);
    expect(await health.text()).toMatch(/history log failing/);
    expect(await (await fetch(`http://127.0.0.1:${adminPort}/metrics`)).text()).toMatch(/^cfgproxy_history_failing 1$/m);

    rmSync(filler);
    await proxy.waitForLog((line) => line.event === 'HIST-002');
    expect(await (await fetch(`http://127.0.0.1:${adminPort}/health`)).text()).not.toMatch(/failing/);
    expect(await (await fetch(`http://127.0.0.1:${adminPort}/metrics`)).text()).toMatch(/^cfgproxy_history_failing 0$/m);
    // The recovery wrote a complete image, and the file follows again: a restart resumes at the newest seq.
    const last = (await writer.create({ type: 'Skill', name: 'after-recovery' })).seq;
    await allReached([w], last);
    await killed(proxy.child);
    const again = await startProxyProcess(args);
    const resumed = again.lines.find((line) => line.event === 'PROXY-002');
    expect(resumed?.seq).toBe(last);
  }, 60_000);
});

function canMountTmpfs(): boolean {
  const probe = mkdtempSync(join(tmpdir(), 'cfgproxy-mount-'));
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', probe], { stdio: 'ignore' });
    execFileSync('umount', [probe]);
    return true;
  } catch {
    return false;
  } finally {
    rmSync(probe, { recursive: true, force: true });
  }
}
