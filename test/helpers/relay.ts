import net from 'node:net';

/** A TCP relay in front of a server that a test can cut and heal, to play a broken network. */
export class Relay {
  private readonly sockets = new Set<net.Socket>();
  private open = true;
  /** A partition: a side that gives up and closes is not seen closing by the other. */
  private partitioned = false;
  private readonly pairs = new Set<[net.Socket, net.Socket]>();
  /** While set, what the server sends is thrown away and the connections stay open (a middlebox losing data). */
  private discarding = false;
  /** Bytes thrown away so far. */
  discardedBytes = 0;
  /** With `delayable`: what the server sends reaches the client this much later (a slow server or link). */
  delayMs = 0;

  private constructor(private readonly server: net.Server) {}

  /** `downstreamBytesPerSecond` plays a slow link from the server to its client. */
  /** `lossy`: `discard()` can make the relay throw away what the server sends. */
  /** `delayable`: setting `delayMs` holds back what the server sends. */
  static async start(targetPort: number, options: { downstreamBytesPerSecond?: number; lossy?: boolean; delayable?: boolean } = {}): Promise<Relay> {
    let relay!: Relay;
    const server = net.createServer((client) => {
      if (!relay.open) {
        client.destroy();
        return;
      }
      const upstream = net.connect({ host: '127.0.0.1', port: targetPort });
      for (const socket of [client, upstream]) {
        relay.sockets.add(socket);
        socket.on('error', () => undefined);
        socket.on('close', () => {
          relay.sockets.delete(socket);
          if (relay.partitioned) return;
          client.destroy();
          upstream.destroy();
        });
      }
      client.pipe(upstream);
      const rate = options.downstreamBytesPerSecond;
      if (options.lossy) {
        upstream.on('data', (chunk: Buffer) => {
          if (relay.discarding) relay.discardedBytes += chunk.length;
          else client.write(chunk);
        });
      } else if (options.delayable) {
        upstream.on('data', (chunk: Buffer) => {
          if (relay.delayMs === 0) client.write(chunk);
          else setTimeout(() => client.write(chunk), relay.delayMs).unref();
        });
      } else if (rate === undefined) upstream.pipe(client);
      else {
        upstream.on('data', (chunk: Buffer) => {
          upstream.pause();
          client.write(chunk);
          setTimeout(() => upstream.resume(), (chunk.length / rate) * 1000).unref();
        });
      }
      relay.pairs.add([client, upstream]);
      client.once('close', () => relay.pairs.forEach((p) => p[0] === client && relay.pairs.delete(p)));
    });
    relay = new Relay(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return relay;
  }

  get port(): number {
    return (this.server.address() as net.AddressInfo).port;
  }

  /** Drops every relayed connection and refuses new ones until `heal`. */
  cut(): void {
    this.open = false;
    for (const socket of this.sockets) socket.destroy();
  }

  /** Stops forwarding without closing anything (a link gone silent), and refuses new connections until `heal`. */
  stall(): void {
    this.open = false;
    for (const [client, upstream] of this.pairs) {
      client.unpipe(upstream);
      upstream.unpipe(client);
      client.pause();
      upstream.pause();
    }
  }

  /**
   * A network partition: like `stall`, and when one side gives up on its connection the other
   * never learns (its socket stays open, as across a real partition).
   */
  partition(): void {
    this.partitioned = true;
    this.stall();
  }

  /** Throws away what the server sends (connections kept open) until `keep()`; needs `lossy`. */
  discard(): void {
    this.discarding = true;
  }

  keep(): void {
    this.discarding = false;
  }

  heal(): void {
    this.open = true;
  }

  async close(): Promise<void> {
    this.partitioned = false;
    this.cut();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
