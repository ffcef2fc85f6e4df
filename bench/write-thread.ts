/**
 * bench:threads' socket-writing thread: it owns a listener and the subscriber sockets that connect
 * to it, and writes every slice of frames the main thread shares with it (a SharedArrayBuffer,
 * encoded once for all threads) to each of its sockets, one write per socket per slice, as the
 * proxy's fan-out writes one shared buffer per audience. It answers each slice once its sockets'
 * queues are below a bound, so memory holds a few slices, not the burst.
 */
import net from 'node:net';
import { parentPort } from 'node:worker_threads';
import { writeSliceTo } from './write-slice.js';

const sockets: net.Socket[] = [];
const server = net.createServer((socket) => {
  socket.setNoDelay(true);
  socket.on('error', () => undefined);
  sockets.push(socket);
});
server.listen({ port: 0, host: '127.0.0.1', backlog: 8192 }, () => parentPort!.postMessage({ type: 'listening', port: (server.address() as net.AddressInfo).port }));
parentPort!.on('message', (message: { type: 'count' } | { type: 'slice'; buffer: SharedArrayBuffer; length: number } | { type: 'stop' }) => {
  if (message.type === 'count') parentPort!.postMessage({ type: 'count', sockets: sockets.length });
  if (message.type === 'slice') void writeSliceTo(sockets, Buffer.from(message.buffer, 0, message.length)).then(() => parentPort!.postMessage({ type: 'written' }));
  if (message.type === 'stop') {
    for (const socket of sockets) socket.destroy();
    server.close();
    parentPort!.close();
  }
});
