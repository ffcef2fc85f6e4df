import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { connect } from '../../src/client/index.js';
import { startCli } from '../helpers/processes.js';
import { scenarioHooks } from '../helpers/scenario.js';

const { toClose, tempDir } = scenarioHooks('proof-only');
const PASSWORD = 'proof-only-admin';
const CLI = new URL('../../bin/cfgproxy.js', import.meta.url).pathname;

describe('servers that take logins by proof only', () => {
  it('proof only - a master (by its environment variable) and a proxy (by its flag) refuse passwords in the clear; the SDK, the CLI and the proxy itself log in by proof', async () => {
    const dir = tempDir();
    const master = await startCli(['master', '--db', join(dir, 'master.db'), '--port', '0', '--sample'], 'master listening', { CFGPROXY_ADMIN_PASSWORD: PASSWORD, CFGPROXY_REFUSE_PASSWORD_LOGINS: 'true' });
    const masterPort = master.lines.find((l) => l.msg === 'master listening')!.port as number;
    // The proxy's own link to the master logs in by proof, or it would never load.
    const proxy = await startCli(['proxy', '--master', `127.0.0.1:${masterPort}`, '--user', 'admin', '--port', '0', '--history-db', join(dir, 'proxy.db'), '--refuse-password-logins'], 'configuration loaded', { CFGPROXY_PROXY_PASSWORD: PASSWORD });
    const proxyPort = proxy.lines.find((l) => typeof l.port === 'number')!.port as number;

    for (const port of [masterPort, proxyPort]) {
      const byProof = await connect({ endpoints: `127.0.0.1:${port}`, user: 'admin', password: PASSWORD, reconnect: false });
      toClose.push(() => byProof.close());
      expect(await byProof.readAll('Tenant')).toHaveLength(1);
      await expect(connect({ endpoints: `127.0.0.1:${port}`, user: 'admin', password: PASSWORD, reconnect: false, login: 'password' })).rejects.toMatchObject({
        code: 'AUTH_FAILED',
        message: expect.stringMatching(/by proof only/),
      });
    }
    const cli = spawnSync(process.execPath, [CLI, 'get', 'tenant', '-s', `127.0.0.1:${proxyPort}`], { env: { ...process.env, CFGPROXY_USER: 'admin', CFGPROXY_PASSWORD: PASSWORD }, encoding: 'utf8' });
    expect(cli.status).toBe(0);
    expect(cli.stdout).toMatch(/Acme/);
  });

  it('proof only - a switch variable that says false leaves the switch off, and one that says neither is a usage error', async () => {
    const dir = tempDir();
    const off = await startCli(['master', '--db', join(dir, 'off.db'), '--port', '0'], 'master listening', { CFGPROXY_ADMIN_PASSWORD: PASSWORD, CFGPROXY_REFUSE_PASSWORD_LOGINS: 'false' });
    const port = off.lines.find((l) => l.msg === 'master listening')!.port as number;
    const byPassword = await connect({ endpoints: `127.0.0.1:${port}`, user: 'admin', password: PASSWORD, reconnect: false, login: 'password' });
    toClose.push(() => byPassword.close());
    const bad = spawnSync(process.execPath, [CLI, 'master', '--db', join(dir, 'bad.db'), '--port', '0'], { env: { ...process.env, CFGPROXY_REFUSE_PASSWORD_LOGINS: 'sometimes' }, encoding: 'utf8' });
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/CFGPROXY_REFUSE_PASSWORD_LOGINS must be true or false/);
  });
});
