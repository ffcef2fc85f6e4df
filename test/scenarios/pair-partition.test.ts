import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ADMIN_PASSWORD, startTestMaster } from '../helpers/master.js';
import { activeMembers, freePort, startCli } from '../helpers/processes.js';
import { Relay } from '../helpers/relay.js';
import { scenarioHooks } from '../helpers/scenario.js';

const { toClose, tempDir } = scenarioHooks('partition');

const HEARTBEAT_MS = 1000;


describe('pair partition', () => {
  it('partition - the members lose each other (HA link and client port go silent): the backup is promoted; healed, the lower term steps down and exactly one primary serves within two heartbeats of the link', async () => {
    const dir = tempDir();
    const { master, cleanup } = await startTestMaster();
    toClose.push(cleanup);
    const [haPort, adminA, adminB, portA, portB] = await Promise.all([freePort(), freePort(), freePort(), freePort(), freePort()]);
    // Everything B knows of A goes through relays: A's HA port and the client port A advertises.
    const haRelay = await Relay.start(haPort);
    const clientRelay = await Relay.start(portA);
    toClose.push(() => haRelay.close(), () => clientRelay.close());
    const common = ['--master', `127.0.0.1:${master.port}`, '--user', 'admin', '--ha-addp', '2', '--heartbeat-interval', String(HEARTBEAT_MS / 1000), '--failures-to-switch', '3', '--master-addp', '1'];
    const env = { CFGPROXY_PROXY_PASSWORD: ADMIN_PASSWORD, CFGPROXY_HA_SECRET: 'partition-secret' };
    const a = await startCli(['proxy', ...common, '--role', 'primary', '--port', String(portA), '--advertise', `127.0.0.1:${clientRelay.port}`, '--ha-port', String(haPort), '--admin-port', String(adminA), '--history-db', join(dir, 'a.db')], 'proxy listening (loading)', env);
    const b = await startCli(['proxy', ...common, '--role', 'backup', '--port', String(portB), '--peer', `127.0.0.1:${haRelay.port}`, '--admin-port', String(adminB), '--history-db', join(dir, 'b.db')], 'proxy listening (loading)', env);
    await b.waitForLog((line) => line.msg === 'HA link up');
    expect(await activeMembers([adminA, adminB])).toEqual([adminA]);

    // The partition: nothing passes either way, no connection is closed (a silent network).
    haRelay.stall();
    clientRelay.stall();
    await b.waitForLog((line) => line.event === 'HA-003'); // A's client port stopped answering the probes
    await b.waitForLog((line) => line.event === 'HA-004');
    // Two primaries while they cannot see each other: each serves the clients that reach it.
    expect((await activeMembers([adminA, adminB])).sort()).toEqual([adminA, adminB].sort());

    // Healed: B redials, the handshake compares terms, the one that never promoted steps down.
    const healedAt = Date.now();
    haRelay.heal();
    clientRelay.heal();
    const linked = await b.waitForLog((line) => line.msg === 'HA link up' && (line.time as number) >= healedAt);
    await a.waitForLog((line) => line.event === 'HA-006' || line.event === 'HA-010');
    let active: number[] = [];
    for (const deadline = performance.now() + 10_000; performance.now() < deadline; ) {
      active = await activeMembers([adminA, adminB]);
      if (active.length === 1) break;
      await new Promise((resolve) => setTimeout(resolve, 50)); // /health/active emits nothing: poll it, as a balancer does
    }
    expect(Date.now() - (linked.time as number)).toBeLessThanOrEqual(2 * HEARTBEAT_MS);
    expect(active).toEqual([adminB]);
    const ha = (await (await fetch(`http://127.0.0.1:${adminA}/ha`)).json()) as { role: string; link: string; term: number };
    expect(ha).toMatchObject({ role: 'backup', link: 'up', term: 1 });
    // And it stays one.
    await new Promise((resolve) => setTimeout(resolve, 3 * HEARTBEAT_MS));
    expect(await activeMembers([adminA, adminB])).toEqual([adminB]);
  }, 60_000);
});
