import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ADMIN_PASSWORD, startTestMaster } from '../helpers/master.js';
import { activeMembers, freePort, killed, startCli, type CliProcess } from '../helpers/processes.js';
import { scenarioHooks } from '../helpers/scenario.js';

const { toClose, tempDir } = scenarioHooks('flap');


// The defaults (1 s, 3 failures to switch): a restart within 3 s leaves the waiting member backup.
const HEARTBEAT_MS = 1000;


describe('pair flap', () => {
  for (const delayMs of [300, 2000, 6000]) {
    it(`flap - the promoted member crashes and is restarted after ${delayMs} ms: exactly one primary serves again within two heartbeats of the link coming up`, async () => {
      const dir = tempDir();
      const { master, cleanup } = await startTestMaster();
      toClose.push(cleanup);
      const [haPort, adminA, adminB, portA, portB] = await Promise.all([freePort(), freePort(), freePort(), freePort(), freePort()]);
      const common = ['--master', `127.0.0.1:${master.port}`, '--user', 'admin', '--ha-addp', '2', '--heartbeat-interval', String(HEARTBEAT_MS / 1000), '--failures-to-switch', '3', '--master-addp', '1'];
      const env = { CFGPROXY_PROXY_PASSWORD: ADMIN_PASSWORD, CFGPROXY_HA_SECRET: 'flap-secret' };
      const startA = (): Promise<CliProcess> =>
        startCli(['proxy', ...common, '--role', 'primary', '--port', String(portA), '--ha-port', String(haPort), '--admin-port', String(adminA), '--history-db', join(dir, 'a.db')], 'proxy listening (loading)', env);
      const startB = (): Promise<CliProcess> =>
        startCli(['proxy', ...common, '--role', 'backup', '--port', String(portB), '--peer', `127.0.0.1:${haPort}`, '--admin-port', String(adminB), '--history-db', join(dir, 'b.db')], 'proxy listening (loading)', env);

      let a = await startA();
      let b = await startB();
      await b.waitForLog((line) => line.msg === 'HA link up');
      // The configured primary crashes: the backup is promoted.
      await killed(a.child);
      await b.waitForLog((line) => line.event === 'HA-004');
      // It comes back and joins as backup.
      a = await startA();
      await a.waitForLog((line) => line.event === 'HA-010');
      expect(await activeMembers([adminA, adminB])).toEqual([adminB]);
      // Now the promoted member crashes and a supervisor restarts it after `delayMs`.
      await killed(b.child);
      await new Promise((resolve) => setTimeout(resolve, delayMs)); // the supervisor's delay is the scenario itself
      const restartedAt = performance.now();
      b = await startB();
      const linked = await b.waitForLog((line) => line.msg === 'HA link up');
      let active: number[] = [];
      for (const deadline = performance.now() + 15_000; performance.now() < deadline; ) {
        active = await activeMembers([adminA, adminB]);
        if (active.length === 1) break;
        await new Promise((resolve) => setTimeout(resolve, 50)); // /health/active emits nothing: poll it, as a balancer does
      }
      const oneAt = Date.now();
      expect(active).toHaveLength(1);
      const servingAfterMs = performance.now() - restartedAt;
      expect(oneAt - (linked.time as number)).toBeLessThanOrEqual(2 * HEARTBEAT_MS); // within two heartbeats of the link
      if (process.env.FLAP_FIGURES) console.log(JSON.stringify({ delayMs, restartToOnePrimaryMs: Math.round(servingAfterMs) }));
      // And it stays one.
      await new Promise((resolve) => setTimeout(resolve, 3 * HEARTBEAT_MS));
      expect(await activeMembers([adminA, adminB])).toHaveLength(1);
    }, 60_000);
  }
});
