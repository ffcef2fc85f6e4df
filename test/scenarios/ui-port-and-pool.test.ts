import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { connect, type CfgClient } from '../../src/client/index.js';
import { Kind } from '../../protocol/index.js';
import { freePort, startCli, startProxyProcess } from '../helpers/processes.js';
import { RawPeer } from '../helpers/raw-peer.js';
import { scenarioHooks } from '../helpers/scenario.js';

const { toClose, tempDir } = scenarioHooks('ui-port-and-pool');
const CLI = new URL('../../bin/cfgproxy.js', import.meta.url).pathname;
const ADMIN = 'ui-admin';

async function masterAt(dir: string): Promise<number> {
  const master = await startCli(['master', '--db', join(dir, 'master.db'), '--port', '0', '--sample'], 'master listening', { CFGPROXY_ADMIN_PASSWORD: ADMIN });
  return master.lines.find((l) => l.msg === 'master listening')!.port as number;
}

async function client(port: number, extra: Record<string, unknown> = {}): Promise<CfgClient> {
  const made = await connect({ endpoints: `127.0.0.1:${port}`, user: 'admin', password: ADMIN, reconnect: false, ...extra });
  toClose.push(() => made.close());
  return made;
}

function cli(args: string[]): { status: number | null; stdout: string; stderr: string } {
  return spawnSync(process.execPath, [CLI, ...args], { env: { ...process.env, CFGPROXY_USER: 'admin', CFGPROXY_PASSWORD: ADMIN }, encoding: 'utf8' });
}

describe('the UI port', () => {
  it('ui port - --ui-port takes UI tools only (the CLI, clientType ui), refused to an application before any password is checked; the client port serves both', async () => {
    const dir = tempDir();
    const masterPort = await masterAt(dir);
    const uiPort = await freePort();
    const proxy = await startProxyProcess(['--master', `127.0.0.1:${masterPort}`, '--user', 'admin', '--history-db', join(dir, 'p.db'), '--ui-port', String(uiPort)], { CFGPROXY_PROXY_PASSWORD: ADMIN });
    expect(proxy.lines.find((l) => l.msg === 'proxy listening (loading)')?.uiPort).toBe(uiPort);
    await expect(client(uiPort)).rejects.toMatchObject({ code: 'PERMISSION_DENIED', message: expect.stringMatching(/UI port/) });
    // Refused for the port, not the password: a wrong one gets the same answer.
    await expect(connect({ endpoints: `127.0.0.1:${uiPort}`, user: 'admin', password: 'wrong', reconnect: false })).rejects.toMatchObject({ code: 'PERMISSION_DENIED' });
    // A Standby names no client type: the UI port takes none, and checks no password for it.
    const parked = await RawPeer.connect(uiPort);
    toClose.push(() => parked.close());
    parked.send({ kind: Kind.Standby, id: 1, user: 'admin', password: ADMIN, remoteTimeoutMs: 10_000 });
    expect(await parked.waitFor((m) => m.kind === Kind.Error)).toMatchObject({ code: 'PERMISSION_DENIED', message: expect.stringMatching(/standby connections/) });
    expect((await client(uiPort, { clientType: 'ui' })).connected).toBe(true);
    const viaUi = cli(['get', 'tenant', '-s', `127.0.0.1:${uiPort}`]);
    expect(viaUi.stderr).toBe('');
    expect(viaUi.stdout).toMatch(/Acme/);
    expect((await client(proxy.port)).connected).toBe(true);
    expect(cli(['get', 'tenant', '-s', `127.0.0.1:${proxy.port}`]).status).toBe(0);
  });

  it('ui port - the HA sync port, the client port or the admin port cannot be the UI port: exit 2 naming the options', async () => {
    const port = await freePort();
    const cases: Array<[string[], RegExp]> = [
      [['--role', 'primary', '--ha-port', String(port), '--ha-secret', 's', '--ui-port', String(port)], /HA sync port can never be a UI port/],
      [['--port', String(port), '--ui-port', String(port)], /client port \(--port\)/],
      [['--admin-port', String(port), '--ui-port', String(port)], /admin port/],
    ];
    for (const [args, message] of cases) {
      const run = spawnSync(process.execPath, [CLI, 'proxy', '--master', '127.0.0.1:1', '--user', 'u', '--password', 'p', ...args], { encoding: 'utf8' });
      expect(run.status).toBe(2);
      expect(run.stderr).toMatch(message);
    }
  });
});

describe('pool identity', () => {
  it('pool - members with --cluster-name tell clients the pool as the server and themselves as the member; cfgproxy status across the pool shows both and flags a member that names another pool behind the same balancer', async () => {
    const dir = tempDir();
    const masterPort = await masterAt(dir);
    const balancer = `127.0.0.1:${await freePort()}`;
    const members = [];
    for (const [name, cluster] of [['cs-proxy-1', 'CS_Pool'], ['cs-proxy-2', 'CS_Pool'], ['cs-proxy-3', 'CS_Pool_old']]) {
      const adminPort = await freePort();
      const proxy = await startProxyProcess(
        ['--master', `127.0.0.1:${masterPort}`, '--user', 'admin', '--history-db', join(dir, `${name}.db`), '--name', name, '--cluster-name', cluster, '--advertise', balancer, '--admin-port', String(adminPort)],
        { CFGPROXY_PROXY_PASSWORD: ADMIN },
      );
      members.push({ name, cluster, port: proxy.port, admin: `127.0.0.1:${adminPort}` });
    }
    for (const member of members) {
      const session = await client(member.port);
      expect(session.server).toMatchObject({ serverName: member.cluster, memberName: member.name, serverKind: 'proxy' });
      expect(await session.serverInfo()).toMatchObject({ serverName: member.cluster, memberName: member.name });
    }
    const agreeing = cli(['status', '--admin', `${members[0].admin},${members[1].admin}`]);
    expect(agreeing.status).toBe(0);
    expect(agreeing.stdout).toContain(`pool 'CS_Pool': member 'cs-proxy-2', clients reach the pool at ${balancer}`);
    expect(agreeing.stdout).not.toMatch(/MISMATCH/);
    const all = cli(['status', '--admin', members.map((m) => m.admin).join(',')]);
    expect(all.status).toBe(1);
    expect(all.stdout).toMatch(new RegExp(`POOL MISMATCH: members behind ${balancer} name different pools: .*${members[2].admin} says 'CS_Pool_old'`));
    const json = JSON.parse(cli(['status', '--json', '--admin', members.map((m) => m.admin).join(',')]).stdout) as { disagreements: string[]; servers: Record<string, { access: { pool: { member: string } } }> };
    expect(json.disagreements).toHaveLength(1);
    expect(json.servers[members[0].admin].access.pool.member).toBe('cs-proxy-1');
  });
});
