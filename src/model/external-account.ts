import type { ConfigObject } from '../../protocol/index.js';

/** The directories an account may log in against instead of a local verifier [PROTO-HELLO-7]. */
export const EXTERNAL_METHODS = ['ldap', 'radius'] as const;
export type ExternalMethod = (typeof EXTERNAL_METHODS)[number];

/** How a Person logs in from outside: the directory and its name there. */
export interface ExternalAccount {
  method: ExternalMethod;
  /** `externalId`, or the Person's own name. */
  id: string;
}

/** The external login of a person, or undefined for a local account (a verifier, or no password). */
export function externalAccountOf(person: ConfigObject): ExternalAccount | undefined {
  const method = person.props.authMethod;
  if (!(EXTERNAL_METHODS as readonly unknown[]).includes(method)) return undefined;
  const externalId = person.props.externalId;
  return { method: method as ExternalMethod, id: typeof externalId === 'string' && externalId !== '' ? externalId : person.name };
}
