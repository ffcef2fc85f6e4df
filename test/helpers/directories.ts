import { hasFreeradius, hasSlapd } from '../../bench/directories.js';
import { requireCapability } from './tools.js';

export { startLdap, startRadius, type TestLdap, type TestRadius } from '../../bench/directories.js';

/** Whether LDAP tests run: outside CI they skip with a message when slapd is missing, in CI they fail. */
export function requireSlapd(): boolean {
  return requireCapability('OpenLDAP slapd (Debian package slapd)', hasSlapd());
}

/** Whether RADIUS tests run, likewise for FreeRADIUS. */
export function requireFreeradius(): boolean {
  return requireCapability('FreeRADIUS (Debian package freeradius)', hasFreeradius());
}
