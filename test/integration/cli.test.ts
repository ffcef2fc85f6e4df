import { execFile, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HA_DEFAULTS } from '../../src/ha/ha-options.js';
import { MasterServer } from '../../src/master/master-server.js';
import { ADMIN_PASSWORD, adminClient, startTestMaster } from '../helpers/master.js';
import { freePort, startCli } from '../helpers/processes.js';
import { startTestProxy } from '../helpers/proxy.js';
import { requireTool } from '../helpers/tools.js';

const run = promisify(execFile);
const CLI = new URL('../../bin/cfgproxy.js', import.meta.url).pathname;
const toClose: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const close of toClose.splice(0).reverse()) await close();
});

function cli(args: string[], input?: string): Promise<{ stdout: string; stderr: string }> {
  const child = run(process.execPath, [CLI, ...args], { env: { ...process.env, CFGPROXY_USER: 'admin', CFGPROXY_PASSWORD: ADMIN_PASSWORD } });
  if (input !== undefined) {
    child.child.stdin!.end(input);
  }
  return child;
}

/** Each command exits with the usage code (2) and says what is wrong. */
async function expectUsageErrors(cases: Array<[string[], RegExp]>): Promise<void> {
  for (const [args, message] of cases) {
    const failure = await cli(args).then(
      () => undefined,
      (error: { code: number; stderr: string }) => error,
    );
    expect(failure?.code, args.join(' ')).toBe(2);
    expect(failure?.stderr, args.join(' ')).toMatch(message);
  }
}

