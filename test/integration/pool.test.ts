import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { connect, type CfgClient, type Notification } from '../../src/client/index.js';
import { ADMIN_PASSWORD, adminClient, startTestMaster } from '../helpers/master.js';
import { children, freePort, killAll } from '../helpers/processes.js';
import { startTestProxy } from '../helpers/proxy.js';
import { readmeBlock } from '../helpers/readme.js';
import { requireTool } from '../helpers/tools.js';

const haveHaproxy = requireTool('haproxy');
const toClose: Array<() => Promise<void>> = [];
afterEach(async () => {
  killAll();
  for (const close of toClose.splice(0).reverse()) await close();
});

/**
 * The README's HAProxy configuration, run for real: only the addresses move (the frontend to a free
 * port here, the members from 10.0.0.x to these proxies and their admin ports).
 */
function startHaproxy(dir: string, frontendPort: number, members: Array<{ port: number; adminPort: number }>): void {
  let memberIndex = 0;
  const config = readmeBlock('haproxy')
    .map((line) => line.replace(/bind :9030/, `bind 127.0.0.1:${frontendPort}`))
    .map((line) => {
      if (!/^\s*server p\d 10\.0\.0\.\d+:9030 check port 9031/.test(line)) return line;
      const member = members[memberIndex++];
      return line.replace(/10\.0\.0\.\d+:9030 check port 9031/, `127.0.0.1:${member.port} check port ${member.adminPort}`);
    });
  expect(memberIndex).toBe(members.length);
  const file = join(dir, 'haproxy.cfg');
  writeFileSync(file, `${config.join('\n')}\n`);
  const child = spawn('haproxy', ['-db', '-f', file], { stdio: 'ignore' });
  children.push(child);
}

/** Connects through the balancer, retrying while HAProxy starts. */
async function connectThrough(port: number): Promise<CfgClient> {
  for (let attempt = 0; ; attempt += 1) {
    try {
      return await connect({ endpoints: `127.0.0.1:${port}`, user: 'admin', password: ADMIN_PASSWORD, connectTimeoutMs: 1000 });
    } catch (error) {
      if (attempt > 50) throw error;
      await new Promise((resolve) => setTimeout(resolve, 100)); // HAProxy is still starting
    }
  }
}

describe.runIf(haveHaproxy)('pool behind HAProxy', () => {
  it('pool - behind HAProxy started with the README\'s configuration, a client loses its proxy and is restored by another member of the pool, missing nothing', async () => {
    const { master, dir, cleanup } = await startTestMaster();
    toClose.push(cleanup);
    const members = await Promise.all(['p1', 'p2'].map((name) => startTestProxy(dir, [master.port], { serverName: name, adminPort: 0 })));
    const running = new Set(members);
    toClose.push(async () => void (await Promise.all([...running].map((m) => m.stop()))));
    const frontendPort = await freePort();
    startHaproxy(dir, frontendPort, members.map((m) => ({ port: m.port, adminPort: m.admin!.port })));

    const client = await connectThrough(frontendPort);
    toClose.push(() => client.close());
    await client.subscribe({ type: 'Skill' });
    const seen: number[] = [];
    let resets = 0;
    client.on('notification', (n: Notification) => seen.push(n.seq));
    client.on('reset', () => (resets += 1));
    const writer = await adminClient(master.port);
    toClose.push(() => writer.close());
    const committed: number[] = [];
    for (let i = 0; i < 5; i += 1) committed.push((await writer.create({ type: 'Skill', name: `pool-a-${i}`, tenant: 1 })).seq);
    while (seen.length < 5) await new Promise((resolve) => client.once('notification', resolve));

    const serving = members.find((m) => m.source.serverName === client.server?.serverName)!;
    const other = members.find((m) => m !== serving)!;
    const back = new Promise<{ restored: boolean }>((resolve) => client.once('connected', resolve));
    running.delete(serving);
    await serving.stop();
    for (let i = 0; i < 5; i += 1) committed.push((await writer.create({ type: 'Skill', name: `pool-b-${i}`, tenant: 1 })).seq);
    expect(await back).toMatchObject({ restored: true });
    expect(client.server?.serverName).toBe(other.source.serverName);
    while (seen.length < 10) await new Promise((resolve) => client.once('notification', resolve));
    expect(seen).toEqual(committed);
    expect(resets).toBe(0);
  });

  it.runIf(haveHaproxy)('pool - the README\'s HAProxy example passes haproxy -c as written, without a warning', () => {
    const dir = mkdtempSync(join(tmpdir(), 'cfgproxy-haproxy-'));
    try {
      writeFileSync(join(dir, 'haproxy.cfg'), `${readmeBlock('haproxy').join('\n')}\n`);
      const check = spawnSync('haproxy', ['-c', '-f', join(dir, 'haproxy.cfg')], { encoding: 'utf8' });
      expect(check.status, check.stdout + check.stderr).toBe(0);
      expect(check.stdout + check.stderr).not.toMatch(/WARNING|ALERT/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
