import { execFile, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect } from '../../src/client/index.js';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { makeTestCerts } from '../helpers/certs.js';
import { requireFreeradius, requireSlapd, startLdap, startRadius } from '../helpers/directories.js';
import { requirePostgres, startPostgres, type TestPostgres } from '../helpers/postgres.js';
import { children, freePort } from '../helpers/processes.js';
import { readmeBlock } from '../helpers/readme.js';
import { scenarioHooks } from '../helpers/scenario.js';

const { tempDir } = scenarioHooks('readme-running');
const run = promisify(execFile);
const CLI = new URL('../../bin/cfgproxy.js', import.meta.url).pathname;

/**
 * The README's running sections, executed as written: only the addresses move (the README's hosts
 * and ports, one host per line, become 127.0.0.1 and free ports here), and `npx cfgproxy` is this
 * checkout's binary.
 */
type Moves = Array<[string, string]>;

function moved(line: string, moves: Moves): string {
  let text = line.split(/\s+#\s/)[0]!.trim(); // a trailing comment is for the reader
  for (const [from, to] of moves) text = text.split(from).join(to);
  return text.replace(/(^|[\s(|])npx cfgproxy /g, `$1"${process.execPath}" "${CLI}" `);
}

interface ReadmeServer {
  lines: Array<Record<string, unknown>>;
  /** What it printed that is not a log line. */
  text: string[];
  /** Resolves with the first printed line (past or future) that `pattern` matches. */
  waitForText(pattern: RegExp): Promise<RegExpExecArray>;
  waitFor(predicate: (line: Record<string, unknown>) => boolean): Promise<Record<string, unknown>>;
}

/** Starts one README line as a shell would (the block's `export` lines first); resolves once it logs `ready`. */
function start(dir: string, prelude: string[], line: string, ready: string, env: Record<string, string> = {}): Promise<ReadmeServer> {
  // `exec` after the line's own variable assignments (`A=b cmd` becomes `A=b exec cmd`), so the server is the shell's process.
  const script = line.replace(/^((?:\w+=\S*\s+)*)/, '$1exec ');
  const child = spawn('sh', ['-ec', [...prelude, script].join('\n')], { cwd: dir, env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
  children.push(child);
  const server: ReadmeServer = { lines: [], text: [], waitFor: () => Promise.reject(new Error('not started')), waitForText: () => Promise.reject(new Error('not started')) };
  const textWaiters: Array<{ pattern: RegExp; resolve(match: RegExpExecArray): void }> = [];
  server.waitForText = (pattern) => {
    for (const text of server.text) {
      const match = pattern.exec(text);
      if (match) return Promise.resolve(match);
    }
    return new Promise((resolve) => textWaiters.push({ pattern, resolve }));
  };
  const waiters: Array<{ predicate: (line: Record<string, unknown>) => boolean; resolve(line: Record<string, unknown>): void }> = [];
  server.waitFor = (predicate) => {
    const seen = server.lines.find(predicate);
    return seen ? Promise.resolve(seen) : new Promise((resolve) => waiters.push({ predicate, resolve }));
  };
  createInterface({ input: child.stderr! }).on('line', (text) => {
    let parsed: Record<string, unknown>;
    try {
      parsed = JSON.parse(text) as Record<string, unknown>;
    } catch {
      server.text.push(text);
      for (const waiter of [...textWaiters]) {
        const match = waiter.pattern.exec(text);
        if (match) waiter.resolve(match);
      }
      return;
    }
    server.lines.push(parsed);
    for (const waiter of waiters.filter((w) => w.predicate(parsed))) waiter.resolve(parsed);
  });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`'${line}' did not log '${ready}' within 20 s: ${JSON.stringify(server.lines.slice(-3))} ${server.text.join(' ')}`)), 20_000);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`'${line}' exited (${code}): ${JSON.stringify(server.lines.slice(-3))} ${server.text.join(' ')}`));
    });
    void server.waitFor((l) => l.msg === ready).then(() => {
      clearTimeout(timer);
      resolve(server);
    });
  });
}

