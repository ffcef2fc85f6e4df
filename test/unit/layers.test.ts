import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = path.resolve(import.meta.dirname, '../..');
/** The layers from the bottom up, as the README's Layout lists them. */
const LAYERS = ['protocol', 'util', 'net', 'model', 'auth', 'client', 'store', 'history', 'service', 'admin', 'ha', 'master', 'proxy', 'cli'];

function layerOf(file: string): string {
  const relative = path.relative(ROOT, file).split(path.sep);
  return relative[0] === 'protocol' ? 'protocol' : relative[1];
}

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    return entry.isDirectory() ? sources(full) : entry.name.endsWith('.ts') ? [full] : [];
  });
}

describe('layers', () => {
  it('layers - no import runs up the layers (protocol, util, net, model, auth, client, store, history, service, admin, ha, master, proxy, cli)', () => {
    const upward: string[] = [];
    for (const file of [...sources(path.join(ROOT, 'protocol')), ...sources(path.join(ROOT, 'src'))]) {
      const from = layerOf(file);
      expect(LAYERS).toContain(from);
      for (const [, target] of readFileSync(file, 'utf8').matchAll(/from '(\.[^']+)'/g)) {
        const to = layerOf(path.resolve(path.dirname(file), target));
        if (to !== from && LAYERS.indexOf(to) > LAYERS.indexOf(from)) upward.push(`${path.relative(ROOT, file)} -> ${target}`);
      }
    }
    expect(upward).toEqual([]);
  });
});
