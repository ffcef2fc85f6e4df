import net from 'node:net';
import { encodeFrame, Kind } from '../../protocol/index.js';
import { systemClock, type Clock } from '../util/clock.js';
import { parseEndpoint } from '../net/endpoint.js';

/**
 * True when the server at `endpoint` answers within `timeoutMs`. `answer`: a keepalive poll is
 * sent on a fresh connection and any bytes back count (a client port answers AddpPoll even before
 * Register), so a port that accepts and drops, or a hung process, does not answer. `connect`: an
 * accepted connection is enough (an HA port, possibly TLS, says nothing to a stranger).
 */
export function probe(endpoint: string, timeoutMs: number, mode: 'answer' | 'connect', clock: Clock = systemClock): Promise<boolean> {
  let target: { host: string; port: number };
  try {
    target = parseEndpoint(endpoint, false);
  } catch {
    return Promise.resolve(false);
  }
  return new Promise((resolve) => {
    const socket = net.connect(target);
    const done = (answered: boolean): void => {
      clock.clearTimeout(timer);
      socket.destroy();
      resolve(answered);
    };
    const timer = clock.setTimeout(() => done(false), timeoutMs);
    socket.once('connect', () => (mode === 'connect' ? done(true) : socket.write(encodeFrame({ kind: Kind.AddpPoll, n: 0 }))));
    socket.once('data', () => done(true));
    socket.once('error', () => done(false));
    socket.once('close', () => done(false));
  });
}
