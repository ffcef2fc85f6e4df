import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { encodeFrame, ErrorCode, FrameDecoder, Kind, validateMessage, type Message } from '../../protocol/index.js';
import { connect } from '../../src/client/index.js';
import { killAll, startCli } from '../helpers/processes.js';

const run = promisify(execFile);
const CLI = new URL('../../bin/cfgproxy.js', import.meta.url).pathname;

/**
 * A server that answers every LoginStart with a challenge of the cost an attacker would choose
 * (N=2, r=1, p=1), and keeps every frame it is sent: a proof would be what it is after.
 */
async function impostor(cost: { n: number; r: number; p: number; saltBytes?: number }): Promise<{ port: number; received: Message[]; close(): Promise<void> }> {
  const received: Message[] = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    const decoder = new FrameDecoder<Message>({
      onMessage: (message) => {
        received.push(message);
        if (message.kind === Kind.LoginStart) {
          socket.write(encodeFrame({ kind: Kind.LoginChallenge, id: message.id, nonce: message.nonce + 'server', salt: randomBytes(cost.saltBytes ?? 16).toString('base64'), n: cost.n, r: cost.r, p: cost.p }));
        }
      },
      onInvalidMessage: () => undefined,
      onProtocolError: () => undefined,
    }, undefined, validateMessage as (body: unknown) => Message);
    socket.on('data', (chunk: Buffer) => decoder.push(chunk));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    received,
    close: () => {
      for (const socket of sockets) socket.destroy();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

const proofsIn = (received: Message[]): number => received.filter((m) => (m.kind === Kind.Register || m.kind === Kind.Standby) && (m.proof !== undefined || m.password !== undefined)).length;

describe('a hostile server cannot lower the cost of a login', () => {
  const opened: Array<() => Promise<void>> = [];
  afterEach(async () => {
    killAll();
    for (const close of opened.splice(0)) await close();
  });

  for (const [what, cost] of [
    ['N=2, r=1, p=1', { n: 2, r: 1, p: 1 }],
    ['N=1024 (under the floor)', { n: 1024, r: 8, p: 1 }],
    ['r=1 at the default N', { n: 16384, r: 1, p: 1 }],
    ['a 4-byte salt', { n: 16384, r: 8, p: 1, saltBytes: 4 }],
    ['N=2^30 (the client’s memory)', { n: 2 ** 30, r: 8, p: 1 }],
  ] as const) {
    it(`downgrade - the SDK refuses a challenge of ${what} with WEAK_CHALLENGE, and sends no proof`, async () => {
      const fake = await impostor(cost);
      opened.push(fake.close);
      const attempt = connect({ endpoints: `127.0.0.1:${fake.port}`, user: 'admin', password: 'Summer2024!', reconnect: false, standby: false });
      await expect(attempt).rejects.toMatchObject({ code: ErrorCode.WEAK_CHALLENGE, message: expect.stringMatching(/impostor/) });
      expect(fake.received.some((m) => m.kind === Kind.LoginStart)).toBe(true);
      expect(proofsIn(fake.received)).toBe(0);
    });
  }

  it('downgrade - the CLI says the server may be an impostor, exits 3 and sends no proof', async () => {
    const fake = await impostor({ n: 2, r: 1, p: 1 });
    opened.push(fake.close);
    const failure = await run(process.execPath, [CLI, 'get', 'dn', '-s', `127.0.0.1:${fake.port}`, '-u', 'admin', '-p', 'Summer2024!'], { timeout: 20_000 }).then(
      () => undefined,
      (error: { code: number; stderr: string }) => error,
    );
    expect(failure?.code).toBe(3);
    expect(failure?.stderr).toMatch(/WEAK_CHALLENGE|impostor/);
    expect(proofsIn(fake.received)).toBe(0);
  });

  it('downgrade - a proxy pointed at such a server says why, keeps retrying instead of exiting, and sends no proof', async () => {
    const fake = await impostor({ n: 2, r: 1, p: 1 });
    opened.push(fake.close);
    const proxy = await startCli(['proxy', '--master', `127.0.0.1:${fake.port}`, '-u', 'admin', '-p', 'Summer2024!', '--port', '0', '--history-db', ':memory:'], 'proxy listening (loading)');
    await proxy.waitForLog((line) => JSON.stringify(line).includes(ErrorCode.WEAK_CHALLENGE));
    const starts = (): number => fake.received.filter((m) => m.kind === Kind.LoginStart).length;
    const seen = starts();
    await proxy.waitForLog((line) => JSON.stringify(line).includes(ErrorCode.WEAK_CHALLENGE) && starts() > seen);
    expect(proxy.child.exitCode).toBeNull();
    expect(proofsIn(fake.received)).toBe(0);
  });
});
