import net, { type Server, type Socket } from 'node:net';
import tls from 'node:tls';
import { serverTlsOptions, type TlsFiles } from './tls-options.js';

export interface ListenOptions {
  host: string;
  port: number;
  tls?: TlsFiles;
}

/** Opens a plain or TLS listener and resolves once it is bound (port 0 picks a free port). */
export async function listen(options: ListenOptions, onSocket: (socket: Socket) => void): Promise<Server> {
  const server: Server = options.tls
    ? tls.createServer(serverTlsOptions(options.tls), onSocket)
    : net.createServer({ noDelay: true }, onSocket);
  // A failed TLS handshake is the sender's problem alone; without a listener it would be unhandled.
  server.on('tlsClientError', () => undefined);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: options.host, port: options.port }, () => {
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
