import type net from 'node:net';

/** Past this many bytes queued on a socket, the writer waits for it to drain before it takes the next slice. */
const QUEUE_BOUND = 256 * 1024;

/** One write of `bytes` per socket; resolves once every socket's queue is under the bound. */
export async function writeSliceTo(sockets: readonly net.Socket[], bytes: Buffer): Promise<void> {
  for (const socket of sockets) socket.write(bytes);
  const full = sockets.filter((socket) => socket.writableLength > QUEUE_BOUND && !socket.destroyed);
  await Promise.all(full.map((socket) => new Promise<void>((resolve) => (socket.writableLength <= QUEUE_BOUND ? resolve() : socket.once('drain', () => resolve())))));
}
