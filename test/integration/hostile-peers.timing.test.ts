import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { encodeFrame, HaKind, Kind } from '../../protocol/index.js';
import { connect } from '../../src/client/index.js';
import { HA_DEFAULTS } from '../../src/ha/ha-options.js';
import { ADMIN_PASSWORD, startTestMaster } from '../helpers/master.js';
import { startTestProxy } from '../helpers/proxy.js';
import { RawPeer } from '../helpers/raw-peer.js';

const toClose: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const close of toClose.splice(0).reverse()) await close();
});

/**
 * The attacker runs in a process of its own, as it would: building and sending 50 MB of hostile
 * bytes is its cost, and must not be counted against the server the test measures. Each step is a
 * connection; the outcome says whether the server closed it within 5 s ('closed') or, for steps
 * not expected to close, left it open for the register deadline ('open').
 */
const ATTACKER = `
import net from 'node:net';
const plan = JSON.parse(process.argv[1]);
const header = (n) => { const b = Buffer.alloc(4); b.writeUInt32BE(n); return b; };
const emptyMaps = (bytes) => { const f = Buffer.alloc(4 + bytes, 0x80); f.writeUInt32BE(bytes, 0); f[4] = 0xdd; f.writeUInt32BE(bytes - 5, 5); return f; };
const payload = (step) =>
  step.emptyMaps ? emptyMaps(step.emptyMaps)
  : step.nested ? Buffer.concat([header(step.nested + 1), Buffer.alloc(step.nested, 0x91), Buffer.from([0xc0])])
  : step.partial ? Buffer.concat([header(step.partial), Buffer.alloc(1000, 0x80)])
  : Buffer.from(step.hex, 'hex');
const outcome = await Promise.all(plan.map((step) => new Promise((resolve) => {
  const socket = net.connect({ host: '127.0.0.1', port: step.port }, () => {
    if (step.loginHex) socket.write(Buffer.from(step.loginHex, 'hex'));
    socket.write(payload(step));
  });
  socket.on('error', () => undefined);
  socket.resume();
  const timer = setTimeout(() => { socket.destroy(); resolve('open'); }, step.expectClose ? 5000 : 1000);
  socket.once('close', () => { clearTimeout(timer); resolve('closed'); });
})));
process.stdout.write(JSON.stringify(outcome));
`;

interface AttackStep {
  port: number;
  emptyMaps?: number;
  nested?: number;
  partial?: number;
  hex?: string;
  loginHex?: string;
  /** The server must close this connection promptly. */
  expectClose?: boolean;
}

async function attack(plan: AttackStep[]): Promise<string[]> {
  const { stdout } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', ATTACKER, JSON.stringify(plan)]);
  return JSON.parse(stdout) as string[];
}

/** A frame of `bytes` made of one array of empty maps: the cheapest to send, the dearest to decode. */
function emptyMapsFrame(bytes: number): Buffer {
  const frame = Buffer.alloc(4 + bytes, 0x80);
  frame.writeUInt32BE(bytes, 0);
  frame[4] = 0xdd;
  frame.writeUInt32BE(bytes - 5, 5);
  return frame;
}

