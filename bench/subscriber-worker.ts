/**
 * A bench worker process: opens many subscriber connections through the real protocol, then
 * only counts frames (length prefixes) and samples latency on a few, so the bench measures the
 * server, not the client.
 */
import net from 'node:net';
import { decodeBody, encodeFrame } from '../protocol/index.js';

interface Start { port: number; count: number; password: string; sampleEvery: number }

const SAMPLE_LIMIT = 20_000;

process.once('message', (start: Start) => {
  let frames = 0;
  let ready = 0;
  const latencies: number[] = [];
  let seen = 0;
  const sockets: net.Socket[] = [];
  for (let i = 0; i < start.count; i += 1) {
    const socket = net.connect({ host: '127.0.0.1', port: start.port });
    sockets.push(socket);
    socket.setNoDelay(true);
    let need = 0; // bytes still to skip of the current frame's body
    let header = Buffer.alloc(0);
    let handshake = 2; // Registered + Ack
    socket.on('connect', () => {
      socket.write(encodeFrame({ kind: 1, id: 1, versions: [1], clientName: `bench-${i}`, clientType: 'bench', user: 'admin', password: start.password }));
    });
    socket.on('data', (chunk: Buffer) => {
      let offset = 0;
      while (offset < chunk.length) {
        if (need > 0) {
          const take = Math.min(need, chunk.length - offset);
          need -= take;
          offset += take;
          continue;
        }
        if (header.length + chunk.length - offset < 4) {
          header = Buffer.concat([header, chunk.subarray(offset)]);
          break;
        }
        const head = header.length > 0 ? Buffer.concat([header, chunk.subarray(offset, offset + 4 - header.length)]) : chunk.subarray(offset, offset + 4);
        offset += 4 - header.length;
        header = Buffer.alloc(0);
        const length = head.readUInt32BE(0);
        if (handshake > 0) {
          handshake -= 1;
          // Subscribe only once Registered arrived: requests during registration are refused.
          if (handshake === 1) socket.write(encodeFrame({ kind: 6, id: 2, filter: { type: 'Skill' } }));
          if (handshake === 0 && ++ready === start.count) process.send!({ type: 'ready' });
        } else {
          frames += 1;
          seen += 1;
          if (seen % start.sampleEvery === 0 && latencies.length < SAMPLE_LIMIT && chunk.length - offset >= length) {
            const body = decodeBody(chunk.subarray(offset, offset + length)) as { at: number };
            latencies.push(Date.now() - body.at);
          }
        }
        need = length;
      }
    });
    socket.on('error', () => undefined);
  }
  process.on('message', (message: { type: string }) => {
    if (message.type === 'report') process.send!({ type: 'report', frames, latencies });
    if (message.type === 'stop') {
      for (const socket of sockets) socket.destroy();
      process.exit(0);
    }
  });
});
