import net, { type Server, type Socket } from 'node:net';
import tls from 'node:tls';
import { SetupError } from '../util/setup-error.js';
import { serverTlsOptions, type TlsFiles } from './tls-options.js';

export interface ListenOptions {
  host: string;
  port: number;
  tls?: TlsFiles;
  /** The option that set the port, for an error that says what to change (`--port`). */
  flag?: string;
}

/** Capped by the kernel's net.core.somaxconn. */
const LISTEN_BACKLOG = 8192;

/** Opens a plain or TLS listener and resolves once it is bound (port 0 picks a free port). */
export async function listen(options: ListenOptions, onSocket: (socket: Socket) => void): Promise<Server> {
  let server: Server;
  try {
    server = options.tls ? tls.createServer(serverTlsOptions(options.tls), onSocket) : net.createServer({ noDelay: true }, onSocket);
  } catch (error) {
    const files = [options.tls?.cert, options.tls?.key, options.tls?.ca].filter(Boolean).join(', ');
    throw new SetupError(`cannot serve TLS with ${files} (${(error as Error).message}): the certificate and key must be PEM files that belong together`, { cause: error });
  }
  // A failed TLS handshake is the sender's problem alone; without a listener it would be unhandled.
  server.on('tlsClientError', () => undefined);
  await new Promise<void>((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) => reject(bindError(error, options)));
    // A deep accept queue: after a failover every client of the pair reconnects at once, and SYNs
    // beyond the queue are dropped and retried by TCP only a second or more later.
    server.listen({ host: options.host, port: options.port, backlog: LISTEN_BACKLOG }, () => {
      server.removeAllListeners('error');
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

/** What a failed bind means for the operator, naming the option to change. */
export function bindError(error: NodeJS.ErrnoException, options: { host: string; port: number; flag?: string }): Error {
  const flag = options.flag ?? '--port';
  const at = `${options.host}:${options.port}`;
  if (error.code === 'EADDRINUSE') return new SetupError(`${flag} ${options.port}: ${at} is already in use (another server, or the demo?); stop it or choose another ${flag}`, { cause: error });
  if (error.code === 'EADDRNOTAVAIL') return new SetupError(`${options.host} is not an address of this host: choose another --host (0.0.0.0 for every address)`, { cause: error });
  if (error.code === 'EACCES') return new SetupError(`${flag} ${options.port}: this user may not listen there (ports below 1024 need privileges); choose a port from 1024 up`, { cause: error });
  return error;
}
