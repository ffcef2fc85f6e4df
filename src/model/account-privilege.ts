import type { ConfigObject } from '../../protocol/index.js';
import type { Principal } from './permissions.js';

/** What a write does to an account, as far as who may make it is concerned. */
export interface AccountWrite {
  /** The Person before the write (absent for a create). */
  before?: ConfigObject;
  /** The Person after it (absent for a delete). */
  after?: ConfigObject;
  /** The write sets a password or a password hash. */
  setsPassword: boolean;
}

/**
 * Whether a person's account is privileged: an administrator (by flag or by membership of the
 * tenant-0 `Administrators` group) or a proxy. Given by the caller, who holds the groups.
 */
export type IsPrivileged = (person: ConfigObject) => boolean;

/**
 * Why `principal` may not make this write to an account, or undefined when it may [PROTO-PERM-5].
 * Change rights on persons manage ordinary persons only: an account that is (or would become) an
 * administrator or a proxy is changed, disabled, renamed or deleted by an administrator alone, and
 * only an administrator creates an account with a password. So no grant short of admin changes
 * what an administrator or a proxy can do, or whether it can log in.
 */
export function accountWriteRefusal(principal: Principal, write: AccountWrite, isPrivileged: IsPrivileged): string | undefined {
  if (principal.isAdmin) return undefined;
  const { before, after } = write;
  const person = before ?? after;
  if (!person || person.type !== 'Person') return undefined;
  if ((before && isPrivileged(before)) || (after && isPrivileged(after))) {
    return `only an administrator may change, disable, rename or delete the account '${person.name}' (it is an administrator or a proxy)`;
  }
  // A directory login is a password too: whoever names the directory entry logs in as the person.
  if (!before && (write.setsPassword || after?.props.authMethod !== undefined)) return `only an administrator may create an account with a password or a directory login ('${person.name}')`;
  return undefined;
}
