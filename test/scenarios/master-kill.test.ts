import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { connect } from '../../src/client/index.js';
import { killed, startMasterProcess } from '../helpers/processes.js';
import { scenarioHooks } from '../helpers/scenario.js';

const { tempDir } = scenarioHooks('kill');

describe('master process', () => {
  it('master - SIGKILL in the middle of a write stream loses no committed change and no seq', async () => {
    const dir = tempDir();
    const dbPath = join(dir, 'master.db');
    const first = await startMasterProcess(dbPath, 'kill-test');
    const writer = await connect({ endpoints: `127.0.0.1:${first.port}`, user: 'admin', password: 'kill-test', reconnect: false });
    const acknowledged: Array<{ seq: number; dbid: number }> = [];
    let stop = false;
    // Pipelined writes, 8 in flight; the kill lands while some are unanswered.
    const streams = Array.from({ length: 8 }, async (_, lane) => {
      for (let i = 0; !stop; i += 1) {
        try {
          acknowledged.push(await writer.create({ type: 'Skill', name: `k-${lane}-${i}`, tenant: 0 }));
        } catch {
          return;
        }
        if (acknowledged.length === 300) stop = true;
      }
    });
    while (acknowledged.length < 300) await Promise.race(streams);
    await killed(first.child);
    await Promise.all(streams);
    await writer.close();

    const second = await startMasterProcess(dbPath, 'kill-test');
    const reader = await connect({ endpoints: `127.0.0.1:${second.port}`, user: 'admin', password: 'kill-test', reconnect: false });
    const skills = await reader.readAll('Skill');
    const stored = new Set(skills.map((s) => s.dbid));
    for (const ack of acknowledged) expect(stored.has(ack.dbid)).toBe(true);
    // seq after restart = admin account (1) + every stored skill: no gap, nothing half-written.
    const info = (await reader.serverInfo()) as { seq: number };
    expect(info.seq).toBe(1 + skills.length);
    expect(Math.max(...acknowledged.map((a) => a.seq))).toBeLessThanOrEqual(info.seq);
    const next = await reader.create({ type: 'Skill', name: 'after-restart', tenant: 0 });
    expect(next.seq).toBe(info.seq + 1);
    await reader.close();
    await killed(second.child);
  });
});
