import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { connect } from '../../src/client/index.js';
import { ADMIN_PASSWORD, startTestMaster } from '../helpers/master.js';
import { freePort, startCli } from '../helpers/processes.js';
import { scenarioHooks } from '../helpers/scenario.js';
import { requireTool } from '../helpers/tools.js';

const { toClose, tempDir } = scenarioHooks('status-page');
const run = promisify(execFile);

/** Headless Chromium as the probe ran it here: no sandbox (root), no background traffic, a fresh profile. */
async function chromium(dir: string, ...args: string[]): Promise<string> {
  const flags = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', `--user-data-dir=${join(dir, 'profile')}`];
  // --virtual-time-budget lets the page's fetch of /status finish before the DOM is read.
  return (await run('chromium', [...flags, '--virtual-time-budget=5000', ...args], { timeout: 60_000, maxBuffer: 8 * 1024 * 1024 })).stdout;
}

describe.runIf(requireTool('chromium'))('status page and metrics', () => {
  it('status page - a person opens the primary\'s admin port in a browser: role, serving, seq, clients, the pair link and its peer, the recent events; /metrics has process, event-loop and latency metrics', async () => {
    const dir = tempDir();
    const { master, cleanup } = await startTestMaster();
    toClose.push(cleanup);
    const [haPort, adminPort, portA, portB, backupAdmin] = await Promise.all([freePort(), freePort(), freePort(), freePort(), freePort()]);
    const common = ['--master', `127.0.0.1:${master.port}`, '--user', 'admin', '--heartbeat-interval', '0.2'];
    const env = { CFGPROXY_PROXY_PASSWORD: ADMIN_PASSWORD, CFGPROXY_HA_SECRET: 'page-secret', CFGPROXY_READY_AFTER: '0' };
    const primary = await startCli(['proxy', ...common, '--role', 'primary', '--port', String(portA), '--ha-port', String(haPort), '--admin-port', String(adminPort), '--history-db', join(dir, 'a.db')], 'configuration loaded', env);
    const backup = await startCli(['proxy', ...common, '--role', 'backup', '--port', String(portB), '--peer', `127.0.0.1:${haPort}`, '--admin-port', String(backupAdmin), '--history-db', join(dir, 'b.db')], 'proxy listening (loading)', env);
    await backup.waitForLog((line) => line.msg === 'HA link up');

    // A subscriber and a change through the primary, so the latency histograms have something.
    const subscriber = await connect({ endpoints: `127.0.0.1:${portA}`, user: 'admin', password: ADMIN_PASSWORD });
    toClose.push(() => subscriber.close());
    await subscriber.subscribe({ type: 'Skill' });
    const received = new Promise((resolve) => subscriber.once('notification', resolve));
    const writer = await connect({ endpoints: `127.0.0.1:${master.port}`, user: 'admin', password: ADMIN_PASSWORD });
    toClose.push(() => writer.close());
    const { seq } = await writer.create({ type: 'Skill', name: 'on-the-page', tenant: 1 });
    await received;

    const base = `http://127.0.0.1:${adminPort}`;
    const metrics = await (await fetch(`${base}/metrics`)).text();
    expect(metrics).toMatch(/^cfgproxy_process_cpu_user_seconds_total \d/m);
    expect(metrics).toMatch(/^cfgproxy_nodejs_eventloop_lag_seconds \d/m);
    expect(metrics).toMatch(/^cfgproxy_request_seconds_count\{kind="Register"\} [1-9]/m);
    expect(metrics).toMatch(/^cfgproxy_commit_to_delivery_seconds_count [1-9]/m);
    expect(metrics).toMatch(/^cfgproxy_info\{kind="proxy",name="proxy",version="[^"]+",role="primary"\} 1$/m);
    expect(metrics).toMatch(/^# TYPE cfgproxy_deliveries_total counter$/m);

    const dom = await chromium(dir, '--dump-dom', `${base}/`);
    const fact = (label: string): string | undefined => new RegExp(`data-fact="${label}">([^<]*)<`).exec(dom)?.[1];
    expect(fact('role')).toBe('primary');
    expect(fact('serving')).toBe('yes');
    expect(Number(fact('seq'))).toBeGreaterThanOrEqual(seq);
    expect(Number(fact('clients'))).toBeGreaterThanOrEqual(1);
    expect(fact('pair link')).toBe(`up to 127.0.0.1:${portB}`);
    expect(dom).toContain('<td>HA-001</td>'); // the link came up: an event of the recent list
    expect(fact('health')).toBe('healthy');
    expect(fact('master link')).toBe('up');
    expect(fact('term')).toMatch(/^\d+$/);
    expect(fact('switchover')).toBe('ready');
    expect(fact('uptime')).toMatch(/^\d+m \d+s$/);
    // A healthy backup refuses clients by design: standing by, not a red "no".
    const backupDom = await chromium(dir, '--dump-dom', `http://127.0.0.1:${backupAdmin}/`);
    const backupFact = (label: string): string | undefined => new RegExp(`data-fact="${label}">([^<]*)<`).exec(backupDom)?.[1];
    expect(backupFact('health')).toBe('healthy');
    expect(backupFact('serving')).toBe('standing by');
    expect(backupFact('role')).toBe('backup');
    await chromium(dir, `--screenshot=${join(dir, 'status.png')}`, '--window-size=1100,700', `${base}/`);
    const png = readFileSync(join(dir, 'status.png'));
    expect(png.subarray(1, 4).toString()).toBe('PNG');
    expect(png.length).toBeGreaterThan(10_000); // a rendered page, not a blank one

    // The master goes away: the proxy still serves, and says what it lacks.
    await cleanup();
    toClose.splice(toClose.indexOf(cleanup), 1);
    await primary.waitForLog((line) => line.msg === 'lost the master; serving from the cache');
    const response = await fetch(`${base}/health`);
    expect(response.status).toBe(200);
    expect(await response.text()).toMatch(/^serving \(degraded: master unreachable since \d{4}-\d\d-\d\dT[\d:.]+Z\)/);
    expect((await fetch(`${base}/health/active`)).status).toBe(200); // a role check, as before
    const degraded = await chromium(dir, '--dump-dom', `${base}/`);
    expect(new RegExp('data-fact="health">([^<]*)<').exec(degraded)?.[1]).toBe('degraded');
    expect(new RegExp('data-fact="master link">([^<]*)<').exec(degraded)?.[1]).toMatch(/^down since \d\d:\d\d:\d\d$/);
  }, 120_000);
});