describe('cli', () => {
  it('cli - export from one master, import into an empty one: same objects, references remapped to the new dbids', async () => {
    const source = await startTestMaster();
    toClose.push(source.cleanup);
    const target = await startTestMaster({ sample: false });
    toClose.push(target.cleanup);
    // Make the source's dbids differ from what the target will assign.
    const writer = await adminClient(source.master.port);
    toClose.push(() => writer.close());
    const { dbid: tempSwitch } = await writer.create({ type: 'Switch', name: 'temp', tenant: 1 });
    await writer.delete('Switch', tempSwitch);
    await writer.create({ type: 'Switch', name: 'SIP_Switch_London', tenant: 1 });
    const sw = (await writer.readAll('Switch', { name: 'SIP_Switch_London' }))[0];
    await writer.create({ type: 'DN', name: '9001', tenant: 1, props: { number: '9001', switch: sw.dbid } });

    const exported = await cli(['export', '--yaml', '--server', `127.0.0.1:${source.master.port}`]);
    const imported = await cli(['import', '-', '--json', '--server', `127.0.0.1:${target.master.port}`], exported.stdout);
    const summary = JSON.parse(imported.stdout) as { created: number; reused: number; failed: unknown[] };
    expect(summary.failed).toEqual([]);
    expect(summary.reused).toBe(1); // the target's own admin account
    expect(summary.created).toBe(source.master.source.store.size - 1);

    const reader = await adminClient(target.master.port);
    toClose.push(() => reader.close());
    const london = (await reader.readAll('Switch', { name: 'SIP_Switch_London' }))[0];
    expect(london.dbid).not.toBe(sw.dbid);
    expect((await reader.readAll('DN', { name: '9001' }))[0].props.switch).toBe(london.dbid);
    const sourceNames = (await writer.readAll('Place')).map((p) => p.name).sort();
    expect((await reader.readAll('Place')).map((p) => p.name).sort()).toEqual(sourceNames);
  });

  it('cli - import refuses a document that is not an export, with a clear message and exit code 1', async () => {
    const target = await startTestMaster({ sample: false });
    toClose.push(target.cleanup);
    const failure = await cli(['import', '-', '--server', `127.0.0.1:${target.master.port}`], '{"objects": 3}').then(
      () => undefined,
      (error: { code: number; stderr: string }) => error,
    );
    expect(failure?.code).toBe(1);
    expect(failure?.stderr).toContain('not a cfgproxy export document');
  });

  it('cli - a numeric option that is not a number is a usage error (exit code 2) naming the option', async () => {
    const failure = await cli(['proxy', '--master', '127.0.0.1:9', '--user', 'proxy', '--password', 'x', '--ha-secret', 's', '--role', 'primary', '--ha-port', '0', '--ha-chunk-size', 'many']).then(
      () => undefined,
      (error: { code: number; stderr: string }) => error,
    );
    expect(failure?.code).toBe(2);
    expect(failure?.stderr).toContain("--ha-chunk-size must be a number, 1 or more (got 'many')");
  });

  it('cli - get --filter compares by the property\'s type in the schema: the README\'s `get dn --filter number=5001` finds the DN', async () => {
    const { master, cleanup } = await startTestMaster();
    toClose.push(cleanup);
    const server = `127.0.0.1:${master.port}`;
    const found = await cli(['get', 'dn', '--filter', 'number=5001', '--server', server]);
    // Exactly one line, and it is the DN (an empty output is what the bug printed).
    expect(found.stdout).toMatch(/^DN\t\d+\t5001\t[^\n]*\n$/);
    const typed = await cli(['get', 'person', '--filter', 'isAdmin=true', '--json', '--server', server]);
    expect((JSON.parse(typed.stdout) as Array<{ name: string }>).map((p) => p.name)).toContain('admin');
  });

  it('cli - usage errors exit 2 before anything is sent: commander\'s own (missing argument, unknown option or command) and filters that cannot match', async () => {
    // Nothing listens on port 9: a usage error found after connecting would exit 3 instead.
    const cases: Array<[string[], RegExp]> = [
      [['get'], /missing required argument 'type'/],
      [['get', 'dn', '--bogus'], /unknown option '--bogus'/],
      [['nosuch'], /unknown command 'nosuch'/],
      [['get', 'dn', '--filter', 'tenant=abc', '-s', '127.0.0.1:9'], /tenant is a number/],
      [['get', 'dn', '--filter', 'colour=red', '-s', '127.0.0.1:9'], /a DN has no property colour to filter on \(.*number/],
      [['get', 'person', '--filter', 'isAdmin=yes', '-s', '127.0.0.1:9'], /isAdmin is true or false/],
    ];
    await expectUsageErrors(cases);
    expect((await cli(['--version'])).stdout.trim()).toMatch(/^\d+\.\d+\.\d+/); // exit 0
  });

  it('cli - a proxy whose credentials the master refuses gives up after --give-up-after refusals: a clear message, exit code 1 (it used to warn every second forever)', async () => {
    const { master, cleanup } = await startTestMaster();
    toClose.push(cleanup);
    const startedAt = performance.now();
    const failure = await run(process.execPath, [CLI, 'proxy', '--master', `127.0.0.1:${master.port}`, '--user', 'admin', '--password', 'wrong', '--port', '0', '--history-db', ':memory:', '--give-up-after', '3'], { timeout: 20_000 }).then(
      () => undefined,
      (error: { code: number; stderr: string }) => error,
    );
    expect(failure?.code).toBe(1);
    expect(failure?.stderr).toContain('giving up: the masters refused this proxy 3 times in a row (AUTH_FAILED');
    expect(failure?.stderr).toContain('GIVE-UP');
    expect(performance.now() - startedAt).toBeLessThan(15_000);
  });

  it('cli - a pair backup with the wrong HA secret gives up after --give-up-after refusals, exit code 1', async () => {
    const { master, cleanup } = await startTestMaster();
    toClose.push(cleanup);
    const dir = mkdtempSync(join(tmpdir(), 'cfgproxy-cli-'));
    toClose.push(async () => rmSync(dir, { recursive: true, force: true }));
    const primary = await startTestProxy(dir, [master.port], {
      ha: { ...HA_DEFAULTS, role: 'primary', secret: 'right-secret', haPort: 0, acceptClientsInBackupMode: false, heartbeatIntervalMs: 100 },
    });
    toClose.push(() => primary.stop());
    const failure = await run(
      process.execPath,
      [CLI, 'proxy', '--master', `127.0.0.1:${master.port}`, '--user', 'admin', '--password', ADMIN_PASSWORD, '--port', '0', '--history-db', ':memory:', '--role', 'backup', '--peer', `127.0.0.1:${primary.ha!.server!.port}`, '--ha-secret', 'wrong-secret', '--heartbeat-interval', '0.1', '--give-up-after', '2'],
      { timeout: 20_000 },
    ).then(
      () => undefined,
      (error: { code: number; stderr: string }) => error,
    );
    expect(failure?.code).toBe(1);
    expect(failure?.stderr).toMatch(/giving up: the pair peer .* refused this member 2 times in a row \(HA_AUTH_FAILED/);
  });

  it('cli - option sources: the command line beats CFGPROXY_* variables, which beat --config, which beats the defaults; config keys are the long options (kebab or camel case)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cfgproxy-options-'));
    toClose.push(async () => rmSync(dir, { recursive: true, force: true }));
    const [fromFlag, fromEnv, fromFile] = await Promise.all([freePort(), freePort(), freePort()]);
    writeFileSync(join(dir, 'master.yaml'), `port: ${fromFile}\nhistory-max-changes: 500\nhistoryMaxAge: 60\n`);
    const portOf = async (args: string[], env: Record<string, string>): Promise<number> => {
      const master = await startCli(['--config', join(dir, 'master.yaml'), 'master', '--db', ':memory:', ...args], 'master listening', { CFGPROXY_ADMIN_PASSWORD: ADMIN_PASSWORD, ...env });
      const port = (master.lines.find((line) => line.msg === 'master listening')!.port as number);
      master.child.kill('SIGTERM');
      await new Promise((resolve) => master.child.once('exit', resolve));
      return port;
    };
    expect(await portOf(['--port', String(fromFlag)], { CFGPROXY_PORT: String(fromEnv) })).toBe(fromFlag);
    expect(await portOf([], { CFGPROXY_PORT: String(fromEnv) })).toBe(fromEnv);
    expect(await portOf([], {})).toBe(fromFile);
  });

  it('cli - a config file with an unknown key or bad YAML, and an unknown log level, are usage errors naming the key, the file or the level', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cfgproxy-options-'));
    toClose.push(async () => rmSync(dir, { recursive: true, force: true }));
    writeFileSync(join(dir, 'typo.yaml'), 'dbPath: x.db\n');
    writeFileSync(join(dir, 'broken.yaml'), 'port: [1,\n');
    const cases: Array<[string[], RegExp]> = [
      [['--config', join(dir, 'typo.yaml'), 'master'], new RegExp(`config file ${join(dir, 'typo.yaml')}: unknown option 'dbPath'`)],
      [['--config', join(dir, 'broken.yaml'), 'master'], new RegExp(`config file ${join(dir, 'broken.yaml')} is not valid YAML`)],
      [['--log-level', 'verbose', 'master', '--db', ':memory:'], /--log-level must be one of trace, debug, info, warn, error, fatal, silent \(got 'verbose'\)/],
    ];
    await expectUsageErrors(cases);
    // --help names each option's variable.
    expect((await cli(['proxy', '--help'])).stdout).toMatch(/\[env\s+CFGPROXY_PROXY_PASSWORD\]/);
  });

  it('cli - watch prints kind names and ISO times, and says on stderr when it lost the server and when it resumed without missing anything', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cfgproxy-watch-'));
    toClose.push(async () => rmSync(dir, { recursive: true, force: true }));
    const port = await freePort();
    const options = { dbPath: join(dir, 'master.db'), port, sample: true, adminPassword: ADMIN_PASSWORD };
    let master = await MasterServer.start(options);
    toClose.push(() => master.stop());
    const watch = spawn(process.execPath, [CLI, 'watch', 'skill', '-s', `127.0.0.1:${port}`], { env: { ...process.env, CFGPROXY_USER: 'admin', CFGPROXY_PASSWORD: ADMIN_PASSWORD } });
    toClose.push(async () => void watch.kill('SIGKILL'));
    const stdout = createInterface({ input: watch.stdout! });
    const stderr = createInterface({ input: watch.stderr! });
    const nextLine = (lines: typeof stdout, test: (line: string) => boolean): Promise<string> => new Promise((resolve) => lines.on('line', (line) => test(line) && resolve(line)));
    await nextLine(stderr, (line) => line.startsWith('watching from seq'));
    const writer = await adminClient(port);
    const firstLine = nextLine(stdout, () => true);
    await writer.create({ type: 'Skill', name: 'watched', tenant: 1 });
    const first = JSON.parse(await firstLine) as { kind: string; at: string; object: { name: string } };
    expect(first).toMatchObject({ kind: 'ObjectCreated', object: { name: 'watched' } });
    expect(first.at).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    await writer.close();
    const lost = nextLine(stderr, (line) => / disconnected \(/.test(line));
    await master.stop();
    await lost;
    const resumed = nextLine(stderr, (line) => /connected to 127\.0\.0\.1:\d+, resumed after seq \d+: nothing missed/.test(line));
    master = await MasterServer.start({ ...options, sample: false });
    expect(await resumed).toMatch(/^\d{4}-\d\d-\d\dT/);
  });

  it('cli - put takes several YAML documents and lists, type names in any case; rm and --update check the dbid before sending', async () => {
    const { master, cleanup } = await startTestMaster();
    toClose.push(cleanup);
    const server = `127.0.0.1:${master.port}`;
    const created = await cli(['put', '-', '--server', server], 'type: skill\nname: Spanish\ntenant: 1\n---\n- { type: Skill, name: Italian, tenant: 1 }\n- { type: SKILL, name: Dutch, tenant: 1 }\n');
    expect(created.stdout).toMatch(/^(ok: dbid \d+, seq \d+\n){3}$/);
    for (const name of ['Spanish', 'Italian', 'Dutch']) expect(master.source.store.findByName('Skill', 1, name)).toBeDefined();
    for (const args of [['rm', 'dn', 'abc'], ['put', '-', '--update', 'DN:x'], ['put', '-', '--update', 'DN']]) {
      const failure = await cli([...args, '-s', '127.0.0.1:9'], 'props: {}\n').then(
        () => undefined,
        (error: { code: number; stderr: string }) => error,
      );
      expect(failure?.code, args.join(' ')).toBe(2);
    }
  });

  it.runIf(requireTool('script'))('cli - without -p on a terminal the CLI asks for the password and does not echo it', async () => {
    const { master, cleanup } = await startTestMaster();
    toClose.push(cleanup);
    // `script` gives the CLI a terminal; what we write to it is what a person types.
    const env = { ...process.env };
    delete env.CFGPROXY_PASSWORD;
    const terminal = spawn('script', ['-qec', `"${process.execPath}" "${CLI}" get dn --filter number=5001 -u admin -s 127.0.0.1:${master.port}`, '/dev/null'], { env });
    toClose.push(async () => void terminal.kill('SIGKILL'));
    let screen = '';
    terminal.stdout!.on('data', (chunk: Buffer) => (screen += chunk.toString()));
    await new Promise<void>((resolve) => terminal.stdout!.on('data', () => screen.includes('password for admin: ') && resolve()));
    terminal.stdin!.write(`${ADMIN_PASSWORD}\r`);
    const code = await new Promise<number | null>((resolve) => terminal.once('exit', resolve));
    expect(code).toBe(0);
    expect(screen).toMatch(/DN\t\d+\t5001\t/);
    expect(screen).not.toContain(ADMIN_PASSWORD); // never echoed
  });
});
