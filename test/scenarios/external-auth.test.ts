import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { PropValue } from '../../protocol/index.js';
import { connect, type CfgClient } from '../../src/client/index.js';
import { makeTestCerts, type TestCerts } from '../helpers/certs.js';
import { requireFreeradius, requireSlapd, startLdap, startRadius, type TestLdap } from '../helpers/directories.js';
import { freePort, killed, startCli, startProxyProcess, type CliProcess } from '../helpers/processes.js';
import { Relay } from '../helpers/relay.js';
import { scenarioHooks } from '../helpers/scenario.js';

const { toClose, tempDir } = scenarioHooks('external-auth');
const CLI = new URL('../../bin/cfgproxy.js', import.meta.url).pathname;
const ADMIN = 'external-admin';
const ldapReady = requireSlapd();
const radiusReady = requireFreeradius();

interface Deployment {
  dir: string;
  certs: TestCerts;
  master: CliProcess;
  masterPort: number;
}

/** A TLS master with the sample configuration and `directoryArgs`, its Person accounts made by the admin. */
async function deploy(directoryArgs: string[], accounts: Array<{ name: string; props: Record<string, PropValue> }>, options: { tls?: boolean; env?: Record<string, string>; certs?: TestCerts } = {}): Promise<Deployment> {
  const dir = tempDir();
  const certs = options.certs ?? testCerts();
  const tls = options.tls === false ? [] : ['--tls-cert', certs.serverCert, '--tls-key', certs.serverKey];
  const master = await startCli(['master', '--db', join(dir, 'master.db'), '--port', '0', '--sample', ...tls, ...directoryArgs], 'master listening', { CFGPROXY_ADMIN_PASSWORD: ADMIN, ...options.env });
  const masterPort = master.lines.find((l) => l.msg === 'master listening')!.port as number;
  const admin = await client(`${options.tls === false ? '' : 'tls://'}127.0.0.1:${masterPort}`, 'admin', ADMIN, certs);
  for (const account of accounts) await admin.create({ type: 'Person', name: account.name, tenant: 1, props: account.props });
  await admin.close();
  return { dir, certs, master, masterPort };
}

function testCerts(): TestCerts {
  const certs = makeTestCerts();
  toClose.push(async () => certs.cleanup());
  return certs;
}

async function client(endpoint: string, user: string, password: string, certs: TestCerts, extra: Record<string, unknown> = {}): Promise<CfgClient> {
  const made = await connect({ endpoints: endpoint, user, password, reconnect: false, tls: endpoint.startsWith('tls://') ? { ca: certs.ca } : undefined, ...extra });
  toClose.push(() => made.close());
  return made;
}

/** A proxy of the deployment, TLS on its client port, with `args` (its directory among them). */
async function proxyOf(deployment: Deployment, name: string, args: string[], env: Record<string, string> = {}): Promise<CliProcess & { port: number }> {
  const { dir, certs, masterPort } = deployment;
  return startProxyProcess(
    ['--master', `tls://127.0.0.1:${masterPort}`, '--master-tls-ca', certs.ca, '--user', 'admin', '--name', name, '--history-db', join(dir, `${name}.db`), '--tls-cert', certs.serverCert, '--tls-key', certs.serverKey, ...args],
    { CFGPROXY_PROXY_PASSWORD: ADMIN, ...env },
  );
}

function ldapArgs(ldap: TestLdap, certs: TestCerts, how: 'ldaps' | 'starttls' | 'search' = 'ldaps'): string[] {
  const common = ['--ldap-ca', certs.ca, '--ldap-timeout', '2'];
  if (how === 'ldaps') return ['--ldap-url', ldap.ldapsUrl!, '--ldap-bind-dn', `uid={user},${ldap.peopleDn}`, ...common];
  if (how === 'starttls') return ['--ldap-url', ldap.ldapUrl, '--ldap-starttls', '--ldap-bind-dn', `uid={user},${ldap.peopleDn}`, ...common];
  return ['--ldap-url', ldap.ldapsUrl!, '--ldap-search-base', ldap.peopleDn, '--ldap-service-dn', ldap.serviceDn, ...common];
}

