import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { probe } from '../../src/ha/probe.js';
import { FakeClock } from '../helpers/fake-clock.js';

const toClose: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const close of toClose.splice(0).reverse()) await close();
});


describe('probe', () => {
  it('probe - a port that accepts but never answers (a hung process) is not alive once the probe times out on its clock', async () => {
    const sockets = new Set<net.Socket>();
    const hung = net.createServer((socket) => sockets.add(socket)); // accepts, reads nothing, says nothing
    await new Promise<void>((resolve) => hung.listen(0, '127.0.0.1', resolve));
    toClose.push(() => new Promise((resolve) => { for (const s of sockets) s.destroy(); hung.close(() => resolve()); }));
    const port = (hung.address() as net.AddressInfo).port;
    const clock = new FakeClock();
    let settled: boolean | undefined;
    const answered = probe(`127.0.0.1:${port}`, 1000, 'answer', clock).then((value) => (settled = value));
    await new Promise<void>((resolve) => hung.once('connection', () => resolve()));
    clock.advance(999);
    await new Promise((resolve) => setImmediate(resolve));
    expect(settled).toBeUndefined(); // still waiting: only the probe's clock ends it
    clock.advance(1);
    expect(await answered).toBe(false);
    // The same port in `connect` mode counts as alive: it accepted.
    expect(await probe(`127.0.0.1:${port}`, 1000, 'connect', clock)).toBe(true);
  });
});
