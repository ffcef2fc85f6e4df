import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, expect } from 'vitest';
import { killAll, takeServerFaults } from './processes.js';

/**
 * What every scenario file needs: cleanups run in reverse, child processes killed, temporary
 * directories removed, and invariant 8 checked after each test: no server process ended or logged
 * an uncaught exception, whatever the test did to it.
 */
export function scenarioHooks(name: string): { toClose: Array<() => Promise<void>>; tempDir(): string } {
  const toClose: Array<() => Promise<void>> = [];
  const dirs: string[] = [];
  afterEach(async () => {
    const faults = takeServerFaults();
    killAll();
    for (const close of toClose.splice(0).reverse()) await close();
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
    expect(faults).toEqual([]);
  });
  return {
    toClose,
    tempDir: () => {
      const dir = mkdtempSync(join(tmpdir(), `cfgproxy-${name}-`));
      dirs.push(dir);
      return dir;
    },
  };
}
