import net, { type Server, type Socket } from 'node:net';
import tls from 'node:tls';
import { serverTlsOptions, type TlsFiles } from './tls-options.js';

export interface ListenOptions {
  host: string;
  port: number;
  tls?: TlsFiles;
}

/** Capped by the kernel's net.core.somaxconn. */
const LISTEN_BACKLOG = 8192;

/** Opens a plain or TLS listener and resolves once it is bound (port 0 picks a free port). */
export async function listen(options: ListenOptions, onSocket: (socket: Socket) => void): Promise<Server> {
  const server: Server = options.tls
    ? tls.createServer(serverTlsOptions(options.tls), onSocket)
    : net.createServer({ noDelay: true }, onSocket);
  // A failed TLS handshake is the sender's problem alone; without a listener it would be unhandled.
  server.on('tlsClientError', () => undefined);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    // A deep accept queue: after a failover every client of the pair reconnects at once, and SYNs
    // beyond the queue are dropped and retried by TCP only a second or more later.
    server.listen({ host: options.host, port: options.port, backlog: LISTEN_BACKLOG }, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return server;
}

export function boundPort(server: Server): number {
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('server is not bound to a TCP port');
  return address.port;
}
