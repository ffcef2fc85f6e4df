import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { connect } from '../../src/client/index.js';
import { HA_DEFAULTS } from '../../src/ha/ha-options.js';
import { ADMIN_PASSWORD, startTestMaster } from '../helpers/master.js';
import { startTestProxy } from '../helpers/proxy.js';

/** The kinds of handles the process holds, counted: what a stopped server must give back. */
function handles(): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const kind of process.getActiveResourcesInfo()) counts[kind] = (counts[kind] ?? 0) + 1;
  return counts;
}

/** The handles held now beyond those held `before`, once closing sockets and timers settled (at most 2 s). */
async function leftOver(before: Record<string, number>): Promise<Record<string, number>> {
  const beyond = (): Record<string, number> => Object.fromEntries(Object.entries(handles()).filter(([kind, count]) => count > (before[kind] ?? 0)).map(([kind, count]) => [kind, count - (before[kind] ?? 0)]));
  for (let i = 0; i < 100 && Object.keys(beyond()).length > 0; i += 1) await new Promise((resolve) => setTimeout(resolve, 20));
  return beyond();
}

describe('servers give back what they hold', () => {
  it('handles - a master with its admin port, a proxy, a pair (primary and backup, HA link up) and their clients, started and stopped, leave no socket, server or timer behind', async () => {
    const before = handles();
    const { master, dir, cleanup } = await startTestMaster({ adminPort: 0 });
    const proxy = await startTestProxy(dir, [master.port], { adminPort: 0, historyDb: join(dir, 'proxy.db') });
    const ha = { ...HA_DEFAULTS, secret: 'handles', addpTimeoutMs: 300, heartbeatIntervalMs: 100, failuresToSwitch: 3, acceptClientsInBackupMode: false, readyAfterMs: 0 };
    const primary = await startTestProxy(dir, [master.port], { ha: { ...ha, role: 'primary', haPort: 0 }, serverName: 'primary', historyDb: join(dir, 'primary.db'), adminPort: 0 });
    const backup = await startTestProxy(dir, [master.port], { ha: { ...ha, role: 'backup', peer: `127.0.0.1:${primary.ha!.server!.port}` }, serverName: 'backup', historyDb: join(dir, 'backup.db'), adminPort: 0 });
    await new Promise<void>((resolve) => (backup.ha!.linkUp ? resolve() : backup.ha!.once('role-event', () => resolve())));
    const clients = await Promise.all(
      [master.port, proxy.port, primary.port].map((port) => connect({ endpoints: [`127.0.0.1:${port}`, `127.0.0.1:${backup.port}`], user: 'admin', password: ADMIN_PASSWORD })),
    );
    for (const client of clients) await client.subscribe({ type: 'Skill' });
    expect(Object.values(handles()).reduce((a, b) => a + b, 0)).toBeGreaterThan(Object.values(before).reduce((a, b) => a + b, 0));
    for (const client of clients) await client.close();
    await backup.stop();
    await primary.stop();
    await proxy.stop();
    await cleanup();
    expect(await leftOver(before)).toEqual({});
  });
});
