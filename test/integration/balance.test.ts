import { afterEach, describe, expect, it } from 'vitest';
import type { CfgClient } from '../../src/client/client.js';
import { ADMIN_PASSWORD, adminClient, startTestMaster } from '../helpers/master.js';

const cleanups: Array<() => Promise<void>> = [];
const clients: CfgClient[] = [];

afterEach(async () => {
  await Promise.all(clients.splice(0).map((client) => client.close()));
  for (const cleanup of cleanups.splice(0)) await cleanup();
});

describe('client-side balancing', () => {
  it("balance - 'random' spreads clients over the listed servers; the default starts every client at the first", async () => {
    const servers = await Promise.all(['m-one', 'm-two'].map((serverName) => startTestMaster({ serverName, adminPassword: ADMIN_PASSWORD })));
    for (const server of servers) cleanups.push(server.cleanup);
    const endpoints = servers.map(({ master }) => `127.0.0.1:${master.port}`);
    const where = async (balance?: 'random'): Promise<string[]> => {
      const opened = await Promise.all(Array.from({ length: 24 }, () => adminClient(servers[0].master.port, { endpoints, standby: false, ...(balance ? { balance } : {}) })));
      clients.push(...opened);
      return opened.map((client) => client.server!.serverName);
    };
    expect(new Set(await where())).toEqual(new Set(['m-one']));
    const spread = await where('random');
    // 24 clients all on one of two servers by chance: 2 in 2^24.
    expect(spread.filter((name) => name === 'm-one').length).toBeGreaterThan(0);
    expect(spread.filter((name) => name === 'm-two').length).toBeGreaterThan(0);
  });
});
