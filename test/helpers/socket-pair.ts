import { createServer, connect as netConnect, type Socket } from 'node:net';

/** Both ends of a real loopback socket; `cleanups` gets what closes them. */
export async function socketPair(cleanups: Array<() => void>): Promise<{ server: Socket; client: Socket }> {
  const listener = createServer();
  await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve));
  const accepted = new Promise<Socket>((resolve) => listener.once('connection', resolve));
  const client = netConnect({ host: '127.0.0.1', port: (listener.address() as { port: number }).port });
  const server = await accepted;
  cleanups.push(() => {
    client.destroy();
    server.destroy();
    listener.close();
  });
  return { server, client };
}
