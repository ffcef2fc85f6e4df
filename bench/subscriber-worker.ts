/**
 * A bench worker process. Raw mode (the default) opens many subscriber connections through the real protocol
 * (Register, then Subscribe once Registered arrived), then counts raw bytes, as the subscribers
 * of the reference figures do. The bench makes every notification frame the same size, so
 * frames = bytes / frame size; sampled chunks that start on a frame boundary are decoded to
 * check that size (a mismatch is reported) and to measure commit→receipt latency. SDK mode uses
 * the client SDK instead, to show what an application sees.
 */
import net from 'node:net';
import { decodeBody, encodeFrame } from '../protocol/index.js';
import { connect, type Notification } from '../src/client/index.js';

interface Start {
  port: number;
  /** A pool balanced by its clients: subscriber i connects to ports[i % n]. */
  ports?: number[];
  count: number;
  password: string;
  sampleEvery: number;
  sdk?: boolean;
  /**
   * Subscribe to a Redis or NATS server instead (bench:brokers), to the subject `cfg`, whose
   * messages carry `payloadBytes` bytes; or (`sink`, bench:threads) just connect and count frames
   * of `payloadBytes` bytes, to ports[i % n].
   */
  broker?: 'redis' | 'nats' | 'sink';
  payloadBytes?: number;
}

const SAMPLE_LIMIT = 20_000;
let stopping = false;

// A bench that ended however it did takes its workers with it.
process.once('disconnect', () => process.exit(0));
process.once('message', (start: Start) => {
  if (start.sdk) void sdkSubscribers(start);
  else if (start.broker) brokerSubscribers(start);
  else rawSubscribers(start);
});

/** What an application sees: SDK clients, each notification decoded, validated and emitted. */
async function sdkSubscribers(start: Start): Promise<void> {
  let notifications = 0;
  const latencies: number[] = [];
  const clients = [];
  for (let i = 0; i < start.count; i += 1) {
    const client = await connect({ endpoints: `127.0.0.1:${start.port}`, user: 'admin', password: start.password, clientName: `bench-sdk-${i}` });
    client.on('notification', (n: Notification) => {
      if (++notifications % start.sampleEvery === 0 && latencies.length < SAMPLE_LIMIT) latencies.push(Date.now() - n.at);
    });
    await client.subscribe({ type: 'Skill' });
    clients.push(client);
  }
  process.send!({ type: 'ready' });
  process.on('message', (message: { type: string }) => {
    if (message.type === 'report') process.send!({ type: 'report', frames: notifications, frameSize: 0, misaligned: 0, latencies });
    if (message.type === 'stop') process.exit(0);
  });
}

/**
 * Connections logging in at once. A server closes the oldest of its not-yet-registered
 * connections past `--max-pending` (1000 by default) [ARCH-8], so the worker keeps well below it
 * and opens the next as each one is subscribed.
 */
const CONNECTING_AT_ONCE = 200;

function rawSubscribers(start: Start): void {
  let bytes = 0;
  let frameSize = 0;
  let misaligned = 0;
  let ready = 0;
  let opened = 0;
  let chunks = 0;
  const latencies: number[] = [];
  const sockets: net.Socket[] = [];
  const openNext = (): void => {
    if (opened < start.count) openSubscriber(opened++);
  };
  const openSubscriber = (i: number): void => {
    const socket = net.connect({ host: '127.0.0.1', port: start.ports ? start.ports[i % start.ports.length] : start.port });
    sockets.push(socket);
    socket.setNoDelay(true);
    let handshake = Buffer.alloc(0);
    let handshakeFrames = 2; // Registered, Ack
    let received = 0; // notification bytes on this socket
    socket.on('connect', () => {
      socket.write(encodeFrame({ kind: 1, id: 1, versions: [1], clientName: `bench-${i}`, clientType: 'bench', user: 'admin', password: start.password }));
    });
    socket.on('data', (chunk: Buffer) => {
      if (handshakeFrames > 0) {
        handshake = Buffer.concat([handshake, chunk]);
        while (handshakeFrames > 0 && handshake.length >= 4 && handshake.length >= 4 + handshake.readUInt32BE(0)) {
          handshake = handshake.subarray(4 + handshake.readUInt32BE(0));
          handshakeFrames -= 1;
          if (handshakeFrames === 1) socket.write(encodeFrame({ kind: 6, id: 2, filter: { type: 'Skill' } }));
          if (handshakeFrames === 0) {
            if (++ready === start.count) process.send!({ type: 'ready' });
            openNext();
          }
        }
        if (handshakeFrames > 0 || handshake.length === 0) return;
        chunk = handshake; // notifications right behind the Ack
      }
      if (frameSize === 0 && chunk.length >= 4) frameSize = 4 + chunk.readUInt32BE(0);
      if (frameSize > 0 && received % frameSize === 0 && ++chunks % start.sampleEvery === 0 && chunk.length >= frameSize) {
        if (chunk.readUInt32BE(0) !== frameSize - 4) misaligned += 1;
        else if (latencies.length < SAMPLE_LIMIT) latencies.push(Date.now() - (decodeBody(chunk.subarray(4, frameSize)) as { at: number }).at);
      }
      received += chunk.length;
      bytes += chunk.length;
    });
    socket.on('error', () => undefined);
    // A subscriber the server closed would silently shrink the audience: the run is void.
    socket.on('close', () => {
      if (!stopping) process.send!({ type: 'failed', message: `subscriber ${i} was closed by the server${handshakeFrames > 0 ? ' before it subscribed' : ''}` });
    });
  };
  for (let i = 0; i < Math.min(CONNECTING_AT_ONCE, start.count); i += 1) openNext();
  process.on('message', (message: { type: string }) => {
    if (message.type === 'report') process.send!({ type: 'report', frames: frameSize > 0 ? Math.floor(bytes / frameSize) : 0, bytes, frameSize, misaligned, latencies });
    if (message.type === 'stop') {
      stopping = true;
      for (const socket of sockets) socket.destroy();
      process.exit(0);
    }
  });
}