async function shell(dir: string, prelude: string[], line: string, env: Record<string, string>): Promise<string> {
  return run('sh', ['-ec', [...prelude, line].join('\n')], { cwd: dir, env: { ...process.env, ...env }, encoding: 'utf8' }).then(
    ({ stdout }) => stdout,
    (error: { stdout: string; stderr: string; code: number }) => {
      throw new Error(`'${line}' exited ${error.code}: ${error.stdout} ${error.stderr}`);
    },
  );
}

const exports = (lines: string[]): string[] => lines.map((line) => line.trim()).filter((line) => line.startsWith('export '));
const commands = (lines: string[]): string[] => lines.map((line) => line.trim()).filter((line) => !line.startsWith('export '));

describe('the README’s running sections, as written', () => {
  it('readme - a master (its generated password), the proxy account, a proxy, a warm-standby pair with status and switchover, each block run as written', async () => {
    const dir = tempDir();
    const [masterPort, unused, proxyPort, primaryPort, primaryAdmin, backupPort, backupAdmin, haPort] = await Promise.all(Array.from({ length: 8 }, () => freePort()));
    // "Running a master": the first start prints the admin password it made.
    const [masterLine] = readmeBlock('master');
    const master = await start(dir, [], moved(masterLine!, [['9020', String(masterPort)]]), 'master listening');
    const password = (await master.waitForText(/user: admin {2}password: (\S+)/))[1];
    expect(password).toMatch(/^\S{8,}$/);
    const asAdmin = { CFGPROXY_SERVER: `127.0.0.1:${masterPort}`, CFGPROXY_USER: 'admin', CFGPROXY_PASSWORD: password! };

    // "Running a proxy": its account, then the proxy (m2.example: a second address that does not answer).
    const mastersMoved: Moves = [['m1.example:9020', `127.0.0.1:${masterPort}`], ['m2.example:9020', `127.0.0.1:${unused}`]];
    await shell(dir, [], moved(readmeBlock('proxy-account')[0]!, []), asAdmin);
    const proxy = await start(dir, [], moved(readmeBlock('proxy')[0]!, [...mastersMoved, ['9030', String(proxyPort)]]), 'configuration loaded');
    expect(proxy.lines.some((line) => line.msg === 'connected to the master')).toBe(true);
    const viaProxy = await connect({ endpoints: `127.0.0.1:${proxyPort}`, user: 'admin', password: password!, reconnect: false, standby: false });
    expect((await viaProxy.readAll('Person', { name: 'proxy' })).length).toBe(1);
    await viaProxy.close();

    // "Running a warm-standby pair", primary-host and backup-host being this one.
    const pair = readmeBlock('pair');
    const [primaryLine, backupLine] = commands(pair);
    const env = { CFGPROXY_READY_AFTER: '0' }; // ready for a switchover at once, by the environment
    await start(dir, exports(pair), moved(primaryLine!, [...mastersMoved, ['9040', String(haPort)], ['9030', String(primaryPort)], ['9031', String(primaryAdmin)]]), 'configuration loaded', env);
    const backup = await start(dir, exports(pair), moved(backupLine!, [...mastersMoved, ['primary-host:9040', `127.0.0.1:${haPort}`], ['9030', String(backupPort)], ['9031', String(backupAdmin)]]), 'proxy listening (loading)', env);
    await backup.waitFor((line) => line.msg === 'HA link up');
    // No polling for readiness: `--wait-ready` makes the primary wait for it and switch in one step.
    const [statusLine, switchoverLine] = readmeBlock('pair-admin');
    const adminMoves: Moves = [['primary-host:9031', `127.0.0.1:${primaryAdmin}`]];
    const status = await shell(dir, exports(pair), moved(statusLine!, adminMoves), {});
    expect(status).toMatch(/^serving: yes {3}active: yes$/m);
    expect(status).toMatch(/role primary \(configured primary\), HA link up/);
    const switched = await shell(dir, exports(pair), moved(switchoverLine!, adminMoves), {});
    expect(switched).toMatch(/^switched over: /);
    await backup.waitFor((line) => line.event === 'HA-008');
    expect((await fetch(`http://127.0.0.1:${backupAdmin}/health/active`)).status).toBe(200);
  }, 90_000);

  describe.runIf(requirePostgres())('a master pair', () => {
    let cluster: TestPostgres | undefined;
    beforeAll(async () => {
      cluster = await startPostgres();
    }, 60_000);
    afterAll(async () => {
      await cluster?.stop();
    });

    it('readme - the master pair on PostgreSQL: two masters as step 2 starts them, then step 3’s get and status (step 1, the role and database, is the cluster’s own here)', async () => {
      const dir = tempDir();
      const [portA, adminA, portB, adminB] = await Promise.all(Array.from({ length: 4 }, () => freePort()));
      const database = new URL(cluster!.url);
      const moves: Moves = [['change-me', decodeURIComponent(database.password)], ['db-host:5432', `127.0.0.1:${database.port}`], ['m1.example:9020', `127.0.0.1:${portA}`], ['m2.example:9020', `127.0.0.1:${portB}`]];
      const block = readmeBlock('master-pair');
      const [m1, m2] = commands(block);
      const prelude = exports(block).map((line) => moved(line, moves));
      await start(dir, prelude, moved(m1!, [...moves, ['--port 9020', `--port ${portA}`], ['9021', String(adminA)]]), 'master listening');
      const standby = await start(dir, prelude, moved(m2!, [...moves, ['--port 9020', `--port ${portB}`], ['9021', String(adminB)]]), 'master listening');
      expect(standby.lines.some((line) => line.msg === 'master listening')).toBe(true);
      const [getLine, statusLine] = readmeBlock('master-pair-use');
      expect(await shell(dir, [], moved(getLine!, moves), {})).toMatch(/^Tenant\t\d+\t/m);
      expect(await shell(dir, [], moved(statusLine!, [['9021', String(adminB)]]), {})).toContain(`this master is standby, the active one at 127.0.0.1:${portA}`);
    }, 90_000);
  });

  describe.runIf(requireSlapd() && requireFreeradius())('external logins, the UI port and pool identity', () => {
    it('readme - an LDAP account and the proxies that check it (simple bind over LDAPS; search, then bind over StartTLS), its login by the CLI, a RADIUS account and proxy, the UI port, and a pool checked by status: each block as written', async () => {
      const dir = tempDir();
      const certs = makeTestCerts();
      const ldap = await startLdap([{ uid: 'a.smith', password: 'directory password' }], { tls: { cert: certs.serverCert, key: certs.serverKey } });
      const radius = await startRadius([{ name: 'agent-8', password: 'radius password' }], { secret: 'the shared secret' });
      try {
        const ports = await Promise.all(Array.from({ length: 12 }, () => freePort()));
        const [masterPort, ldapsProxy, searchProxy, radiusProxy, uiProxy, uiPort, poolA, adminA, poolB, adminB, balancer, deadRadius] = ports as [number, ...number[]];
        /** Each README proxy in a folder of its own: they all keep the default --history-db. */
        const folder = (name: string): string => {
          const path = join(dir, name);
          mkdirSync(path);
          return path;
        };
        await start(dir, [], `npx cfgproxy master --db master.db --port ${masterPort} --sample`.replace(/^npx cfgproxy /, `"${process.execPath}" "${CLI}" `), 'master listening', { CFGPROXY_ADMIN_PASSWORD: 'readme-admin' });
        const asAdmin = { CFGPROXY_SERVER: `127.0.0.1:${masterPort}`, CFGPROXY_USER: 'admin', CFGPROXY_PASSWORD: 'readme-admin' };
        await shell(dir, [], moved(readmeBlock('proxy-account')[0]!, []), asAdmin);
        await shell(dir, [], moved(readmeBlock('ldap-account')[0]!, []), asAdmin);
        const files: Moves = [['directory-ca.pem', certs.ca], ['proxy-ca.pem', certs.ca], ['proxy-key.pem', certs.serverKey], ['proxy.pem', certs.serverCert], ['m1.example:9020', `127.0.0.1:${masterPort}`]];

        const ldapBlock = readmeBlock('ldap-proxy');
        await start(folder('ldaps'), exports(ldapBlock), moved(commands(ldapBlock)[0]!, [...files, ['ldap.example:636', `127.0.0.1:${ldap.ldapsPort}`], ['9030', String(ldapsProxy)]]), 'configuration loaded');
        const login = moved(readmeBlock('ldap-login')[0]!, [...files, ['proxy.example:9030', `127.0.0.1:${ldapsProxy}`]]);
        await shell(dir, [], login, {});
        await expect(shell(dir, [], login.replace("'directory password'", "'a guess'"), {})).rejects.toThrow(/AUTH_FAILED/);

        const searchBlock = readmeBlock('ldap-search');
        const searchMoves: Moves = [...files, ['the service password', ldap.servicePassword], ['ldap.example:389', `127.0.0.1:${ldap.port}`], ['9030', String(searchProxy)]];
        await start(folder('search'), exports(searchBlock).map((line) => moved(line, searchMoves)), moved(commands(searchBlock)[0]!, searchMoves), 'configuration loaded');
        const viaSearch = await connect({ endpoints: `tls://127.0.0.1:${searchProxy}`, tls: { ca: certs.ca }, user: 'agent-7', password: 'directory password', reconnect: false });
        expect(viaSearch.connected).toBe(true);
        await viaSearch.close();

        const radiusBlock = readmeBlock('radius-proxy');
        const [putRadius, radiusLine] = commands(radiusBlock);
        await shell(dir, [], moved(putRadius!, []), asAdmin);
        const radiusMoves: Moves = [...files, ['radius1.example:1812', `127.0.0.1:${deadRadius}`], ['radius2.example:1812', `127.0.0.1:${radius.port}`], ['9030', String(radiusProxy)]];
        await start(folder('radius'), exports(radiusBlock), moved(radiusLine!, radiusMoves), 'configuration loaded');
        const viaRadius = await connect({ endpoints: `tls://127.0.0.1:${radiusProxy}`, tls: { ca: certs.ca }, user: 'agent-8', password: 'radius password', reconnect: false });
        expect(viaRadius.connected).toBe(true);
        await viaRadius.close();

        const uiBlock = readmeBlock('ui-port');
        const [uiLine, uiGet] = commands(uiBlock);
        const uiMoves: Moves = [...files, ['proxy.example:9033', `127.0.0.1:${uiPort}`], ['9033', String(uiPort)], ['9030', String(uiProxy)]];
        await start(folder('ui'), exports(uiBlock), moved(uiLine!, uiMoves), 'configuration loaded');
        expect(await shell(dir, [], moved(uiGet!, uiMoves), asAdmin)).toMatch(/Acme/);
        await expect(connect({ endpoints: `127.0.0.1:${uiPort}`, user: 'admin', password: 'readme-admin', reconnect: false })).rejects.toMatchObject({ code: 'PERMISSION_DENIED' });

        const poolBlock = readmeBlock('pool-identity');
        const [memberA, memberB, statusLine] = commands(poolBlock);
        const poolMoves: Moves = [...files, ['balancer.example:9030', `127.0.0.1:${balancer}`], ['p1.example:9031', `127.0.0.1:${adminA}`], ['p2.example:9041', `127.0.0.1:${adminB}`], ['9030', String(poolA)], ['9031', String(adminA)], ['9040', String(poolB)], ['9041', String(adminB)]];
        await start(folder('pool-a'), exports(poolBlock), moved(memberA!, poolMoves), 'configuration loaded');
        await start(folder('pool-b'), exports(poolBlock), moved(memberB!, poolMoves), 'configuration loaded');
        const status = await shell(dir, [], moved(statusLine!, poolMoves), {});
        expect(status).toContain(`pool 'CS_Pool': member 'cs-proxy-1', clients reach the pool at 127.0.0.1:${balancer}`);
        expect(status).toContain("member 'cs-proxy-2'");
        expect(status).not.toMatch(/MISMATCH/);
      } finally {
        await ldap.close();
        await radius.close();
        certs.cleanup();
      }
    }, 120_000);
  });
});