async function metric(adminPort: number, line: RegExp): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${adminPort}/metrics`)).text();
  const found = text.split('\n').find((l) => line.test(l));
  return found ? Number(found.split(' ').pop()) : 0;
}

describe.runIf(ldapReady)('external logins: LDAP, through the binaries', () => {
  it('ldap - an account with authMethod ldap logs in with its directory password at the master and at each member of a pool, which check it themselves (the master killed); the SDK and the CLI pick the login by themselves; metrics count it', async () => {
    const certs = testCerts();
    const ldap = await startLdap([{ uid: 'alice', password: 'alice-directory' }, { uid: 'a.smith', password: 'smith-directory' }], { tls: { cert: certs.serverCert, key: certs.serverKey } });
    toClose.push(() => ldap.close());
    const deployment = await deploy(
      ldapArgs(ldap, certs),
      [
        { name: 'alice', props: { authMethod: 'ldap' } },
        // A person whose directory name differs from its configuration name.
        { name: 'agent-smith', props: { authMethod: 'ldap', externalId: 'a.smith' } },
      ],
      { certs },
    );
    const adminPort = await freePort();
    const p1 = await proxyOf(deployment, 'p1', [...ldapArgs(ldap, deployment.certs, 'starttls'), '--admin-port', String(adminPort)]);
    const p2 = await proxyOf(deployment, 'p2', ldapArgs(ldap, deployment.certs, 'search'), { CFGPROXY_LDAP_SERVICE_PASSWORD: ldap.servicePassword });
    const endpoints = [`tls://127.0.0.1:${deployment.masterPort}`, `tls://127.0.0.1:${p1.port}`, `tls://127.0.0.1:${p2.port}`];
    for (const endpoint of endpoints) {
      const alice = await client(endpoint, 'alice', 'alice-directory', deployment.certs);
      expect(alice.connected).toBe(true);
      await expect(client(endpoint, 'alice', 'not-her-password', deployment.certs)).rejects.toMatchObject({ code: 'AUTH_FAILED' });
      const smith = await client(endpoint, 'agent-smith', 'smith-directory', deployment.certs);
      expect(smith.connected).toBe(true);
      // The configuration name is not the directory name.
      await expect(client(endpoint, 'a.smith', 'smith-directory', deployment.certs)).rejects.toMatchObject({ code: 'AUTH_FAILED' });
    }
    // No master round trip: with the master gone, the proxies still check directory logins.
    await killed(deployment.master.child);
    for (const endpoint of endpoints.slice(1)) expect((await client(endpoint, 'alice', 'alice-directory', deployment.certs)).connected).toBe(true);
    const cli = spawnSync(process.execPath, [CLI, 'get', 'tenant', '-s', endpoints[1], '--tls-ca', deployment.certs.ca], { env: { ...process.env, CFGPROXY_USER: 'alice', CFGPROXY_PASSWORD: 'alice-directory' }, encoding: 'utf8' });
    expect(cli.stderr).toBe('');
    expect(cli.status).toBe(0);
    const wrong = spawnSync(process.execPath, [CLI, 'get', 'tenant', '-s', endpoints[1], '--tls-ca', deployment.certs.ca], { env: { ...process.env, CFGPROXY_USER: 'alice', CFGPROXY_PASSWORD: 'guess' }, encoding: 'utf8' });
    expect(wrong.status).toBe(3);
    expect(wrong.stderr).toMatch(/AUTH_FAILED/);
    expect(await metric(adminPort, /^cfgproxy_logins_total\{method="ldap",outcome="ok"\}/)).toBeGreaterThanOrEqual(3);
    expect(await metric(adminPort, /^cfgproxy_logins_total\{method="ldap",outcome="failed"\}/)).toBeGreaterThanOrEqual(2);
    expect(await metric(adminPort, /^cfgproxy_directory_seconds_count\{method="ldap",outcome="accepted"\}/)).toBeGreaterThanOrEqual(3);
    const status = (await (await fetch(`http://127.0.0.1:${adminPort}/status`)).json()) as { access: { directories: Record<string, string> } };
    expect(status.access.directories.ldap).toMatch(/StartTLS/);
  });

  it('ldap - a pair: the backup checks the directory account itself (its standby connection logs in by LDAP ahead of time), so after SIGKILL of the primary the session is restored there with nothing lost', async () => {
    const certs = testCerts();
    const ldap = await startLdap([{ uid: 'alice', password: 'alice-directory' }], { tls: { cert: certs.serverCert, key: certs.serverKey } });
    toClose.push(() => ldap.close());
    const deployment = await deploy([], [{ name: 'alice', props: { authMethod: 'ldap', grants: [{ on: 'type', target: 'Skill', access: 'read' }] } }], { certs });
    const haPort = await freePort();
    const pairArgs = ['--ha-addp', '1', '--heartbeat-interval', '0.2', '--failures-to-switch', '3', '--ready-after', '0', ...ldapArgs(ldap, certs)];
    const env = { CFGPROXY_HA_SECRET: 'ldap-pair' };
    const primary = await proxyOf(deployment, 'primary', [...pairArgs, '--role', 'primary', '--ha-port', String(haPort)], env);
    const backup = await proxyOf(deployment, 'backup', [...pairArgs, '--role', 'backup', '--peer', `127.0.0.1:${haPort}`], env);
    await backup.waitForLog((line) => line.msg === 'HA link up');
    const alice = await connect({ endpoints: [`tls://127.0.0.1:${primary.port}`, `tls://127.0.0.1:${backup.port}`], tls: { ca: certs.ca }, user: 'alice', password: 'alice-directory' });
    toClose.push(() => alice.close());
    await new Promise((resolve) => alice.once('standby', resolve));
    await alice.subscribe({ type: 'Skill' });
    const received: number[] = [];
    alice.on('notification', (change: { seq: number }) => received.push(change.seq));
    const writer = await client(`tls://127.0.0.1:${deployment.masterPort}`, 'admin', ADMIN, certs);
    const before = (await writer.create({ type: 'Skill', name: 'before-failover', tenant: 1 })).seq;
    while (!received.includes(before)) await new Promise((resolve) => alice.once('notification', resolve));
    const restored = new Promise<{ restored: boolean }>((resolve) => alice.once('connected', resolve));
    await killed(primary.child);
    expect(await restored).toMatchObject({ restored: true });
    expect(alice.server?.serverRole).toBe('primary');
    const after = (await writer.create({ type: 'Skill', name: 'after-failover', tenant: 1 })).seq;
    while (!received.includes(after)) await new Promise((resolve) => alice.once('notification', resolve));
    expect(received).toEqual([before, after]);
  });

  it('ldap - a directory password never crosses plain TCP: the SDK does not send it (TLS_REQUIRED), a server refuses one sent anyway, unless started with --external-in-clear', async () => {
    const ldap = await startLdap([{ uid: 'alice', password: 'alice-directory' }]);
    toClose.push(() => ldap.close());
    const plain = ['--ldap-url', ldap.ldapUrl, '--ldap-allow-plain', '--ldap-bind-dn', `uid={user},${ldap.peopleDn}`];
    const deployment = await deploy(plain, [{ name: 'alice', props: { authMethod: 'ldap' } }], { tls: false });
    const at = `127.0.0.1:${deployment.masterPort}`;
    await expect(client(at, 'alice', 'alice-directory', deployment.certs)).rejects.toMatchObject({ code: 'TLS_REQUIRED' });
    await expect(client(at, 'alice', 'alice-directory', deployment.certs, { login: 'password' })).rejects.toMatchObject({ code: 'TLS_REQUIRED', message: expect.stringMatching(/TLS only/) });
    const cli = spawnSync(process.execPath, [CLI, 'get', 'tenant', '-s', at], { env: { ...process.env, CFGPROXY_USER: 'alice', CFGPROXY_PASSWORD: 'alice-directory' }, encoding: 'utf8' });
    expect(cli.status).toBe(3);
    expect(cli.stderr).toMatch(/TLS_REQUIRED/);
    // Local accounts on the same port log in by proof as before.
    expect((await client(at, 'admin', ADMIN, deployment.certs)).connected).toBe(true);
    const inClear = await startProxyProcess(['--master', at, '--user', 'admin', '--history-db', join(deployment.dir, 'clear.db'), '--external-in-clear', ...plain], { CFGPROXY_PROXY_PASSWORD: ADMIN });
    expect((await client(`127.0.0.1:${inClear.port}`, 'alice', 'alice-directory', deployment.certs, { login: 'password' })).connected).toBe(true);
  });

  it('ldap - the directory down: AUTH_UNAVAILABLE (not a wrong password, not counted against the account), logged once, local accounts still log in; back up, the same login works', async () => {
    const certs = testCerts();
    const ldap = await startLdap([{ uid: 'alice', password: 'alice-directory' }], { tls: { cert: certs.serverCert, key: certs.serverKey } });
    toClose.push(() => ldap.close());
    const deployment = await deploy([], [{ name: 'alice', props: { authMethod: 'ldap' } }], { certs });
    const proxy = await proxyOf(deployment, 'p1', ldapArgs(ldap, deployment.certs));
    const at = `tls://127.0.0.1:${proxy.port}`;
    expect((await client(at, 'alice', 'alice-directory', deployment.certs)).connected).toBe(true);
    await ldap.stop();
    for (let i = 0; i < 8; i += 1) {
      await expect(client(at, 'alice', 'alice-directory', deployment.certs)).rejects.toMatchObject({ code: 'AUTH_UNAVAILABLE', message: expect.stringMatching(/could not check this login/) });
    }
    expect(proxy.lines.filter((l) => l.event === 'AUTH-002')).toHaveLength(1);
    expect((await client(at, 'admin', ADMIN, deployment.certs)).connected).toBe(true);
    // The master has no directory configured: it says so rather than "wrong password".
    await expect(client(`tls://127.0.0.1:${deployment.masterPort}`, 'alice', 'alice-directory', deployment.certs)).rejects.toMatchObject({ code: 'AUTH_UNAVAILABLE', message: expect.stringMatching(/no directory configured/) });
    await ldap.start();
    // Eight outages counted nothing against alice: her next login is answered at once.
    const started = Date.now();
    expect((await client(at, 'alice', 'alice-directory', deployment.certs)).connected).toBe(true);
    expect(Date.now() - started).toBeLessThan(1000);
    await proxy.waitForLog((l) => l.event === 'AUTH-003');
  });

  it('ldap - a slow directory stalls only the logins that wait for it: other clients read and receive changes meanwhile (relay delaying the directory 1.5 s)', async () => {
    const certs = testCerts();
    const ldap = await startLdap([{ uid: 'alice', password: 'alice-directory' }], { tls: { cert: certs.serverCert, key: certs.serverKey } });
    toClose.push(() => ldap.close());
    const relay = await Relay.start(ldap.port, { delayable: true });
    toClose.push(() => relay.close());
    const deployment = await deploy([], [{ name: 'alice', props: { authMethod: 'ldap' } }], { certs });
    const proxy = await proxyOf(deployment, 'p1', ['--ldap-url', `ldap://127.0.0.1:${relay.port}`, '--ldap-starttls', '--ldap-ca', deployment.certs.ca, '--ldap-bind-dn', `uid={user},${ldap.peopleDn}`, '--ldap-timeout', '10']);
    const at = `tls://127.0.0.1:${proxy.port}`;
    const reader = await client(at, 'admin', ADMIN, deployment.certs);
    const watcher = await client(at, 'admin', ADMIN, deployment.certs);
    const received: number[] = [];
    watcher.on('notification', (change: { seq: number }) => received.push(change.seq));
    await watcher.subscribe({ type: 'Skill' });
    const writer = await client(`tls://127.0.0.1:${deployment.masterPort}`, 'admin', ADMIN, deployment.certs);
    relay.delayMs = 1500;
    const storm = Array.from({ length: 8 }, () => client(at, 'alice', 'alice-directory', deployment.certs).then((c) => c.connected));
    const latencies: number[] = [];
    const wrote: number[] = [];
    const until = Date.now() + 1200;
    for (let i = 0; Date.now() < until; i += 1) {
      const started = performance.now();
      await reader.readAll('Skill');
      latencies.push(performance.now() - started);
      if (i % 5 === 0) wrote.push((await writer.create({ type: 'Skill', name: `slow-dir-${i}`, tenant: 1 })).seq);
    }
    const slowest = Math.max(...latencies);
    // Each read waited for nothing but the proxy: far under the directory's 1.5 s.
    expect(slowest).toBeLessThan(300);
    expect(latencies.length).toBeGreaterThan(20);
    await new Promise<void>((resolve) => {
      const check = (): void => (wrote.every((seq) => received.includes(seq)) ? resolve() : void setTimeout(check, 20));
      check();
    });
    expect(await Promise.all(storm)).toEqual(Array(8).fill(true));
  });
});

