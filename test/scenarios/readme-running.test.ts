import { execFile, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect } from '../../src/client/index.js';
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
    // What an operator checks first: the primary says the pair is ready (/ha emits nothing: poll it, as a person re-runs `status`).
    for (const deadline = performance.now() + 20_000; performance.now() < deadline; ) {
      const ha = (await (await fetch(`http://127.0.0.1:${primaryAdmin}/ha`)).json()) as { readyForSwitchover: number };
      if (ha.readyForSwitchover === 1) break;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
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
});
