import type { ObjectType } from '../../protocol/index.js';

/** How one type-specific property is typed and checked [PROTO-OBJ-3]. */
export type PropSpec =
  | { kind: 'string'; required?: boolean; maxLength?: number; oneOf?: readonly string[] }
  | { kind: 'int'; required?: boolean; min?: number; max?: number }
  | { kind: 'bool' }
  | { kind: 'ref'; to: ObjectType; required?: boolean }
  | { kind: 'refs'; to: ObjectType }
  | { kind: 'grants' }
  /** Write-only: accepted on create/update, stored apart, never part of the object. */
  | { kind: 'secret' };

export const SCHEMA: Readonly<Record<ObjectType, Readonly<Record<string, PropSpec>>>> = {
  Tenant: { description: { kind: 'string' } },
  Folder: { contains: { kind: 'string', maxLength: 32 } },
  Host: { ip: { kind: 'string', required: true, maxLength: 64 }, os: { kind: 'string' } },
  Application: {
    appType: { kind: 'string', required: true, maxLength: 64 },
    host: { kind: 'ref', to: 'Host' },
    port: { kind: 'int', min: 0, max: 65535 },
    version: { kind: 'string' },
  },
  Person: {
    firstName: { kind: 'string' },
    lastName: { kind: 'string' },
    email: { kind: 'string' },
    isAgent: { kind: 'bool' },
    isAdmin: { kind: 'bool' },
    /** The account may register as a proxy: it reads everything and receives password hashes. */
    isProxy: { kind: 'bool' },
    grants: { kind: 'grants' },
    password: { kind: 'secret' },
    /** A stored password as `export --with-credentials` writes it (scram$…, or the older scrypt$…): restores a password without knowing it (administrators only). */
    passwordHash: { kind: 'secret' },
    /** A person changing its own password gives the current one here. */
    oldPassword: { kind: 'secret' },
    /** Where the account's password is checked: absent for a local verifier, else its directory [PROTO-HELLO-7]. */
    authMethod: { kind: 'string', oneOf: ['ldap', 'radius'] },
    /** The account's name in that directory (LDAP uid, RADIUS User-Name); the Person's name when absent. */
    externalId: { kind: 'string', maxLength: 255 },
  },
  AccessGroup: { members: { kind: 'refs', to: 'Person' }, grants: { kind: 'grants' } },
  AgentGroup: { agents: { kind: 'refs', to: 'Person' } },
  Place: { dns: { kind: 'refs', to: 'DN' } },
  Switch: { switchType: { kind: 'string', maxLength: 64 } },
  DN: {
    number: { kind: 'string', required: true, maxLength: 64 },
    switch: { kind: 'ref', to: 'Switch', required: true },
    dnType: { kind: 'string', maxLength: 32 },
  },
  AgentLogin: {
    loginCode: { kind: 'string', required: true, maxLength: 64 },
    switch: { kind: 'ref', to: 'Switch', required: true },
    person: { kind: 'ref', to: 'Person' },
  },
  Skill: { description: { kind: 'string' } },
};

/** Limits on one object, so a single write cannot blow up memory or the database [PROTO-LIMIT-1]. */
export const OBJECT_LIMITS = {
  nameLength: 255,
  sections: 256,
  keysPerSection: 1024,
  valueLength: 16 * 1024,
  refsPerProp: 10_000,
  grants: 1_000,
} as const;