describe.runIf(radiusReady)('external logins: RADIUS, through the binaries', () => {
  it('radius - an account with authMethod radius logs in by PAP at a proxy, the first server down and the second answering; a wrong password is AUTH_FAILED; no server, AUTH_UNAVAILABLE', async () => {
    const radius = await startRadius([{ name: 'carol', password: 'carol-radius' }]);
    toClose.push(() => radius.close());
    const deployment = await deploy([], [{ name: 'carol', props: { authMethod: 'radius' } }]);
    const dead = await freePort();
    const proxy = await proxyOf(deployment, 'p1', ['--radius-server', `127.0.0.1:${dead},127.0.0.1:${radius.port}`, '--radius-timeout', '0.3', '--radius-retries', '1'], { CFGPROXY_RADIUS_SECRET: radius.secret });
    const at = `tls://127.0.0.1:${proxy.port}`;
    expect((await client(at, 'carol', 'carol-radius', deployment.certs)).connected).toBe(true);
    await expect(client(at, 'carol', 'carol-wrong', deployment.certs)).rejects.toMatchObject({ code: 'AUTH_FAILED' });
    await radius.stop();
    await expect(client(at, 'carol', 'carol-radius', deployment.certs)).rejects.toMatchObject({ code: 'AUTH_UNAVAILABLE' });
    const missingSecret = spawnSync(process.execPath, [CLI, 'proxy', '--master', '127.0.0.1:1', '--user', 'x', '--password', 'y', '--radius-server', '127.0.0.1:1812'], { encoding: 'utf8', env: { ...process.env, CFGPROXY_RADIUS_SECRET: '' } });
    expect(missingSecret.status).toBe(2);
    expect(missingSecret.stderr).toMatch(/CFGPROXY_RADIUS_SECRET/);
  });
});
