import { readFileSync } from 'node:fs';
import { ldapSettingsProblem, type DirectorySettings, type LdapSettings, type RadiusSettings } from '../auth/index.js';
import { parseEndpoint } from '../net/endpoint.js';
import type { TlsFiles } from '../net/tls-options.js';
import type { ClientAccessOptions } from '../service/config-service.js';
import type { ServiceLimits } from '../service/limits.js';
import { UsageError } from './exit-codes.js';
import type { OptionValues } from './option-table.js';

/**
 * The UI port and the external logins from a server's options, checked as a set: a UI port that is
 * another port of this server, LDAP that would send passwords in the clear, a directory without
 * its secret are usage errors (exit 2), found at startup and not at the first login.
 */
export function accessSettings(o: OptionValues, ports: { port: number; haPort?: number; adminPort?: number }, serverName: string): ClientAccessOptions & { limits: Partial<ServiceLimits> } {
  const uiPort = o.port('--ui-port');
  if (uiPort !== undefined && uiPort !== 0) {
    if (uiPort === ports.haPort) throw new UsageError(`--ui-port ${uiPort} is the HA port (--ha-port): the HA sync port can never be a UI port; choose another`);
    if (uiPort === ports.port) throw new UsageError(`--ui-port ${uiPort} is the client port (--port), which must stay open to every client; choose another`);
    if (uiPort === ports.adminPort) throw new UsageError(`--ui-port ${uiPort} is the admin port (--admin-port); choose another`);
  }
  const uiCert = o.file('--ui-tls-cert');
  const uiKey = o.file('--ui-tls-key');
  if (Boolean(uiCert) !== Boolean(uiKey)) throw new UsageError('--ui-tls-cert and --ui-tls-key go together');
  if (uiCert && uiPort === undefined) throw new UsageError('--ui-tls-cert is for the UI port: add --ui-port');
  const uiTls: TlsFiles | undefined = uiCert ? { cert: uiCert, key: uiKey } : undefined;
  const ldap = ldapSettings(o);
  const radius = radiusSettings(o, serverName);
  const directories: DirectorySettings | undefined = ldap || radius ? { ldap, radius, cacheMs: o.ms('--external-cache') } : undefined;
  return {
    uiPort,
    uiTls,
    directories,
    limits: { externalPasswordsInClear: o.switch('--external-in-clear'), uiClientTypes: o.list('--ui-client-types') },
  };
}

function ldapSettings(o: OptionValues): LdapSettings | undefined {
  const urls = o.list('--ldap-url');
  const searchBase = o.text('--ldap-search-base');
  const serviceDn = o.text('--ldap-service-dn');
  const bindDn = o.text('--ldap-bind-dn');
  if (urls.length === 0) {
    if (bindDn || searchBase || serviceDn) throw new UsageError('--ldap-bind-dn and --ldap-search-base need --ldap-url (where the directory is)');
    return undefined;
  }
  if (Boolean(searchBase) !== Boolean(serviceDn)) throw new UsageError('search, then bind needs both --ldap-search-base and --ldap-service-dn');
  const ca = o.file('--ldap-ca');
  const settings: LdapSettings = {
    urls,
    startTls: o.switch('--ldap-starttls'),
    allowPlain: o.switch('--ldap-allow-plain'),
    ...(ca ? { ca: readFileSync(ca, 'utf8') } : {}),
    ...(bindDn ? { bindDn } : {}),
    ...(searchBase && serviceDn
      ? { search: { base: searchBase, filter: o.text('--ldap-search-filter')!, serviceDn, servicePassword: process.env.CFGPROXY_LDAP_SERVICE_PASSWORD ?? '' } }
      : {}),
    timeoutMs: o.ms('--ldap-timeout'),
    connections: o.count('--ldap-connections'),
  };
  const problem = ldapSettingsProblem(settings);
  if (problem) throw new UsageError(problem);
  return settings;
}

function radiusSettings(o: OptionValues, serverName: string): RadiusSettings | undefined {
  const servers = o.list('--radius-server');
  if (servers.length === 0) return undefined;
  const secret = process.env.CFGPROXY_RADIUS_SECRET;
  if (!secret) throw new UsageError('--radius-server needs the shared secret in CFGPROXY_RADIUS_SECRET (never on the command line, where ps shows it)');
  return {
    servers: servers.map((server) => {
      try {
        const endpoint = parseEndpoint(server.includes(':') ? server : `${server}:1812`);
        return { host: endpoint.host, port: endpoint.port };
      } catch {
        throw new UsageError(`--radius-server ${server}: give host:port (1812 is RADIUS's port)`);
      }
    }),
    secret,
    timeoutMs: o.ms('--radius-timeout'),
    retries: o.count('--radius-retries'),
    nasIdentifier: serverName,
  };
}
