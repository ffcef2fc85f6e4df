import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DirectoryUnavailable } from '../../src/auth/directory.js';
import { ExternalLogins } from '../../src/auth/external-logins.js';
import { LdapDirectory, type LdapSettings } from '../../src/auth/ldap.js';
import { RadiusDirectory, type RadiusSettings } from '../../src/auth/radius.js';
import { silentLogger } from '../../src/util/logger.js';
import { makeTestCerts, type TestCerts } from '../helpers/certs.js';
import { requireFreeradius, requireSlapd, startLdap, startRadius, type TestLdap, type TestRadius } from '../helpers/directories.js';

const ldapReady = requireSlapd();
const radiusReady = requireFreeradius();

describe.runIf(ldapReady)('LDAP directory, against a real slapd', () => {
  let certs: TestCerts;
  let ldap: TestLdap;
  const opened: LdapDirectory[] = [];
  beforeAll(async () => {
    certs = makeTestCerts();
    ldap = await startLdap([{ uid: 'alice', password: 'alice-secret' }], { tls: { cert: certs.serverCert, key: certs.serverKey } });
  });
  afterAll(async () => {
    for (const directory of opened) await directory.close();
    await ldap?.close();
    certs?.cleanup();
  });
  const directory = (settings: Partial<LdapSettings>): LdapDirectory => {
    const made = new LdapDirectory({ urls: [ldap.ldapsUrl!], startTls: false, allowPlain: false, ca: readCa(certs), bindDn: `uid={user},${ldap.peopleDn}`, timeoutMs: 2000, connections: 2, ...settings });
    opened.push(made);
    return made;
  };

  it('ldap - a simple bind over LDAPS and over StartTLS accepts the right password and refuses a wrong one', async () => {
    for (const settings of [{}, { urls: [ldap.ldapUrl], startTls: true }]) {
      const dir = directory(settings);
      expect(await dir.verify('alice', 'alice-secret')).toBe(true);
      expect(await dir.verify('alice', 'wrong')).toBe(false);
      expect(await dir.verify('bob', 'alice-secret')).toBe(false);
      // The same connections serve the next login: a failed bind leaves them usable.
      expect(await dir.verify('alice', 'alice-secret')).toBe(true);
    }
  });

  it('ldap - search, then bind: the service account finds the entry, the user binds as it', async () => {
    const dir = directory({ bindDn: undefined, search: { base: ldap.peopleDn, filter: '(uid={user})', serviceDn: ldap.serviceDn, servicePassword: ldap.servicePassword } });
    expect(await dir.verify('alice', 'alice-secret')).toBe(true);
    expect(await dir.verify('alice', 'nope')).toBe(false);
    expect(await dir.verify('nobody', 'alice-secret')).toBe(false);
  });

  it('ldap - names are escaped: "*" does not find alice, ")(" adds no clause, and NUL, control characters, empty and oversized input never reach the directory', async () => {
    const search = { base: ldap.peopleDn, filter: '(uid={user})', serviceDn: ldap.serviceDn, servicePassword: ldap.servicePassword };
    const dir = directory({ bindDn: undefined, search });
    // Unescaped, (uid=*) matches exactly one entry, alice, and her password would log "*" in.
    expect(await dir.verify('*', 'alice-secret')).toBe(false);
    expect(await dir.verify('al*', 'alice-secret')).toBe(false);
    expect(await dir.verify('*)(uid=alice', 'alice-secret')).toBe(false);
    const bind = directory({});
    expect(await bind.verify('alice,ou=people', 'alice-secret')).toBe(false);
    const logins = new ExternalLogins(new Map([['ldap', dir]]), { cacheMs: 0, logger: silentLogger });
    expect(await logins.check({ method: 'ldap', id: 'alice\0' }, 'alice-secret')).toBe(false);
    expect(await logins.check({ method: 'ldap', id: 'alice' }, '')).toBe(false);
    expect(await logins.check({ method: 'ldap', id: 'a'.repeat(100_000) }, 'alice-secret')).toBe(false);
    expect(await logins.check({ method: 'ldap', id: 'alice' }, 'x'.repeat(10_000))).toBe(false);
    expect(await logins.check({ method: 'ldap', id: 'alice' }, 'alice-secret')).toBe(true);
  });

  it('ldap - an empty password is never sent: a directory may take it for an unauthenticated bind, which "succeeds"', async () => {
    const dir = directory({});
    // This slapd refuses such a bind itself (unwillingToPerform: an answer, so a refusal, not an outage)…
    expect(await dir.verify('alice', '')).toBe(false);
    // …but many directories say yes to it: ExternalLogins refuses it before anything is asked.
    const asked: string[] = [];
    const logins = new ExternalLogins(new Map([['ldap', dir]]), { cacheMs: 0, logger: silentLogger, observe: (_m, outcome) => asked.push(outcome) });
    expect(await logins.check({ method: 'ldap', id: 'alice' }, '')).toBe(false);
    expect(asked).toEqual([]);
    expect(await logins.check({ method: 'ldap', id: 'alice' }, 'alice-secret')).toBe(true);
    expect(asked).toEqual(['accepted']);
  });

  it('ldap - a directory that is down, or accepts and never answers, is unavailable within the timeout, not a wrong password; it recovers when slapd is back', async () => {
    const blackHole: Server = createServer(() => undefined);
    await new Promise<void>((resolve) => blackHole.listen(0, '127.0.0.1', resolve));
    try {
      const silent = directory({ urls: [`ldap://127.0.0.1:${(blackHole.address() as { port: number }).port}`], startTls: true, timeoutMs: 300 });
      const started = Date.now();
      await expect(silent.verify('alice', 'alice-secret')).rejects.toBeInstanceOf(DirectoryUnavailable);
      expect(Date.now() - started).toBeLessThan(2000);
    } finally {
      blackHole.close();
    }
    const dir = directory({ timeoutMs: 500 });
    expect(await dir.verify('alice', 'alice-secret')).toBe(true);
    await ldap.stop();
    await expect(dir.verify('alice', 'alice-secret')).rejects.toBeInstanceOf(DirectoryUnavailable);
    await ldap.start();
    expect(await dir.verify('alice', 'alice-secret')).toBe(true);
  });

  it('ldap - the second URL answers when the first is down', async () => {
    const dir = directory({ urls: ['ldaps://127.0.0.1:1', ldap.ldapsUrl!] });
    expect(await dir.verify('alice', 'alice-secret')).toBe(true);
  });

  it('ldap - settings that would send passwords in the clear are refused unless allowed', () => {
    expect(() => directory({ urls: [ldap.ldapUrl] })).toThrow(/in the clear/);
    expect(directory({ urls: [ldap.ldapUrl], allowPlain: true })).toBeInstanceOf(LdapDirectory);
    expect(() => directory({ bindDn: 'uid=alice,dc=example' })).toThrow(/\{user\}/);
  });
});

