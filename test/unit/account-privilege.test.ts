import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CfgError, ErrorCode, type ConfigObject, type PermissionGrant } from '../../protocol/index.js';
import type { MasterServer } from '../../src/master/master-server.js';
import { SYSTEM_PRINCIPAL } from '../../src/master/master-source.js';
import { Principal } from '../../src/model/permissions.js';
import { startTestMaster } from '../helpers/master.js';

let master: MasterServer;
let cleanup: () => Promise<void>;

beforeAll(async () => {
  ({ master, cleanup } = await startTestMaster());
});
afterAll(() => cleanup());

/** What decides what an account can do and whether it can log in. */
function powerOf(object: ConfigObject | undefined, credential: string | undefined): string {
  return JSON.stringify([object?.name, object?.tenant, object?.state, object?.props, credential]);
}

const grant = fc.oneof(
  fc.record({ on: fc.constant('type' as const), target: fc.constantFrom('Person', 'AccessGroup', 'Skill'), access: fc.constantFrom('read' as const, 'change' as const) }),
  fc.record({ on: fc.constant('tenant' as const), target: fc.constant(0), access: fc.constantFrom('read' as const, 'change' as const) }),
);

const operation = fc.oneof(
  fc.record({ op: fc.constant('rename' as const), target: fc.nat(), name: fc.string({ minLength: 1, maxLength: 8 }) }),
  fc.record({ op: fc.constant('disable' as const), target: fc.nat() }),
  fc.record({ op: fc.constant('props' as const), target: fc.nat(), key: fc.constantFrom('isAdmin', 'isProxy', 'firstName', 'grants', 'authMethod', 'externalId'), value: fc.constantFrom(true, false, 'x', [], 'ldap', 'radius') }),
  fc.record({ op: fc.constant('password' as const), target: fc.nat() }),
  fc.record({ op: fc.constant('delete' as const), target: fc.nat() }),
  fc.record({ op: fc.constant('create' as const), name: fc.string({ minLength: 1, maxLength: 8 }), withPassword: fc.boolean(), isAdmin: fc.boolean(), directory: fc.constantFrom(undefined, 'ldap', 'radius') }),
);