describe('hostile peers', () => {
  it("fuzz - huge, deeply nested, truncated and mutated frames at a pair member's client and HA ports cost the others nothing: a good client's p99 stays under 100 ms", async () => {
    const { master, dir, cleanup } = await startTestMaster();
    toClose.push(cleanup);
    const proxy = await startTestProxy(dir, [master.port], {
      ha: { ...HA_DEFAULTS, role: 'primary', haPort: 0, secret: 'fuzz-secret', addpTimeoutMs: 1000, heartbeatIntervalMs: 200, failuresToSwitch: 3, acceptClientsInBackupMode: false },
    });
    toClose.push(() => proxy.stop());
    const clientPort = proxy.port;
    const haPort = proxy.ha!.server!.port;
    const good = await connect({ endpoints: `127.0.0.1:${clientPort}`, user: 'admin', password: ADMIN_PASSWORD, reconnect: false });
    toClose.push(() => good.close());

    let seed = 777;
    const random = (): number => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
    const mutated = (frames: Buffer[], count: number): string =>
      Buffer.concat(
        Array.from({ length: count }, (_, i) => {
          const frame = Buffer.from(frames[i % frames.length]);
          for (let m = 0; m < 1 + Math.floor(random() * 3); m += 1) frame[4 + Math.floor(random() * (frame.length - 4))] = Math.floor(random() * 256);
          return frame;
        }),
      ).toString('hex');
    const clientFrames = [
      encodeFrame({ kind: Kind.ReadObjects, id: 1, objectType: 'DN', filter: { tenant: 1 } }),
      encodeFrame({ kind: Kind.Subscribe, id: 2, filter: { type: 'DN' } }),
      encodeFrame({ kind: Kind.Register, id: 3, versions: [1], clientName: 'f', clientType: 'f', user: 'admin', password: 'wrong' }),
    ];
    const wrongSecret = encodeFrame({ kind: HaKind.Hello, versions: [1], pairName: 'cfgproxy', masters: [], nonce: 'aa'.repeat(32), proof: 'bb'.repeat(32), role: 'backup', clientEndpoint: 'x:1' });
    const haFrames = [wrongSecret, encodeFrame({ kind: HaKind.Records, records: [{ r: 1, k: 'reset' }] })];
    const login = encodeFrame({ kind: Kind.Register, id: 1, versions: [1], clientName: 'a', clientType: 'a', user: 'admin', password: ADMIN_PASSWORD }).toString('hex');

    let attacking = true;
    const latencies: number[] = [];
    const reads = (async () => {
      while (attacking) {
        const started = performance.now();
        await good.readAll('DN', { tenant: 1 });
        latencies.push(performance.now() - started);
        await new Promise((resolve) => setImmediate(resolve));
      }
    })();
    const outcome = await attack([
      // Closed at once: frames too large to read past, and anything but a good Hello on the HA port.
      { port: clientPort, emptyMaps: 16 * 1024 * 1024, expectClose: true }, // before any login: refused from its header
      { port: haPort, emptyMaps: 16 * 1024 * 1024, expectClose: true },
      { port: clientPort, partial: 1_000_000, expectClose: true }, // a partial frame above the pre-login limit
      { port: haPort, partial: 1_000_000, expectClose: true },
      { port: haPort, emptyMaps: 60 * 1024, expectClose: true }, // under the pre-login limit: refused by the shape walk
      { port: haPort, nested: 60_000, expectClose: true },
      { port: haPort, hex: mutated(haFrames, 200), expectClose: true },
      { port: haPort, hex: wrongSecret.toString('hex'), expectClose: true },
      // At the client port a bad frame costs only itself (an error reply); the register deadline ends these.
      { port: clientPort, emptyMaps: 60 * 1024 },
      { port: clientPort, nested: 60_000 },
      { port: clientPort, hex: mutated(clientFrames, 400) },
      // A logged-in peer's 15 MiB frame of empty maps: allowed in size, refused by the shape walk.
      { port: clientPort, loginHex: login, emptyMaps: 15 * 1024 * 1024 },
    ]);
    attacking = false;
    await reads;
    expect(outcome.slice(0, 8)).toEqual(Array(8).fill('closed'));

    latencies.sort((a, b) => a - b);
    expect(latencies.length).toBeGreaterThan(200);
    expect(latencies[Math.floor(latencies.length * 0.99)]).toBeLessThan(100);
    expect(proxy.ha!.server!.refusals).toBeGreaterThanOrEqual(1); // the Hello with the wrong secret (and mutated ones)

    // A logged-in peer's stream goes on after such a frame.
    const loggedIn = await RawPeer.connect(clientPort);
    toClose.push(() => loggedIn.close());
    await loggedIn.register(ADMIN_PASSWORD);
    loggedIn.write(emptyMapsFrame(2 * 1024 * 1024));
    loggedIn.send({ kind: Kind.GetServerInfo, id: 77 });
    expect(await loggedIn.waitFor((m) => m.kind === Kind.Error)).toMatchObject({ code: 'UNDECODABLE_FRAME' });
    await loggedIn.waitFor((m) => m.kind === Kind.ServerInfo && m.id === 77);
    expect((await good.readAll('Switch')).length).toBe(2);
  }, 30_000);
});
