import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { ConfigObject } from '../../protocol/index.js';
import { principalOf } from '../../src/model/permissions.js';
import { ConfigState } from '../../src/store/config-state.js';

const person = (props: Record<string, unknown>, extra: Partial<ConfigObject> = {}): ConfigObject => ({ type: 'Person', dbid: 7, name: 'agent-7', tenant: 1, folder: 0, state: 'enabled', props, options: {}, annex: {}, ...extra }) as ConfigObject;

describe('ConfigState and the principals', () => {
  it("state - a Person change recomputes the principals only when it can change someone's permissions: for random edits, the principals after are the ones computed afresh", () => {
    const state = new ConfigState();
    state.reset(0, { id: 'x', generation: 1 }, [], undefined);
    let seq = 0;
    const land = (object: ConfigObject | undefined, op: 'created' | 'updated' | 'deleted'): void => {
      seq += 1;
      state.land({ seq, at: 0, op, type: 'Person', dbid: 7, tenant: 1, folder: 0, frame: Buffer.alloc(0) }, object, undefined);
    };
    land(person({ grants: [] }), 'created');
    const edit = fc.record({
      field: fc.constantFrom('annex', 'firstName', 'grants', 'isAdmin', 'isProxy', 'name', 'state', 'tenant'),
      value: fc.integer({ min: 0, max: 3 }),
    });
    fc.assert(
      fc.property(fc.array(edit, { minLength: 1, maxLength: 10 }), (edits) => {
        for (const { field, value } of edits) {
          const current = state.store.get('Person', 7)!;
          const next: ConfigObject = structuredClone(current);
          if (field === 'annex') next.annex = { desk: { n: String(value) } };
          else if (field === 'name') next.name = `agent-${value}`;
          else if (field === 'state') next.state = value % 2 === 0 ? 'enabled' : 'disabled';
          else if (field === 'tenant') next.tenant = value + 1;
          else if (field === 'grants') next.props.grants = value === 0 ? [] : [{ on: 'tenant', target: value, access: 'read' }];
          else if (field === 'firstName') next.props.firstName = `A${value}`;
          else next.props[field] = value % 2 === 0;
          const versionBefore = state.principalsVersion;
          const cached = state.principal(7);
          land(next, 'updated');
          const fresh = next.state === 'disabled' ? undefined : principalOf(next, []);
          // Whether or not it was recomputed, what the server now uses is what a fresh computation says.
          expect(JSON.stringify(state.principal(7))).toBe(JSON.stringify(fresh));
          if (field === 'annex' || field === 'firstName' || field === 'tenant') {
            expect(state.principalsVersion).toBe(versionBefore);
            if (cached) expect(state.principal(7)).toBe(cached);
          }
        }
      }),
      { numRuns: 200 },
    );
    const version = state.principalsVersion;
    land(undefined, 'deleted');
    expect(state.principalsVersion).toBe(version + 1);
    expect(state.principal(7)).toBeUndefined();
  });
});
