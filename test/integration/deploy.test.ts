import { execFile, spawn } from 'node:child_process';
import { chmodSync, cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { connect } from '../../src/client/index.js';
import { freePort, killAll, startCli, takeServerFaults } from '../helpers/processes.js';
import { requireTool } from '../helpers/tools.js';

const run = promisify(execFile);
const ROOT = new URL('../..', import.meta.url).pathname;
const DEPLOY = join(ROOT, 'deploy');
const dir = mkdtempSync(join(tmpdir(), 'cfgproxy-deploy-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
afterEach(() => {
  killAll();
  expect(takeServerFaults()).toEqual([]);
});

describe('deployment files', () => {
  it.runIf(requireTool('systemd-analyze'))('deploy - the systemd units for a master and a proxy pass systemd-analyze verify without a word', async () => {
    // A root with the system's units and the binary the units start, so nothing else is judged.
    const root = join(dir, 'root');
    mkdirSync(join(root, 'usr', 'bin'), { recursive: true });
    mkdirSync(join(root, 'usr', 'lib', 'systemd'), { recursive: true });
    mkdirSync(join(root, 'etc', 'systemd', 'system'), { recursive: true });
    cpSync('/lib/systemd/system', join(root, 'usr', 'lib', 'systemd', 'system'), { recursive: true });
    writeFileSync(join(root, 'usr', 'bin', 'cfgproxy'), '#!/bin/sh\n');
    chmodSync(join(root, 'usr', 'bin', 'cfgproxy'), 0o755);
    for (const unit of ['cfgproxy-master.service', 'cfgproxy-proxy.service']) cpSync(join(DEPLOY, unit), join(root, 'etc', 'systemd', 'system', unit));
    const { stdout, stderr } = await run('systemd-analyze', ['verify', '--man=no', `--root=${root}`, '/etc/systemd/system/cfgproxy-master.service', '/etc/systemd/system/cfgproxy-proxy.service']);
    expect(stdout + stderr).toBe('');
  });

  it.runIf(requireTool('python3'))('deploy - the example config files start a master and a proxy (addresses moved by the environment only), and the units’ readiness notification arrives', async () => {
    const [port, adminPort, proxyPort, proxyAdmin] = await Promise.all([freePort(), freePort(), freePort(), freePort()]);
    // A stand-in for systemd's notify socket: python3 reads one datagram.
    const socketPath = join(dir, 'notify.sock');
    const listener = spawn('python3', ['-c', `import socket,sys\ns=socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)\ns.bind(sys.argv[1])\nprint('bound', flush=True)\nprint(s.recv(4096).decode(), flush=True)`, socketPath], { stdio: ['ignore', 'pipe', 'inherit'] });
    let heard = '';
    const bound = new Promise<void>((resolve) => listener.stdout.on('data', (chunk: Buffer) => {
      heard += chunk.toString();
      if (heard.includes('bound')) resolve();
    }));
    const notified = new Promise<string>((resolve) => listener.once('exit', () => resolve(heard)));
    await bound;
    const env = { CFGPROXY_DB: join(dir, 'master.db'), CFGPROXY_HOST: '127.0.0.1', CFGPROXY_PORT: String(port), CFGPROXY_ADMIN_HOST: '127.0.0.1', CFGPROXY_ADMIN_PORT: String(adminPort), CFGPROXY_ADMIN_PASSWORD: 'deploy-admin' };
    const master = await startCli(['--config', join(DEPLOY, 'master.example.yaml'), 'master'], 'master listening', { ...env, NOTIFY_SOCKET: socketPath });
    expect(await notified).toContain('READY=1');
    expect(master.lines.find((line) => line.msg === 'master listening')).toMatchObject({ serverName: 'master-1' });

    const admin = await connect({ endpoints: `127.0.0.1:${port}`, user: 'admin', password: 'deploy-admin', reconnect: false, standby: false });
    await admin.create({ type: 'Person', name: 'proxy', props: { isProxy: true, password: 'deploy-proxy' } });
    await admin.close();
    const proxy = await startCli(['--config', join(DEPLOY, 'proxy.example.yaml'), 'proxy'], 'configuration loaded', {
      CFGPROXY_MASTER: `127.0.0.1:${port}`, CFGPROXY_HOST: '127.0.0.1', CFGPROXY_PORT: String(proxyPort), CFGPROXY_ADMIN_HOST: '127.0.0.1', CFGPROXY_ADMIN_PORT: String(proxyAdmin),
      CFGPROXY_HISTORY_DB: join(dir, 'proxy.db'), CFGPROXY_PROXY_PASSWORD: 'deploy-proxy',
    });
    expect(proxy.lines.some((line) => line.msg === 'connected to the master')).toBe(true);
    expect((await fetch(`http://127.0.0.1:${proxyAdmin}/health`)).status).toBe(200);
  });
});
