import { describe, expect, it } from 'vitest';
import type { ConfigObject } from '../../protocol/index.js';
import { diffObjects } from '../../src/model/object-diff.js';
import { applyDelta } from '../../src/model/validate-object.js';
import { Scope } from '../../src/proxy/scope.js';
import { Semaphore } from '../../src/util/semaphore.js';

const base: ConfigObject = {
  type: 'DN',
  dbid: 7,
  name: '5001',
  tenant: 1,
  folder: 2,
  state: 'enabled',
  props: { number: '5001', switch: 1, dnType: 'Extension' },
  options: { TServer: { a: '1', b: '2' }, gone: { x: 'y' } },
  annex: {},
};

describe('object diff', () => {
  it('diff - applying the diff to the old object gives the new one, field by field', () => {
    const after: ConfigObject = {
      ...base,
      name: '5001-b',
      folder: 3,
      state: 'disabled',
      props: { number: '5001', switch: 2 },
      options: { TServer: { a: '1', b: '3', c: '4' }, added: { k: 'v' } },
      annex: { notes: { n: 'x' } },
    };
    const delta = diffObjects(base, after)!;
    expect(delta).toEqual({
      name: '5001-b',
      folder: 3,
      state: 'disabled',
      props: { switch: 2, dnType: null },
      options: { TServer: { b: '3', c: '4' }, gone: null, added: { k: 'v' } },
      annex: { notes: { n: 'x' } },
    });
    expect(applyDelta(base, delta)).toEqual(after);
  });

  it('diff - equal objects have no diff, even when arrays are equal copies', () => {
    const withRefs = { ...base, type: 'Place' as const, props: { dns: [1, 2, 3] } };
    expect(diffObjects(withRefs, { ...withRefs, props: { dns: [1, 2, 3] } })).toBeUndefined();
    expect(diffObjects(withRefs, { ...withRefs, props: { dns: [1, 2] } })).toEqual({ props: { dns: [1, 2] } });
  });
});

describe('scope', () => {
  const parents = new Map([[5, 4], [4, 0]]);
  const parentOf = (folder: number): number | undefined => parents.get(folder);

  it('scope - keeps listed tenants, listed folders and their subfolders, environment objects and folders', () => {
    const scope = Scope.parse('tenant:3, folder:4');
    expect(scope.includes({ ...base, tenant: 3, folder: 0 }, parentOf)).toBe(true);
    expect(scope.includes({ ...base, tenant: 1, folder: 5 }, parentOf)).toBe(true); // 5 is under 4
    expect(scope.includes({ ...base, tenant: 1, folder: 2 }, parentOf)).toBe(false);
    expect(scope.includes({ ...base, type: 'Person', tenant: 0, folder: 0 }, parentOf)).toBe(true);
    expect(scope.includes({ ...base, type: 'Folder', tenant: 1, folder: 9 }, parentOf)).toBe(true);
    expect(scope.toString()).toBe('tenant:3,folder:4');
  });

  it('scope - an empty scope is everything; a bad entry names itself', () => {
    expect(Scope.parse('').isEverything).toBe(true);
    expect(() => Scope.parse('tenant:3,site:1')).toThrow("'site:1' is not tenant:<dbid> or folder:<dbid>");
  });
});

describe('semaphore', () => {
  it('semaphore - holders past the limit wait in arrival order and go on when a slot frees', async () => {
    const semaphore = new Semaphore(1);
    const order: string[] = [];
    const first = await semaphore.acquire();
    const second = semaphore.acquire().then((release) => (order.push('second'), release));
    const third = semaphore.acquire().then((release) => (order.push('third'), release));
    await Promise.resolve();
    expect(order).toEqual([]);
    expect(semaphore.waiters).toBe(2);
    first();
    first(); // releasing twice frees one slot only
    (await second)();
    (await third)();
    expect(order).toEqual(['second', 'third']);
    const again = await semaphore.acquire();
    again();
  });
});
