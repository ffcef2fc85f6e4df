import { join } from 'node:path';
import { ProxyServer, type ProxyOptions } from '../../src/proxy/proxy-server.js';
import { ADMIN_PASSWORD } from './master.js';

/** A proxy on 127.0.0.1:0 in front of the given master ports (or `options.masters`), with its history log in `dir`; loaded. */
export async function startTestProxy(dir: string, masterPorts: number[], options: Partial<ProxyOptions> = {}): Promise<ProxyServer> {
  const proxy = await ProxyServer.start({
    masters: masterPorts.map((port) => `127.0.0.1:${port}`),
    user: 'admin',
    password: ADMIN_PASSWORD,
    port: 0,
    historyDb: join(dir, `proxy-${Math.random().toString(36).slice(2)}.db`),
    ...options,
  });
  await proxy.loaded();
  return proxy;
}