/**
 * Subscribers of a Redis or NATS server, counted and sampled as the raw subscribers are: every
 * message has the same size, so messages = bytes / size, and a sampled chunk that starts on a
 * message boundary gives the latency from the `at` (ms since epoch) its payload carries.
 */
function brokerSubscribers(start: Start): void {
  const subject = 'cfg';
  const payload = start.payloadBytes!;
  const frameSize =
    start.broker === 'sink'
      ? payload
      : start.broker === 'redis'
        ? Buffer.byteLength(`*3\r\n$7\r\nmessage\r\n$${subject.length}\r\n${subject}\r\n$${payload}\r\n`) + payload + 2
        : Buffer.byteLength(`MSG ${subject} 1 ${payload}\r\n`) + payload + 2;
  // What each server answers once the subscription stands: Redis's confirmation, NATS's PONG.
  const subscribed = start.broker === 'redis' ? Buffer.from(`*3\r\n$9\r\nsubscribe\r\n$${subject.length}\r\n${subject}\r\n:1\r\n`) : Buffer.from('PONG\r\n');
  let bytes = 0;
  let ready = 0;
  let chunks = 0;
  const latencies: number[] = [];
  const sockets: net.Socket[] = [];
  for (let i = 0; i < start.count; i += 1) {
    const port = start.ports ? start.ports[i % start.ports.length] : start.port;
    const socket = net.connect({ host: '127.0.0.1', port });
    sockets.push(socket);
    socket.setNoDelay(true);
    let handshake = Buffer.alloc(0);
    let subscribing = start.broker !== 'sink';
    let received = 0;
    socket.on('connect', () => {
      if (!subscribing) {
        if (++ready === start.count) process.send!({ type: 'ready' });
        return;
      }
      socket.write(start.broker === 'redis' ? `SUBSCRIBE ${subject}\r\n` : `CONNECT {"verbose":false,"pedantic":false}\r\nSUB ${subject} 1\r\nPING\r\n`);
    });
    socket.on('data', (chunk: Buffer) => {
      if (subscribing) {
        handshake = Buffer.concat([handshake, chunk]);
        const at = handshake.indexOf(subscribed);
        if (at < 0) return;
        subscribing = false;
        if (++ready === start.count) process.send!({ type: 'ready' });
        chunk = handshake.subarray(at + subscribed.length);
        if (chunk.length === 0) return;
      }
      if (start.broker === 'nats' && chunk.includes('PING\r\n')) {
        // NATS's keepalive, between messages: answered, and not counted as one.
        const pings = chunk.toString('latin1').split('PING\r\n').length - 1;
        for (let p = 0; p < pings; p += 1) socket.write('PONG\r\n');
        chunk = Buffer.from(chunk.toString('latin1').split('PING\r\n').join(''), 'latin1');
      }
      if (received % frameSize === 0 && ++chunks % start.sampleEvery === 0 && latencies.length < SAMPLE_LIMIT) {
        const match = /"at":(\d+)/.exec(chunk.subarray(0, frameSize).toString('latin1'));
        if (match) latencies.push(Date.now() - Number(match[1]));
      }
      received += chunk.length;
      bytes += chunk.length;
    });
    socket.on('error', () => undefined);
    socket.on('close', () => {
      if (!stopping) process.send!({ type: 'failed', message: `subscriber ${i} was closed by the ${start.broker} server` });
    });
  }
  process.on('message', (message: { type: string }) => {
    if (message.type === 'report') process.send!({ type: 'report', frames: Math.floor(bytes / frameSize), bytes, frameSize, misaligned: 0, latencies });
    if (message.type === 'stop') {
      stopping = true;
      for (const socket of sockets) socket.destroy();
      process.exit(0);
    }
  });
}
