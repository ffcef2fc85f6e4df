import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Kind, type ErrorMessage } from '../../protocol/index.js';
import type { MasterServer } from '../../src/master/master-server.js';
import { adminClient, ADMIN_PASSWORD, startTestMaster } from '../helpers/master.js';
import { RawPeer } from '../helpers/raw-peer.js';

let master: MasterServer;
let cleanup: () => Promise<void>;
const peers: RawPeer[] = [];

beforeEach(async () => {
  ({ master, cleanup } = await startTestMaster({ limits: { maxFrameBytes: 64 * 1024 } }));
});

afterEach(async () => {
  await Promise.all(peers.splice(0).map((p) => p.close()));
  await cleanup();
});

async function peer(): Promise<RawPeer> {
  const p = await RawPeer.connect(master.port);
  peers.push(p);
  return p;
}

const errorFor = (id: number) => (m: { kind: number; id?: number }) => m.kind === Kind.Error && m.id === id;

describe('bad input', () => {
  it('bad input - a request before Register gets NOT_REGISTERED and the stream goes on', async () => {
    const p = await peer();
    p.send({ kind: Kind.ReadObjects, id: 5, objectType: 'DN' });
    expect(((await p.waitFor(errorFor(5))) as ErrorMessage).code).toBe('NOT_REGISTERED');
    expect((await p.register(ADMIN_PASSWORD)).kind).toBe(Kind.Registered);
  });

  it('bad input - unknown kind, wrong field types and undecodable bodies each get their own code', async () => {
    const p = await peer();
    await p.register(ADMIN_PASSWORD);
    p.send({ kind: 99, id: 6 });
    p.send({ kind: Kind.ReadObjects, id: 7, objectType: 42 } as Record<string, unknown>); // wrong on purpose
    p.send({ kind: Kind.ReadObjects, id: 8, objectType: 'Nonsense' } as Record<string, unknown>);
    p.write(Buffer.from('000000029201', 'hex'));
    p.send({ kind: Kind.CreateObject, id: 9, object: { type: 'DN', name: 5 } } as Record<string, unknown>);
    p.send({ kind: Kind.UpdateObject, id: 10, type: 'DN', dbid: 123456, delta: {} });
    p.send({ kind: Kind.Register, id: 11, versions: [1], clientName: 'x', clientType: 'x', user: 'admin', password: ADMIN_PASSWORD });
    const codes = await Promise.all([6, 7, 8, 0, 9, 10, 11].map(async (id) => ((await p.waitFor(errorFor(id))) as ErrorMessage).code));
    expect(codes).toEqual(['UNKNOWN_KIND', 'INVALID_MESSAGE', 'INVALID_MESSAGE', 'UNDECODABLE_FRAME', 'INVALID_OBJECT', 'UNKNOWN_OBJECT', 'ALREADY_REGISTERED']);
    p.send({ kind: Kind.ReadObjects, id: 12, objectType: 'Switch' });
    expect(await p.waitFor((m) => m.kind === Kind.ReadEnd && m.id === 12)).toMatchObject({ total: 2 });
  });

  it('bad input - an oversized frame closes only that connection, with FRAME_TOO_LARGE', async () => {
    const bystander = await adminClient(master.port);
    await bystander.subscribe({ type: 'Skill' });
    const p = await peer();
    await p.register(ADMIN_PASSWORD);
    const header = Buffer.alloc(4);
    header.writeUInt32BE(10 * 1024 * 1024);
    p.write(header);
    const error = (await p.waitFor(errorFor(0))) as ErrorMessage;
    expect(error).toMatchObject({ code: 'FRAME_TOO_LARGE', fatal: true });
    await p.closed;
    const writer = await adminClient(master.port);
    const notified = new Promise<void>((resolve) => bystander.once('notification', () => resolve()));
    const result = await writer.create({ type: 'Skill', name: 'Italian', tenant: 1 });
    await notified;
    expect(bystander.lastSeq).toBe(result.seq);
    await Promise.all([bystander.close(), writer.close()]);
  });

  it('bad input - unsupported protocol version is refused with UNSUPPORTED_VERSION', async () => {
    const p = await peer();
    p.send({ kind: Kind.Register, id: 1, versions: [99], clientName: 'x', clientType: 'x', user: 'admin', password: ADMIN_PASSWORD });
    expect(((await p.waitFor(errorFor(1))) as ErrorMessage).code).toBe('UNSUPPORTED_VERSION');
  });

  it('addp - the server polls a silent client and drops it when the poll is not answered', async () => {
    const p = await peer();
    p.hang = true;
    await p.register(ADMIN_PASSWORD, { addp: { localTimeoutMs: 0, remoteTimeoutMs: 150 } });
    await p.waitFor((m) => m.kind === Kind.AddpPoll);
    const started = performance.now();
    await p.closed;
    expect(performance.now() - started).toBeLessThan(1000);
    expect(master.service.clientCount).toBe(0);
  });

  it('addp - a client that answers polls stays connected', async () => {
    const p = await peer();
    await p.register(ADMIN_PASSWORD, { addp: { localTimeoutMs: 0, remoteTimeoutMs: 100 } });
    await p.waitFor((m) => m.kind === Kind.AddpPoll);
    const polls = () => p.received.filter((m) => m.kind === Kind.AddpPoll).length;
    while (polls() < 3) await p.waitFor(() => polls() >= 3);
    expect(p.socket.destroyed).toBe(false);
  });

  it('fuzz - seeded random and mutated frames never crash the master; a good client is still served', async () => {
    let seed = 4242;
    const random = (): number => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
    const p = await peer();
    await p.register(ADMIN_PASSWORD);
    const templates = [
      { kind: Kind.ReadObjects, id: 1, objectType: 'DN', filter: { tenant: 1 } },
      { kind: Kind.CreateObject, id: 2, object: { type: 'Skill', name: 'fz', tenant: 1 } },
      { kind: Kind.UpdateObject, id: 3, type: 'DN', dbid: 1, delta: { options: { a: { b: 'c' } } } },
      { kind: Kind.Subscribe, id: 4, filter: { type: 'DN' } },
    ];
    const { encodeFrame } = await import('../../protocol/index.js');
    for (let i = 0; i < 500; i += 1) {
      const frame = Buffer.from(encodeFrame(templates[i % templates.length]));
      for (let m = 0; m < 1 + Math.floor(random() * 4); m += 1) frame[4 + Math.floor(random() * (frame.length - 4))] = Math.floor(random() * 256);
      p.write(frame);
    }
    p.send({ kind: Kind.GetServerInfo, id: 999_999 });
    await p.waitFor((m) => m.kind === Kind.ServerInfo);
    const good = await adminClient(master.port);
    expect((await good.readAll('Switch')).length).toBe(2);
    await good.close();
  });
});