describe.runIf(radiusReady)('RADIUS directory, against a real FreeRADIUS', () => {
  let radius: TestRadius;
  beforeAll(async () => {
    radius = await startRadius([{ name: 'carol', password: 'carol-secret' }]);
  });
  afterAll(async () => {
    await radius?.close();
  });
  const settings = (overrides: Partial<RadiusSettings> = {}): RadiusSettings => ({ servers: [{ host: radius.host, port: radius.port }], secret: radius.secret, timeoutMs: 300, retries: 1, nasIdentifier: 'test', ...overrides });

  it('radius - PAP with Message-Authenticator (which this server requires) accepts the right password and refuses a wrong one', async () => {
    const dir = new RadiusDirectory(settings());
    expect(await dir.verify('carol', 'carol-secret')).toBe(true);
    expect(await dir.verify('carol', 'wrong')).toBe(false);
    expect(await dir.verify('dave', 'carol-secret')).toBe(false);
    // Longer than one 16-byte block of the hidden password.
    expect(await dir.verify('carol', 'carol-secret-but-longer-than-sixteen')).toBe(false);
  });

  it('radius - a wrong shared secret gets no answer it can trust: unavailable after the retries, never accepted', async () => {
    const dir = new RadiusDirectory(settings({ secret: 'not-the-secret' }));
    await expect(dir.verify('carol', 'carol-secret')).rejects.toBeInstanceOf(DirectoryUnavailable);
  });

  it('radius - the second server is asked when the first does not answer', async () => {
    const dir = new RadiusDirectory(settings({ servers: [{ host: '127.0.0.1', port: 9 }, { host: radius.host, port: radius.port }] }));
    expect(await dir.verify('carol', 'carol-secret')).toBe(true);
    await radius.stop();
    try {
      await expect(dir.verify('carol', 'carol-secret')).rejects.toThrow(/no RADIUS server answered/);
    } finally {
      await radius.start();
    }
  });
});

function readCa(certs: TestCerts): string {
  return readFileSync(certs.ca, 'utf8');
}
