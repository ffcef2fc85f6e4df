import net from 'node:net';
import { join } from 'node:path';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { afterEach, describe, expect, it } from 'vitest';
import { Registry } from 'prom-client';
import { AdminServer, admissibleConnections, type AdminTarget } from '../../src/admin/admin-server.js';
import { connect } from '../../src/client/index.js';
import { createLogger } from '../../src/util/logger.js';
import { freePort, killAll, startCli, takeServerFaults } from '../helpers/processes.js';

const toClose: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  killAll();
  for (const close of toClose.splice(0).reverse()) await close();
  expect(takeServerFaults()).toEqual([]);
});

/** A pair member's admin target that records switchovers. */
function pairTarget(): AdminTarget & { switchovers: number } {
  const target = {
    switchovers: 0,
    serving: () => true,
    active: () => true,
    haStatus: () => ({ role: 'primary' }),
    metrics: () => [],
    registry: new Registry(),
    info: () => ({ kind: 'proxy', name: 'p', version: '0', role: 'primary' }),
    async switchover() {
      target.switchovers += 1;
      return { ok: true, message: 'switched' };
    },
  };
  return target;
}

/** A raw HTTP/1.1 request, so Host and Origin say what an attacker's page would make them say. */
function request(port: number, lines: string[]): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1', () => socket.write(`${lines.join('\r\n')}\r\nConnection: close\r\n\r\n`));
    let text = '';
    socket.on('data', (chunk) => (text += chunk.toString()));
    socket.on('end', () => resolve({ status: Number(/^HTTP\/1\.[01] (\d+)/.exec(text)?.[1] ?? 0), body: text.split('\r\n\r\n')[1] ?? '' }));
    socket.on('error', reject);
  });
}

async function adminServer(host: string, settings: ConstructorParameters<typeof AdminServer>[2] = {}): Promise<{ admin: AdminServer; target: ReturnType<typeof pairTarget> }> {
  const target = pairTarget();
  const admin = new AdminServer(target, createLogger({ level: 'silent' }), settings);
  await admin.start(host, 0);
  toClose.push(() => admin.stop());
  return { admin, target };
}

describe('admin HTTP fit for a browser’s world', () => {
  it('admin - DNS rebinding: a forged Host is refused with 421 on every route, and no switchover happens', async () => {
    const { admin, target } = await adminServer('127.0.0.1');
    const evil = ['Host: attacker.example', 'Origin: http://attacker.example'];
    expect((await request(admin.port, ['POST /ha/switchover HTTP/1.1', ...evil, 'Content-Length: 0'])).status).toBe(421);
    expect((await request(admin.port, ['GET /health HTTP/1.1', 'Host: attacker.example'])).status).toBe(421);
    expect((await request(admin.port, ['GET /status HTTP/1.1', `Host: attacker.example:${admin.port}`])).status).toBe(421);
    expect(target.switchovers).toBe(0);
    // A page of another name posting to the real one is refused too.
    expect((await request(admin.port, ['POST /ha/switchover HTTP/1.1', `Host: 127.0.0.1:${admin.port}`, 'Origin: http://attacker.example', 'Content-Length: 0'])).status).toBe(403);
    expect(target.switchovers).toBe(0);
    // The names it is known by, and a monitor that sends no Host at all (HTTP/1.0).
    for (const host of [`127.0.0.1:${admin.port}`, `localhost:${admin.port}`, `[::1]:${admin.port}`]) expect((await request(admin.port, ['GET /health HTTP/1.1', `Host: ${host}`])).status).toBe(200);
    expect((await request(admin.port, ['GET /health HTTP/1.0'])).status).toBe(200);
    expect((await request(admin.port, ['POST /ha/switchover HTTP/1.1', `Host: 127.0.0.1:${admin.port}`, 'Content-Length: 0'])).status).toBe(200);
    expect(target.switchovers).toBe(1);
  });

  it('admin - listening beyond loopback, actions need the token; names given with --admin-allowed-hosts are answered', async () => {
    const open = await adminServer('0.0.0.0', { allowedHosts: ['lb-check.example'] });
    expect((await request(open.admin.port, ['POST /ha/switchover HTTP/1.1', `Host: 127.0.0.1:${open.admin.port}`, 'Content-Length: 0'])).status).toBe(401);
    expect((await request(open.admin.port, ['GET /health HTTP/1.1', 'Host: lb-check.example'])).status).toBe(200);
    expect(open.target.switchovers).toBe(0);
    const guarded = await adminServer('0.0.0.0', { token: 's3cret' });
    expect((await request(guarded.admin.port, ['POST /ha/switchover HTTP/1.1', `Host: 127.0.0.1:${guarded.admin.port}`, 'Authorization: Bearer wrong', 'Content-Length: 0'])).status).toBe(401);
    expect((await request(guarded.admin.port, ['POST /ha/switchover HTTP/1.1', `Host: 127.0.0.1:${guarded.admin.port}`, 'Authorization: Bearer s3cret', 'Content-Length: 0'])).status).toBe(200);
    expect(guarded.target.switchovers).toBe(1);
  });

  it('admin - the connection cap is at most an eighth of the descriptor limit', () => {
    expect(admissibleConnections(64, 'Max open files            256                  256                  files')).toBe(32);
    expect(admissibleConnections(64, 'Max open files            unlimited            unlimited            files')).toBe(64);
    expect(admissibleConnections(64, '')).toBe(64);
  });

  it('admin - a master limited to 256 descriptors, with 400 half-open admin connections: new client logins and /health still work, and the shedding is logged once', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cfgproxy-admin-'));
    toClose.push(() => rmSync(dir, { recursive: true, force: true }));
    const port = await freePort();
    const adminPort = await freePort();
    const master = await startCli(['master', '--db', join(dir, 'm.db'), '--port', String(port), '--admin-port', String(adminPort)], 'master listening', { CFGPROXY_ADMIN_PASSWORD: 'admin-pass' }, { wrap: ['prlimit', '--nofile=256:256', '--'] });
    const sockets: net.Socket[] = [];
    toClose.push(() => sockets.forEach((socket) => socket.destroy()));
    let closedByServer = 0;
    for (let i = 0; i < 400; i += 1) {
      const socket = net.connect(adminPort, '127.0.0.1', () => socket.write('GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n')); // never finished
      socket.on('error', () => undefined);
      socket.on('close', () => (closedByServer += 1));
      sockets.push(socket);
      if (i % 50 === 49) await new Promise((resolve) => setTimeout(resolve, 20));
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(closedByServer).toBeGreaterThan(300);
    for (let i = 0; i < 5; i += 1) {
      const client = await connect({ endpoints: `127.0.0.1:${port}`, user: 'admin', password: 'admin-pass', reconnect: false, standby: false });
      await client.close();
      const health = await fetch(`http://127.0.0.1:${adminPort}/health`);
      expect(health.status).toBe(200);
    }
    expect(master.lines.filter((line) => line.event === 'ADMIN-002')).toHaveLength(1);
    expect(master.child.exitCode).toBeNull();
  });
});
