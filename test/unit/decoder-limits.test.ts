import type { Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { CfgError, encodeFrame, ErrorCode, FrameDecoder, Kind, msgpackShapeError, type Message } from '../../protocol/index.js';
import { Connection } from '../../src/net/connection.js';
import { FakeClock } from '../helpers/fake-clock.js';
import { socketPair as loopbackPair } from '../helpers/socket-pair.js';

const cleanups: Array<() => void> = [];
afterEach(() => {
  for (const cleanup of cleanups.splice(0)) cleanup();
});

function sink(): { messages: Message[]; errors: string[]; decoder: FrameDecoder } {
  const messages: Message[] = [];
  const errors: string[] = [];
  const decoder = new FrameDecoder({ onMessage: (m) => messages.push(m), onInvalidMessage: (e: CfgError) => errors.push(e.code), onProtocolError: (e) => errors.push(e.code) });
  return { messages, errors, decoder };
}

describe('decoder limits', () => {
  it('decoder - refuses extension types, the reserved byte, unsafe integers, deep nesting and lying counts before decoding', () => {
    const date = Buffer.from('d6ff00000000', 'hex'); // timestamp 32: an extension type
    expect(msgpackShapeError(date)).toMatch(/extension type/);
    expect(msgpackShapeError(Buffer.from('c1', 'hex'))).toMatch(/reserved/);
    expect(msgpackShapeError(Buffer.from('cf0020000000000000', 'hex'))).toMatch(/2\^53/); // 2^53
    expect(msgpackShapeError(Buffer.from('cf001fffffffffffff', 'hex'))).toBeUndefined(); // 2^53 - 1
    expect(msgpackShapeError(Buffer.from('d3ffe0000000000001', 'hex'))).toBeUndefined(); // -(2^53 - 1)
    expect(msgpackShapeError(Buffer.alloc(100, 0x91))).toMatch(/deeper than 64/);
    expect(msgpackShapeError(Buffer.from('dd7fffffff80', 'hex'))).toMatch(/declares more values/);
    expect(msgpackShapeError(Buffer.from('a5616263', 'hex'))).toMatch(/ends inside/);
    expect(msgpackShapeError(Buffer.from('c0c0', 'hex'))).toMatch(/after the value/);
    const manyMaps = Buffer.alloc(5 + 2_000_000, 0x80);
    manyMaps[0] = 0xdd;
    manyMaps.writeUInt32BE(2_000_000, 1);
    expect(msgpackShapeError(manyMaps)).toMatch(/more than 1048576 values/);
    expect(msgpackShapeError(encodeFrame({ kind: Kind.AddpPoll, n: 3 }).subarray(4))).toBeUndefined();
  });

  it('decoder - a Date or a huge integer in a request is refused as UNDECODABLE_FRAME; the next frame is read', () => {
    const { messages, errors, decoder } = sink();
    const subscribeWithDate = Buffer.from('83a46b696e6406a2696401a666696c74657281a474797065d6ff00000000', 'hex');
    const header = Buffer.alloc(4);
    header.writeUInt32BE(subscribeWithDate.length);
    decoder.push(Buffer.concat([header, subscribeWithDate, encodeFrame({ kind: Kind.AddpPoll, n: 1 })]));
    expect(errors).toEqual([ErrorCode.UNDECODABLE_FRAME]);
    expect(messages).toEqual([{ kind: Kind.AddpPoll, n: 1 }]);
  });

  it('decoder - a big frame in small chunks costs time linear in its size', () => {
    const timeFor = (bytes: number): number => {
      const frame = encodeFrame({ kind: Kind.GetServerInfo, id: 1, pad: 'x'.repeat(bytes) } as Record<string, unknown>);
      const decoder = new FrameDecoder<unknown>({ onMessage: () => undefined, onInvalidMessage: () => undefined, onProtocolError: () => undefined }, 64 * 1024 * 1024, (body) => body);
      const started = performance.now();
      for (let offset = 0; offset < frame.length; offset += 16 * 1024) decoder.push(frame.subarray(offset, offset + 16 * 1024));
      return performance.now() - started;
    };
    timeFor(1024 * 1024); // warm-up
    // The fastest of three runs of each: a loaded machine only ever adds time, and a pause in one run must not decide.
    const fastest = (bytes: number): number => Math.min(timeFor(bytes), timeFor(bytes), timeFor(bytes));
    const small = Math.max(fastest(1024 * 1024), 1);
    const large = fastest(16 * 1024 * 1024);
    // Linear: 16× the size costs about 16× the time; quadratic copying would cost about 256×.
    expect(large / small).toBeLessThan(64);
  });

  it('decoder - a client skips an oversized frame, reports it, and reads the frames after it', () => {
    const messages: Message[] = [];
    const errors: string[] = [];
    const decoder = new FrameDecoder({ onMessage: (m) => messages.push(m), onInvalidMessage: (e) => errors.push(e.code), onProtocolError: (e) => errors.push(`fatal ${e.code}`) }, 1024, undefined, 'skip');
    const big = encodeFrame({ kind: Kind.Position, seq: 1, pad: 'y'.repeat(5000) } as Record<string, unknown>);
    const after = encodeFrame({ kind: Kind.Position, seq: 2 });
    const stream = Buffer.concat([big, after]);
    for (let offset = 0; offset < stream.length; offset += 700) decoder.push(stream.subarray(offset, offset + 700));
    expect(errors).toEqual([ErrorCode.FRAME_TOO_LARGE]);
    expect(messages).toEqual([{ kind: Kind.Position, seq: 2 }]);
    expect(decoder.bufferedBytes).toBe(0);
  });

  it('decoder - a listener that throws loses nothing: the rest of the chunk is delivered, then the error surfaces', () => {
    const seen: number[] = [];
    const decoder = new FrameDecoder({
      onMessage: (m) => {
        seen.push((m as { seq: number }).seq);
        if (seen.length === 1) throw new Error('a bug in a listener');
      },
      onInvalidMessage: () => undefined,
      onProtocolError: () => undefined,
    });
    const chunk = Buffer.concat([1, 2, 3].map((seq) => encodeFrame({ kind: Kind.Position, seq })));
    expect(() => decoder.push(chunk)).toThrow('a bug in a listener');
    decoder.push(encodeFrame({ kind: Kind.Position, seq: 4 }));
    expect(seen).toEqual([1, 2, 3, 4]);
  });
});


function framesFrom(socket: Socket): { messages: Message[]; ended: Promise<void> } {
  const messages: Message[] = [];
  const decoder = new FrameDecoder({ onMessage: (m) => messages.push(m), onInvalidMessage: () => undefined, onProtocolError: () => undefined });
  socket.on('data', (chunk: Buffer) => decoder.push(chunk));
  return { messages, ended: new Promise((resolve) => socket.once('close', () => resolve())) };
}

describe('connection write path', () => {
  it('connection - close() with frames queued sends them and then the whole error frame', async () => {
    const { server, client } = await loopbackPair(cleanups);
    const connection = new Connection(server);
    const received = framesFrom(client);
    for (let seq = 1; seq <= 3; seq += 1) connection.send({ kind: Kind.Position, seq });
    connection.close({ code: ErrorCode.SERVER_SHUTTING_DOWN, message: 'server is shutting down' });
    await received.ended;
    expect(received.messages.map((m) => m.kind)).toEqual([Kind.Position, Kind.Position, Kind.Position, Kind.Error]);
    expect(received.messages[3]).toMatchObject({ code: ErrorCode.SERVER_SHUTTING_DOWN, fatal: true });
  });

  it('connection - a slow consumer is told SLOW_CONSUMER before it is cut off', async () => {
    const { server, client } = await loopbackPair(cleanups);
    const connection = new Connection(server, { limits: { maxFrameBytes: 1024, maxOutboundBytes: 64 * 1024, drainTimeoutMs: 0 } });
    const closed = new Promise<string | undefined>((resolve) => connection.setHandler({ onMessage: () => undefined, onInvalidMessage: () => undefined, onClose: (reason) => resolve(reason.code) }));
    client.pause();
    const frame = encodeFrame({ kind: Kind.Position, seq: 1, pad: 'z'.repeat(4000) } as Record<string, unknown>);
    while (connection.writeFrame(frame)) await new Promise((resolve) => setImmediate(resolve));
    expect(await closed).toBe(ErrorCode.SLOW_CONSUMER);
    const received = framesFrom(client);
    client.resume();
    await received.ended;
    expect(received.messages.at(-1)).toMatchObject({ kind: Kind.Error, code: ErrorCode.SLOW_CONSUMER, fatal: true });
  });

  it('connection - a handler that throws closes only its connection, with INTERNAL and the error', async () => {
    const { server, client } = await loopbackPair(cleanups);
    const connection = new Connection(server);
    const reason = new Promise<{ code?: string; error?: unknown }>((resolve) =>
      connection.setHandler({
        onMessage: () => {
          throw new Error('a handler bug');
        },
        onInvalidMessage: () => undefined,
        onClose: resolve,
      }),
    );
    client.write(encodeFrame({ kind: Kind.GetServerInfo, id: 1 }));
    const closed = await reason;
    expect(closed.code).toBe(ErrorCode.INTERNAL);
    expect((closed.error as Error).message).toBe('a handler bug');
  });

  it('connection - answers AddpPoll itself; polls and replies never reach the handler', async () => {
    const { server, client } = await loopbackPair(cleanups);
    const connection = new Connection(server);
    const handled: Message[] = [];
    connection.setHandler({ onMessage: (m) => handled.push(m), onInvalidMessage: () => undefined, onClose: () => undefined });
    const received = framesFrom(client);
    client.write(Buffer.concat([encodeFrame({ kind: Kind.AddpPoll, n: 7 }), encodeFrame({ kind: Kind.AddpReply, n: 1 }), encodeFrame({ kind: Kind.GetServerInfo, id: 2 })]));
    await new Promise<void>((resolve) => client.once('data', () => resolve()));
    await new Promise((resolve) => setImmediate(resolve));
    expect(received.messages).toEqual([{ kind: Kind.AddpReply, n: 7 }]);
    expect(handled).toEqual([{ kind: Kind.GetServerInfo, id: 2 }]);
  });

  it('connection - a frame that does not complete within frameTimeoutMs closes the connection (FRAME_TIMEOUT); frames that complete are never timed', async () => {
    const { server, client } = await loopbackPair(cleanups);
    const clock = new FakeClock();
    const connection = new Connection(server, { clock, limits: { maxFrameBytes: 1024 * 1024, maxOutboundBytes: 1024 * 1024, drainTimeoutMs: 0, frameTimeoutMs: 1000 } });
    const handled: Message[] = [];
    const reason = new Promise<string | undefined>((resolve) => connection.setHandler({ onMessage: (m) => handled.push(m), onInvalidMessage: () => undefined, onClose: (r) => resolve(r.code) }));
    const received = (): Promise<void> => new Promise((resolve) => server.once('data', () => setImmediate(resolve)));
    // A whole frame: nothing is pending, so no deadline runs however long the peer then stays quiet.
    let arrived = received();
    client.write(encodeFrame({ kind: Kind.GetServerInfo, id: 1 }));
    await arrived;
    clock.advance(5000);
    expect(connection.isOpen).toBe(true);
    // A frame that starts and never ends (a slowloris holding its buffer).
    const frame = encodeFrame({ kind: Kind.GetServerInfo, id: 2 });
    arrived = received();
    client.write(frame.subarray(0, 6));
    await arrived;
    clock.advance(999);
    expect(connection.isOpen).toBe(true);
    clock.advance(1);
    expect(await reason).toBe(ErrorCode.FRAME_TIMEOUT);
    expect(handled).toEqual([{ kind: Kind.GetServerInfo, id: 1 }]);
  });

  it('connection - before it has authenticated a peer may send only small frames', async () => {
    const { server, client } = await loopbackPair(cleanups);
    const connection = new Connection(server, { unauthenticatedFrameBytes: 1024 });
    const reason = new Promise<string | undefined>((resolve) => connection.setHandler({ onMessage: () => undefined, onInvalidMessage: () => undefined, onClose: (r) => resolve(r.code) }));
    const header = Buffer.alloc(4);
    header.writeUInt32BE(2048);
    client.write(header); // only the header: refused before a body byte arrives
    expect(await reason).toBe(ErrorCode.FRAME_TOO_LARGE);
  });
});
