/**
 * What one hostile peer costs everyone else. A master and a proxy (processes); a registered
 * client reads from the proxy in a loop while an attacker, before logging in, sends one frame of
 * `--frame-mib` MiB made of empty msgpack maps (the cheapest bytes to send, the dearest to
 * decode). Reports the client's read latency before and during the attack, and the proxy's RSS
 * and CPU. Then, in this process, the decoder's cost for frames of 4, 8 and 16 MiB arriving in
 * 64 KiB socket chunks.
 * Usage: npm run bench:hostile -- [--frame-mib 16] [--seconds 8]
 */
import net from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { encodeFrame, FrameDecoder } from '../protocol/index.js';
import { connect } from '../src/client/index.js';
import { PASSWORD, cpuMs, percentile, rssMb, startServer } from './support.js';

const { values } = parseArgs({ options: { 'frame-mib': { type: 'string', default: '16' }, seconds: { type: 'string', default: '8' } } });
const frameBytes = Number(values['frame-mib']) * 1024 * 1024;
const dir = mkdtempSync(join(tmpdir(), 'cfgproxy-hostile-'));
const master = await startServer(['master', '--db', join(dir, 'master.db'), '--port', '0', '--sample'], 'master listening');
const proxy = await startServer(['proxy', '--master', `127.0.0.1:${master.port}`, '--user', 'admin', '--port', '0', '--history-db', join(dir, 'proxy.db')], 'configuration loaded');
const proxyPort = proxy.lines.find((line) => line.msg === 'proxy listening (loading)')!.port as number;
const reader = await connect({ endpoints: `127.0.0.1:${proxyPort}`, user: 'admin', password: PASSWORD });

/** Reads in a loop for `ms`, returning each read's latency. */
async function readFor(ms: number): Promise<number[]> {
  const latencies: number[] = [];
  for (const end = performance.now() + ms; performance.now() < end; ) {
    const started = performance.now();
    await reader.readAll('DN', { tenant: 1 });
    latencies.push(performance.now() - started);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  return latencies;
}

/** A frame of `bytes` holding one array of empty maps: 1 byte each on the wire. */
function emptyMapsFrame(bytes: number): Buffer {
  const count = bytes - 5;
  const frame = Buffer.alloc(4 + bytes, 0x80);
  frame.writeUInt32BE(bytes, 0);
  frame[4] = 0xdd; // array 32
  frame.writeUInt32BE(count, 5);
  return frame;
}

const before = await readFor(2000);
const rssBefore = rssMb(proxy.child.pid!);
const cpuBefore = cpuMs(proxy.child.pid!);
const attacker = net.connect({ host: '127.0.0.1', port: proxyPort });
attacker.on('error', () => undefined);
attacker.resume(); // read what the server says, so its close is seen
let attackerClosedAfterMs = -1;
const attackStarted = performance.now();
attacker.once('close', () => (attackerClosedAfterMs = Math.round(performance.now() - attackStarted)));
await new Promise((resolve) => attacker.once('connect', resolve));
attacker.write(emptyMapsFrame(frameBytes));
let rssPeak = rssBefore;
const sampler = setInterval(() => (rssPeak = Math.max(rssPeak, rssMb(proxy.child.pid!))), 100);
const during = await readFor(Number(values.seconds) * 1000);
clearInterval(sampler);
const proxyCpuMs = cpuMs(proxy.child.pid!) - cpuBefore;
const rssAfter = rssMb(proxy.child.pid!);
attacker.destroy();

// The decoder alone: a valid frame (one big string) arriving in 64 KiB chunks.
const decoderMs: Record<string, number> = {};
for (const mib of [4, 8, 16]) {
  const frame = encodeFrame({ kind: 20, id: 1, padding: 'p'.repeat(mib * 1024 * 1024 - 64) } as Record<string, unknown>);
  let delivered = 0;
  const decoder = new FrameDecoder<unknown>({ onMessage: () => (delivered += 1), onInvalidMessage: () => (delivered += 1), onProtocolError: () => undefined }, 64 * 1024 * 1024, (body) => body);
  const started = performance.now();
  for (let offset = 0; offset < frame.length; offset += 65536) decoder.push(frame.subarray(offset, offset + 65536));
  decoderMs[`${mib}MiB`] = Math.round((performance.now() - started) * 10) / 10;
  if (delivered !== 1) throw new Error('the decoder did not deliver the frame');
}

const round = (ms: number): number => Math.round(ms * 10) / 10;
const result = {
  bench: 'hostile',
  frameMiB: frameBytes / 1024 / 1024,
  readP50MsBefore: round(percentile(before, 50)),
  readP99MsBefore: round(percentile(before, 99)),
  readP50MsDuring: round(percentile(during, 50)),
  readP99MsDuring: round(percentile(during, 99)),
  readMaxMsDuring: round(Math.max(...during)),
  readsDuring: during.length,
  attackerClosedAfterMs,
  proxyCpuMsDuring: Math.round(proxyCpuMs),
  proxyRssMbBefore: Math.round(rssBefore),
  proxyRssMbPeak: Math.round(rssPeak),
  proxyRssMbAfter: Math.round(rssAfter),
  decoderMs,
};
process.stdout.write(`${JSON.stringify(result)}\n`);
process.stderr.write(
  `a ${result.frameMiB} MiB frame of empty maps before Register: the other client's reads p50 ${result.readP50MsBefore} → ${result.readP50MsDuring} ms, ` +
    `p99 ${result.readP99MsBefore} → ${result.readP99MsDuring} ms, max ${result.readMaxMsDuring} ms; attacker closed after ${attackerClosedAfterMs} ms; ` +
    `proxy CPU ${result.proxyCpuMsDuring} ms, RSS ${result.proxyRssMbBefore} → peak ${result.proxyRssMbPeak} → ${result.proxyRssMbAfter} MB; ` +
    `decoder, 64 KiB chunks: ${Object.entries(decoderMs).map(([k, v]) => `${k} ${v} ms`).join(', ')}\n`,
);
await reader.close();
proxy.child.kill('SIGKILL');
master.child.kill('SIGKILL');
rmSync(dir, { recursive: true, force: true });
process.exit(0);
