import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { connect } from '../../src/client/index.js';
import { makeTestCerts, type TestCerts } from '../helpers/certs.js';
import { ADMIN_PASSWORD, startTestMaster } from '../helpers/master.js';
import { freePort, killAll, startCli } from '../helpers/processes.js';

const run = promisify(execFile);
const CLI = new URL('../../bin/cfgproxy.js', import.meta.url).pathname;
let dir: string;
let certs: TestCerts;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'cfgproxy-bad-setup-'));
  certs = makeTestCerts();
});
afterAll(() => {
  certs.cleanup();
  rmSync(dir, { recursive: true, force: true });
});
afterEach(() => killAll());

/** Runs the CLI to its end; resolves with its exit code and stderr. */
async function cli(args: string[], env: Record<string, string> = {}): Promise<{ code: number; stderr: string }> {
  return run(process.execPath, [CLI, ...args], { env: { ...process.env, ...env }, timeout: 20_000 }).then(
    ({ stderr }) => ({ code: 0, stderr }),
    (error: { code: number; stderr: string }) => ({ code: error.code, stderr: error.stderr }),
  );
}

describe('bad setup names the fix, and exits 2', () => {
  const master = (extra: string[]) => cli(['master', '--db', join(dir, `m-${Math.random()}.db`), ...extra], { CFGPROXY_ADMIN_PASSWORD: 'x' });

  for (const [what, args, message] of [
    ['a port out of range', ['--port', '70000'], /--port must be a port number from 0 to 65535 \(0 picks a free one\) \(got '70000'\)/],
    ['a port that is no number', ['--admin-port', 'http'], /--admin-port must be a port number/],
    ['a certificate that does not exist', ['--tls-cert', 'missing.pem', '--tls-key', 'missing.key'], /--tls-cert must be an existing file: no such file: missing\.pem/],
    ['a certificate without its key', () => ['--tls-cert', certs.serverCert], /--tls-cert and --tls-key go together/],
    ['client verification without a CA', () => ['--tls-cert', certs.serverCert, '--tls-key', certs.serverKey, '--tls-verify-client'], /--tls-verify-client needs --tls-ca/],
    ['a key that is not the certificate’s', () => ['--tls-cert', certs.serverCert, '--tls-key', certs.clientKey, '--port', '0'], /cannot serve TLS with .*belong together/],
    ['a lease of no time', ['--lease', '0'], /--lease must be a number, 0\.1 or more/],
  ] as const) {
    it(`setup - master with ${what}: exit 2 and a message naming the option`, async () => {
      const outcome = await master(typeof args === 'function' ? [...args()] : [...args]);
      expect(outcome.code).toBe(2);
      expect(outcome.stderr).toMatch(message);
    });
  }

  it('setup - a value from the environment that does not fit says which variable it came from', async () => {
    const outcome = await cli(['master', '--db', join(dir, 'env.db')], { CFGPROXY_PORT: '99999' });
    expect(outcome).toMatchObject({ code: 2, stderr: expect.stringMatching(/--port must be .*\(from CFGPROXY_PORT\)/) });
  });

  it('setup - busy ports: the client port, the admin port and the HA port each name their option', async () => {
    const busy = net.createServer();
    await new Promise<void>((resolve) => busy.listen(0, '127.0.0.1', resolve));
    const port = (busy.address() as net.AddressInfo).port;
    try {
      expect(await master(['--port', String(port)])).toMatchObject({ code: 2, stderr: expect.stringMatching(new RegExp(`--port ${port}: 127\\.0\\.0\\.1:${port} is already in use`)) });
      expect(await master(['--port', '0', '--admin-port', String(port)])).toMatchObject({ code: 2, stderr: expect.stringMatching(new RegExp(`--admin-port ${port}: .* is already in use`)) });
      const { master: m, cleanup } = await startTestMaster();
      try {
        const proxy = await cli(['proxy', '--master', `127.0.0.1:${m.port}`, '-u', 'admin', '-p', ADMIN_PASSWORD, '--port', '0', '--history-db', ':memory:', '--role', 'primary', '--ha-port', String(port), '--ha-secret', 's']);
        expect(proxy).toMatchObject({ code: 2, stderr: expect.stringMatching(new RegExp(`--ha-port ${port}: .* is already in use`)) });
      } finally {
        await cleanup();
      }
    } finally {
      await new Promise((resolve) => busy.close(resolve));
    }
  });

  it('setup - pair options that do not fit the role: a primary given --peer, a backup given --ha-port, --peer without --role', async () => {
    const base = ['proxy', '--master', '127.0.0.1:1', '-u', 'a', '-p', 'b', '--ha-secret', 's'];
    expect(await cli([...base, '--role', 'primary', '--ha-port', '0', '--peer', '127.0.0.1:2'])).toMatchObject({ code: 2, stderr: expect.stringMatching(/--peer is for --role backup/) });
    expect(await cli([...base, '--role', 'backup', '--peer', '127.0.0.1:2', '--ha-port', '0'])).toMatchObject({ code: 2, stderr: expect.stringMatching(/--ha-port is for --role primary/) });
    expect(await cli([...base, '--peer', '127.0.0.1:2'])).toMatchObject({ code: 2, stderr: expect.stringMatching(/--peer is for a pair member/) });
  });

  it('setup - a backup whose --peer is the primary’s client port says so', async () => {
    const { master: m, cleanup } = await startTestMaster();
    try {
      const clientPort = await freePort();
      const common = ['--master', `127.0.0.1:${m.port}`, '-u', 'admin', '--ha-secret', 'pair-s', '--history-db', ':memory:', '--ha-addp', '2'];
      await startCli(['proxy', ...common, '--role', 'primary', '--port', String(clientPort), '--ha-port', '0'], 'proxy listening (loading)', { CFGPROXY_PROXY_PASSWORD: ADMIN_PASSWORD });
      const backup = await startCli(['proxy', ...common, '--role', 'backup', '--port', '0', '--peer', `127.0.0.1:${clientPort}`, '--heartbeat-interval', '0.2'], 'proxy listening (loading)', { CFGPROXY_PROXY_PASSWORD: ADMIN_PASSWORD });
      const line = await backup.waitForLog((l) => l.event === 'HA-022');
      expect(line.msg).toMatch(/is --peer the primary's --ha-port, not its client port\?/);
    } finally {
      await cleanup();
    }
  });

  it('setup - plain TCP to a TLS port: the SDK says to use tls://', async () => {
    const { master: m, cleanup } = await startTestMaster({ tls: { cert: certs.serverCert, key: certs.serverKey } });
    try {
      await expect(connect({ endpoints: `127.0.0.1:${m.port}`, user: 'admin', password: ADMIN_PASSWORD, reconnect: false })).rejects.toMatchObject({ message: expect.stringMatching(new RegExp(`if it serves TLS, connect with tls://127\\.0\\.0\\.1:${m.port}`)) });
      const viaCli = await cli(['get', 'dn', '-s', `127.0.0.1:${m.port}`, '-u', 'admin', '-p', ADMIN_PASSWORD]);
      expect(viaCli).toMatchObject({ code: 3, stderr: expect.stringMatching(/connect with tls:\/\//) });
    } finally {
      await cleanup();
    }
  });
});
