import net from 'node:net';
import { encodeFrame, FrameDecoder, validateHaMessage, validateMessage, type Message } from '../../protocol/index.js';

/**
 * A client built on the project's codec that can misbehave: send raw bytes, stop answering
 * keepalive polls (`hang`), wait for particular frames.
 */
export class RawPeer {
  readonly received: Message[] = [];
  hang = false;
  closed: Promise<void>;
  private waiters: Array<() => void> = [];

  private constructor(
    readonly socket: net.Socket,
    ha: boolean,
  ) {
    const decoder = new FrameDecoder<Message>({
      onMessage: (message) => {
        this.received.push(message);
        if (message.kind === 17 && !this.hang) this.send({ kind: 18, n: message.n });
        for (const waiter of this.waiters.splice(0)) waiter();
      },
      onInvalidMessage: () => undefined,
      onProtocolError: () => undefined,
    }, undefined, (ha ? validateHaMessage : validateMessage) as (body: unknown) => Message);
    socket.on('data', (chunk: Buffer) => decoder.push(chunk));
    socket.on('error', () => undefined);
    this.closed = new Promise((resolve) => socket.once('close', () => resolve()));
  }

  /** `ha`: the peer speaks the HA link's message set (a fake pair member); `from`: the local address (any of 127.0.0.0/8). */
  static connect(port: number, options: { ha?: boolean; from?: string } = {}): Promise<RawPeer> {
    return new Promise((resolve, reject) => {
      const socket = net.connect({ host: '127.0.0.1', port, ...(options.from ? { localAddress: options.from } : {}) }, () => resolve(new RawPeer(socket, options.ha === true)));
      socket.once('error', reject);
    });
  }

  send(message: Message | Record<string, unknown>): void {
    this.socket.write(encodeFrame(message));
  }

  write(bytes: Buffer): void {
    this.socket.write(bytes);
  }

  /** Waits until a received frame satisfies `predicate`. */
  async waitFor(predicate: (message: Message) => boolean): Promise<Message> {
    for (;;) {
      const found = this.received.find(predicate);
      if (found) return found;
      await new Promise<void>((resolve) => this.waiters.push(resolve));
    }
  }

  async register(password: string, extra: Record<string, unknown> = {}): Promise<Message> {
    const message = { kind: 1, id: 1, versions: [1], clientName: 'raw', clientType: 'test', user: 'admin', password, ...extra };
    this.send(message);
    return this.waitFor((m) => 'id' in m && m.id === message.id);
  }

  close(): Promise<void> {
    this.socket.destroy();
    return this.closed;
  }
}