describe('privilege over accounts', () => {
  it('accounts - for random grant sets and writes, no non-admin changes what an admin or proxy account can do or whether it can log in (a password or a directory login), nor creates an account with one', async () => {
    const source = master.source;
    const suffix = Date.now().toString(36);
    const privileged = [
      (await source.create(SYSTEM_PRINCIPAL, { type: 'Person', name: `boss-${suffix}`, props: { isAdmin: true, password: 'boss-pass' } })).dbid,
      (await source.create(SYSTEM_PRINCIPAL, { type: 'Person', name: `relay-${suffix}`, props: { isProxy: true, password: 'relay-pass' } })).dbid,
    ];
    const ordinary = (await source.create(SYSTEM_PRINCIPAL, { type: 'Person', name: `agent-${suffix}`, props: {} })).dbid;
    const admins = [...source.store.all('Person')].filter((p) => p.props.isAdmin === true || p.props.isProxy === true).map((p) => p.dbid);
    const targets = [...new Set([...privileged, ...admins, ordinary])];
    let created = 0;

    await fc.assert(
      fc.asyncProperty(fc.array(grant, { maxLength: 4 }), fc.array(operation, { minLength: 1, maxLength: 6 }), async (grants, operations) => {
        const actor = new Principal('manager', ordinary, false, grants as PermissionGrant[]);
        const before = new Map(admins.concat(privileged).map((dbid) => [dbid, powerOf(source.store.get('Person', dbid), source.credentialOf(dbid))]));
        for (const step of operations) {
          const dbid = 'target' in step ? targets[step.target % targets.length] : 0;
          try {
            if (step.op === 'rename') await source.update(actor, 'Person', dbid, { name: `${step.name}-${suffix}` });
            else if (step.op === 'disable') await source.update(actor, 'Person', dbid, { state: 'disabled' });
            else if (step.op === 'props') await source.update(actor, 'Person', dbid, { props: { [step.key]: step.value } });
            else if (step.op === 'password') await source.update(actor, 'Person', dbid, { props: { password: 'taken-over' } });
            else if (step.op === 'delete') await source.delete(actor, 'Person', dbid);
            else {
              created += 1;
              const props = { ...(step.withPassword ? { password: 'made-by-manager' } : {}), ...(step.isAdmin ? { isAdmin: true } : {}), ...(step.directory ? { authMethod: step.directory } : {}) };
              const outcome = await source.create(actor, { type: 'Person', name: `new-${created}-${suffix}`, props });
              // What a non-admin may create: an ordinary account without a password or a directory login.
              const made = source.store.get('Person', outcome.dbid)!;
              expect(made.props.isAdmin === true || made.props.isProxy === true).toBe(false);
              expect(made.props.authMethod).toBeUndefined();
              expect(source.credentialOf(outcome.dbid)).toBeUndefined();
            }
          } catch (error) {
            expect(error).toBeInstanceOf(CfgError);
            expect([ErrorCode.PERMISSION_DENIED, ErrorCode.UNKNOWN_OBJECT, ErrorCode.NAME_IN_USE, ErrorCode.INVALID_OBJECT, ErrorCode.OBJECT_IN_USE]).toContain((error as CfgError).code);
          }
        }
        for (const [dbid, power] of before) expect(powerOf(source.store.get('Person', dbid), source.credentialOf(dbid))).toBe(power);
      }),
      { numRuns: 150 },
    );
  });

  it('accounts - a person manager still manages ordinary persons, and anyone changes their own password giving the current one', async () => {
    const source = master.source;
    const manager = (await source.create(SYSTEM_PRINCIPAL, { type: 'Person', name: 'person-manager', props: { password: 'manager-pass' } })).dbid;
    const actor = new Principal('person-manager', manager, false, [{ on: 'type', target: 'Person', access: 'change' }]);
    const { dbid } = await source.create(actor, { type: 'Person', name: 'agent-made', props: { firstName: 'A' } });
    await source.update(actor, 'Person', dbid, { name: 'agent-renamed', state: 'disabled' });
    expect(source.store.get('Person', dbid)?.name).toBe('agent-renamed');
    await source.delete(actor, 'Person', dbid);
    expect(source.store.get('Person', dbid)).toBeUndefined();

    const reader = new Principal('person-manager', manager, false, []);
    const before = source.credentialOf(manager);
    await source.update(reader, 'Person', manager, { props: { password: 'manager-pass-2', oldPassword: 'manager-pass' } });
    expect(source.credentialOf(manager)).not.toBe(before);
  });

  it('accounts - a directory account takes no local password: refused with the reason, and accepted once authMethod is removed', async () => {
    const source = master.source;
    await expect(source.create(SYSTEM_PRINCIPAL, { type: 'Person', name: 'ldap-with-password', props: { authMethod: 'ldap', password: 'local-one' } })).rejects.toMatchObject({ code: 'INVALID_OBJECT', message: expect.stringMatching(/password is the directory's/) });
    const { dbid } = await source.create(SYSTEM_PRINCIPAL, { type: 'Person', name: 'ldap-agent', props: { authMethod: 'ldap' } });
    await expect(source.update(SYSTEM_PRINCIPAL, 'Person', dbid, { props: { password: 'local-one' } })).rejects.toMatchObject({ code: 'INVALID_OBJECT' });
    expect(source.credentialOf(dbid)).toBeUndefined();
    await source.update(SYSTEM_PRINCIPAL, 'Person', dbid, { props: { authMethod: null, password: 'local-one' } });
    expect(source.credentialOf(dbid)).toBeDefined();
  });

  it('accounts - a write to an object one may not read is answered exactly as one to an object that does not exist', async () => {
    const source = master.source;
    const hidden = (await source.create(SYSTEM_PRINCIPAL, { type: 'Skill', name: 'hidden-skill' })).dbid;
    const outsider = new Principal('outsider', 0, false, [{ on: 'type', target: 'Place', access: 'change' }]);
    const answer = async (write: () => Promise<unknown>): Promise<string> => {
      try {
        await write();
        return 'done';
      } catch (error) {
        const e = error as CfgError;
        return `${e.code}: ${e.message.replace(String(hidden), 'N').replace('999999', 'N')}`;
      }
    };
    expect(await answer(() => source.update(outsider, 'Skill', hidden, { name: 'x' }))).toBe(await answer(() => source.update(outsider, 'Skill', 999999, { name: 'x' })));
    expect(await answer(() => source.delete(outsider, 'Skill', hidden))).toBe(await answer(() => source.delete(outsider, 'Skill', 999999)));
    expect(await answer(() => source.update(outsider, 'Skill', hidden, { name: 'x' }))).toMatch(/^UNKNOWN_OBJECT/);
  });
});
