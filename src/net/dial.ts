import net, { type Socket } from 'node:net';
import tls from 'node:tls';
import { CfgError, ErrorCode } from '../../protocol/index.js';
import { formatEndpoint, type Endpoint } from './endpoint.js';
import { clientTlsOptions, type TlsFiles } from './tls-options.js';
import { systemClock } from '../util/clock.js';

/** Opens a TCP or TLS connection; rejects with CONNECTION_LOST after `timeoutMs`. */
export function dial(endpoint: Endpoint, tlsFiles: TlsFiles | undefined, timeoutMs: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket: Socket = endpoint.tls
      ? tls.connect({ host: endpoint.host, port: endpoint.port, ...clientTlsOptions(tlsFiles ?? {}, endpoint.host) })
      : net.connect({ host: endpoint.host, port: endpoint.port });
    const timer = systemClock.setTimeout(() => {
      socket.destroy();
      reject(new CfgError(ErrorCode.CONNECTION_LOST, `connecting to ${formatEndpoint(endpoint)} timed out after ${timeoutMs} ms`));
    }, timeoutMs, true);
    const onError = (error: Error): void => {
      systemClock.clearTimeout(timer);
      reject(new CfgError(ErrorCode.CONNECTION_LOST, `cannot connect to ${formatEndpoint(endpoint)}: ${error.message}`, { cause: error }));
    };
    socket.once('error', onError);
    socket.once(endpoint.tls ? 'secureConnect' : 'connect', () => {
      systemClock.clearTimeout(timer);
      socket.off('error', onError);
      resolve(socket);
    });
  });
}
