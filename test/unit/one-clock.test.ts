import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const SRC = path.resolve(import.meta.dirname, '../../src');

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    return entry.isDirectory() ? sources(full) : entry.name.endsWith('.ts') ? [full] : [];
  });
}

describe('one clock', () => {
  it('clock - no file of src/ but the clock module reads performance.now() or sets a timer of its own (the status page\'s script runs in the browser)', () => {
    const direct = /(?<![\w.])(performance\.now|setTimeout|setInterval|clearTimeout|clearInterval)\(/;
    const offenders = sources(SRC)
      .filter((file) => !file.endsWith(path.join('util', 'clock.ts')))
      .flatMap((file) =>
        readFileSync(file, 'utf8')
          .split('\n')
          .map((line, i) => ({ line, at: `${path.relative(SRC, file)}:${i + 1}` }))
          .filter(({ line, at }) => direct.test(line) && !(at.startsWith(path.join('admin', 'status-page.ts')) && line.startsWith('setInterval(refresh'))),
      )
      .map(({ at, line }) => `${at}: ${line.trim()}`);
    expect(offenders).toEqual([]);
  });
});
