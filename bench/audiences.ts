/**
 * The cost of one change against the number of distinct audiences (a contact center's shape: each
 * desktop watches its own DN), in the real FanOut, sockets left out: N sessions each subscribed to
 * its own DN, one watcher of the Skills, and changes to one Skill, so every change has one delivery.
 * Prints µs per change at each N; the curve should be flat. `--fan-out <path>` measures another
 * build's fan-out module (dist/src/service/fan-out.js of a checkout) the same way.
 * Usage: npm run bench:audiences [-- --sizes 1000,5000,20000 --changes 20000 --runs 3]
 */
import { parseArgs } from 'node:util';
import { encodeFrame, Kind } from '../protocol/index.js';
import type { ChangeRecord } from '../src/model/change.js';
import { Principal } from '../src/model/permissions.js';
import type { FanOut as FanOutClass } from '../src/service/fan-out.js';
import { SessionRegistry } from '../src/service/session-registry.js';
import { ClientSession } from '../src/service/session.js';

const { values } = parseArgs({
  options: {
    sizes: { type: 'string', default: '1000,5000,20000' },
    changes: { type: 'string', default: '20000' },
    runs: { type: 'string', default: '3' },
    'fan-out': { type: 'string' },
  },
});
const sizes = values.sizes.split(',').map(Number);
const changeCount = Number(values.changes);
const modulePath = values['fan-out'] ?? new URL('../src/service/fan-out.js', import.meta.url).pathname;
const { FanOut } = (await import(modulePath)) as { FanOut: typeof FanOutClass };
const admin = new Principal('admin', 1, true, []);

function session(filter: Record<string, unknown>): ClientSession {
  const s = Object.create(ClientSession.prototype) as ClientSession;
  Object.assign(s, { state: 'active', catchingUp: false, isProxy: false, lastDeliveredSeq: 0, subscriptions: new Map([[JSON.stringify(filter), filter]]), connection: { writeFrame: () => true } });
  Object.defineProperty(s, 'principal', { value: admin });
  return s;
}

const results: Array<{ audiences: number; usPerChange: number[]; median: number }> = [];
for (const size of sizes) {
  const usPerChange: number[] = [];
  for (let run = 0; run < Number(values.runs); run += 1) {
    const registry = new SessionRegistry();
    const fanOut = new FanOut(registry, () => undefined, () => 0);
    const join = (s: ClientSession): void => {
      registry.add(s);
      fanOut.regroup(s);
    };
    for (let i = 0; i < size; i += 1) join(session({ type: 'DN', dbid: 1000 + i }));
    join(session({ type: 'Skill' }));
    const frame = encodeFrame({ kind: Kind.ObjectDeleted, seq: 1, at: 1, type: 'Skill', dbid: 1 });
    const started = performance.now();
    for (let seq = 1; seq <= changeCount; seq += 1) {
      const change: ChangeRecord = { seq, at: 1, op: 'updated', type: 'Skill', dbid: 1, tenant: 1, folder: 0, frame };
      fanOut.publish(change);
      if (seq % 100 === 0) fanOut.flush();
    }
    fanOut.flush();
    usPerChange.push(((performance.now() - started) * 1000) / changeCount);
  }
  const sorted = [...usPerChange].sort((a, b) => a - b);
  results.push({ audiences: size, usPerChange: usPerChange.map((v) => Math.round(v * 100) / 100), median: Math.round(sorted[Math.floor(sorted.length / 2)]! * 100) / 100 });
}
console.log(JSON.stringify({ bench: 'audiences', fanOut: values['fan-out'] ?? 'this checkout', changes: changeCount, results }));
for (const r of results) console.log(`${String(r.audiences).padStart(6)} audiences: ${r.median} µs per change (runs: ${r.usPerChange.join(', ')})`);
