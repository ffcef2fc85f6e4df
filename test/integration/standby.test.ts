import { afterEach, describe, expect, it } from 'vitest';
import { Kind, type ErrorMessage } from '../../protocol/index.js';
import type { MasterServer } from '../../src/master/master-server.js';
import { ADMIN_PASSWORD, startTestMaster } from '../helpers/master.js';
import { RawPeer } from '../helpers/raw-peer.js';

const toClose: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const close of toClose.splice(0).reverse()) await close();
});

/** A master whose register deadline is short enough to watch it close an idle connection. */
async function master(): Promise<MasterServer> {
  const started = await startTestMaster({ limits: { registerTimeoutMs: 200 } });
  toClose.push(started.cleanup);
  return started.master;
}

async function peer(port: number): Promise<RawPeer> {
  const p = await RawPeer.connect(port);
  toClose.push(() => p.close());
  return p;
}

const reply = (id: number) => (m: { kind: number; id?: number }) => (m.kind === Kind.Ack || m.kind === Kind.Error) && m.id === id;

describe('standby connections', () => {
  it('standby - a standby connection outlives the register deadline that closes an idle one, then registers as usual', async () => {
    const server = await master();
    const standing = await peer(server.port);
    standing.send({ kind: Kind.Standby, id: 1, user: 'admin', password: ADMIN_PASSWORD, remoteTimeoutMs: 10000 });
    expect((await standing.waitFor(reply(1))).kind).toBe(Kind.Ack);
    expect(server.service.standbyCount).toBe(1);

    const idle = await peer(server.port);
    await idle.closed;
    expect((idle.received.find((m) => m.kind === Kind.Error) as ErrorMessage).code).toBe('NOT_REGISTERED');

    expect(standing.socket.destroyed).toBe(false);
    expect((await standing.register(ADMIN_PASSWORD, { id: 2 })).kind).toBe(Kind.Registered);
    expect(server.service.standbyCount).toBe(0);
  });

  it('standby - wrong credentials are refused with AUTH_FAILED, and the connection does not stand by', async () => {
    const server = await master();
    const p = await peer(server.port);
    p.send({ kind: Kind.Standby, id: 1, user: 'admin', password: 'wrong', remoteTimeoutMs: 10000 });
    expect(((await p.waitFor(reply(1))) as ErrorMessage).code).toBe('AUTH_FAILED');
    expect(server.service.standbyCount).toBe(0);
    await p.closed; // the register deadline still applies
  });

  it('standby - a standby client that stops answering keepalive polls is dropped with ADDP_TIMEOUT', async () => {
    const server = await master();
    const p = await peer(server.port);
    p.send({ kind: Kind.Standby, id: 1, user: 'admin', password: ADMIN_PASSWORD, remoteTimeoutMs: 1000 });
    await p.waitFor(reply(1));
    // Three polls answered outlast the 200 ms register deadline: the connection stands by.
    await p.waitFor((m) => m.kind === Kind.AddpPoll && m.n === 3);
    expect(server.service.standbyCount).toBe(1);
    p.hang = true;
    await p.closed;
    expect(p.received.some((m) => m.kind === Kind.Error)).toBe(false); // dropped by ADDP, not by the deadline
    expect(server.service.standbyCount).toBe(0);
  });

  it('standby - a registered session cannot stand by', async () => {
    const server = await master();
    const p = await peer(server.port);
    await p.register(ADMIN_PASSWORD);
    p.send({ kind: Kind.Standby, id: 2, user: 'admin', password: ADMIN_PASSWORD, remoteTimeoutMs: 10000 });
    expect(((await p.waitFor(reply(2))) as ErrorMessage).code).toBe('ALREADY_REGISTERED');
  });
});
