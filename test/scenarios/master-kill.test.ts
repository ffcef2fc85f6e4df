import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterEach, describe, expect, it } from 'vitest';
import { connect } from '../../src/client/index.js';

const CLI = new URL('../../bin/cfgproxy.js', import.meta.url).pathname;
const children: ChildProcess[] = [];
const dirs: string[] = [];

afterEach(() => {
  for (const child of children.splice(0)) child.kill('SIGKILL');
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** Starts `cfgproxy master` as a real process and resolves with its port from the JSON log. */
function startMasterProcess(dbPath: string): Promise<{ child: ChildProcess; port: number }> {
  const child = spawn(process.execPath, [CLI, 'master', '--db', dbPath, '--port', '0'], {
    env: { ...process.env, CFGPROXY_ADMIN_PASSWORD: 'kill-test' },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  children.push(child);
  return new Promise((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`master exited with ${code}`)));
    createInterface({ input: child.stderr! }).on('line', (line) => {
      if (line.includes('"master listening"')) resolve({ child, port: (JSON.parse(line) as { port: number }).port });
    });
  });
}

function killed(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.kill('SIGKILL');
  });
}

describe('master process', () => {
  it('master - SIGKILL in the middle of a write stream loses no committed change and no seq', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cfgproxy-kill-'));
    dirs.push(dir);
    const dbPath = join(dir, 'master.db');
    const first = await startMasterProcess(dbPath);
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

    const second = await startMasterProcess(dbPath);
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
