import type { ExternalMethod } from '../model/external-account.js';
import type { Logger } from '../util/logger.js';
import type { PasswordDirectory } from './directory.js';
import { ExternalLogins, type ExternalLoginsOptions } from './external-logins.js';
import { LdapDirectory, type LdapSettings } from './ldap.js';
import { RadiusDirectory, type RadiusSettings } from './radius.js';

export { ExternalLogins } from './external-logins.js';
export { ldapSettingsProblem, type LdapSettings } from './ldap.js';
export type { RadiusSettings } from './radius.js';

/** The directories a server checks external accounts against, as its options give them. */
export interface DirectorySettings {
  ldap?: LdapSettings;
  radius?: RadiusSettings;
  /** Keep a successful check this long (0: never). */
  cacheMs: number;
}

/** The server's external logins, or undefined when no directory is configured. */
export function externalLoginsFor(settings: DirectorySettings | undefined, logger: Logger, observe: ExternalLoginsOptions['observe']): ExternalLogins | undefined {
  if (!settings || (!settings.ldap && !settings.radius)) return undefined;
  const directories = new Map<ExternalMethod, PasswordDirectory>();
  if (settings.ldap) directories.set('ldap', new LdapDirectory(settings.ldap));
  if (settings.radius) directories.set('radius', new RadiusDirectory(settings.radius));
  return new ExternalLogins(directories, { cacheMs: settings.cacheMs, logger, observe });
}
