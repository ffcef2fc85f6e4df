import { createHash, createHmac } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ExternalLogins } from '../../src/auth/external-logins.js';
import { escapeDnValue, escapeFilterValue } from '../../src/auth/ldap-escape.js';
import { silentLogger } from '../../src/util/logger.js';
import { accessRequest, hidePassword, readAnswer } from '../../src/auth/radius.js';
import { checkNewObject } from '../../src/model/validate-object.js';
import { externalAccountOf } from '../../src/model/external-account.js';

describe('LDAP escaping', () => {
  it('ldap escape - filter values (RFC 4515): * ( ) \\ and NUL become \\hh, and no escaped value contains a filter metacharacter', () => {
    expect(escapeFilterValue('*')).toBe('\\2a');
    expect(escapeFilterValue('a)(uid=*')).toBe('a\\29\\28uid=\\2a');
    expect(escapeFilterValue('x\\y\0')).toBe('x\\5cy\\00');
    fc.assert(
      fc.property(fc.string({ maxLength: 40 }), (value) => {
        const escaped = escapeFilterValue(value);
        expect(escaped).not.toMatch(/[*()\0]/);
        // Every backslash starts an escape of two hex digits.
        expect(escaped.replace(/\\[0-9a-f]{2}/g, '')).not.toContain('\\');
      }),
    );
  });

  it('ldap escape - DN values (RFC 4514): , + " \\ < > ; = escaped, leading # or space and trailing space too, control characters as \\hh', () => {
    expect(escapeDnValue('alice,ou=admins')).toBe('alice\\,ou\\=admins');
    expect(escapeDnValue('#x ')).toBe('\\#x\\ ');
    expect(escapeDnValue(' a')).toBe('\\ a');
    expect(escapeDnValue('a\0b\nc')).toBe('a\\00b\\0ac');
    fc.assert(
      fc.property(fc.string({ maxLength: 40 }), (value) => {
        const escaped = escapeDnValue(value);
        // No unescaped separator survives: the value stays one RDN value.
        expect(escaped.replace(/\\./g, '')).not.toMatch(/[,+"<>;=\\]/);
      }),
    );
  });
});

describe('RADIUS packets', () => {
  const secret = 'shared-secret';
  const authenticator = Buffer.alloc(16, 7);

  it('radius - User-Password is hidden per RFC 2865 5.2 and unhides with the same secret; an Access-Request carries a valid Message-Authenticator', () => {
    for (const password of ['a', 'exactly16bytes!!', 'a password longer than one block of sixteen']) {
      const hidden = hidePassword(password, secret, authenticator);
      expect(hidden.length % 16).toBe(0);
      // Unhide: the same chain of MD5s.
      const plain = Buffer.alloc(hidden.length);
      let previous: Buffer = authenticator;
      for (let offset = 0; offset < hidden.length; offset += 16) {
        const mask = createHash('md5').update(secret).update(previous).digest();
        for (let i = 0; i < 16; i += 1) plain[offset + i] = hidden[offset + i] ^ mask[i];
        previous = hidden.subarray(offset, offset + 16);
      }
      expect(plain.toString('utf8').replace(/\0+$/, '')).toBe(password);
    }
    const packet = accessRequest(42, authenticator, 'carol', 'pw', { secret, nasIdentifier: 'proxy-1' });
    expect(packet[0]).toBe(1);
    expect(packet[1]).toBe(42);
    expect(packet.readUInt16BE(2)).toBe(packet.length);
    const signature = packet.subarray(packet.length - 16);
    const zeroed = Buffer.from(packet);
    zeroed.fill(0, packet.length - 16);
    expect(createHmac('md5', secret).update(zeroed).digest().equals(signature)).toBe(true);
  });

  function answer(code: number, id: number, withMessageAuthenticator: boolean, signWith = secret): Buffer {
    const attributes = withMessageAuthenticator ? Buffer.concat([Buffer.from([80, 18]), Buffer.alloc(16)]) : Buffer.alloc(0);
    const packet = Buffer.concat([Buffer.from([code, id, 0, 0]), authenticator, attributes]);
    packet.writeUInt16BE(packet.length, 2);
    if (withMessageAuthenticator) createHmac('md5', signWith).update(packet).digest().copy(packet, 22);
    createHash('md5').update(packet.subarray(0, 4)).update(authenticator).update(packet.subarray(20)).update(signWith).digest().copy(packet, 4);
    return packet;
  }

  it('radius - answers: accept and reject read as such; a forged, corrupted, other-id or badly signed answer is ignored', () => {
    expect(readAnswer(answer(2, 9, false), 9, authenticator, secret)).toBe('accept');
    expect(readAnswer(answer(2, 9, true), 9, authenticator, secret)).toBe('accept');
    expect(readAnswer(answer(3, 9, true), 9, authenticator, secret)).toBe('reject');
    expect(readAnswer(answer(11, 9, false), 9, authenticator, secret)).toBe('reject');
    expect(readAnswer(answer(2, 9, false, 'other-secret'), 9, authenticator, secret)).toBeUndefined();
    expect(readAnswer(answer(2, 8, false), 9, authenticator, secret)).toBeUndefined();
    const tampered = answer(3, 9, false);
    tampered[0] = 2; // a reject turned into an accept on the way
    expect(readAnswer(tampered, 9, authenticator, secret)).toBeUndefined();
    expect(readAnswer(Buffer.alloc(5), 9, authenticator, secret)).toBeUndefined();
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 80 }), (bytes) => {
        expect(readAnswer(Buffer.from(bytes), 9, authenticator, secret)).toBeUndefined();
      }),
    );
  });
});

describe('external accounts', () => {
  it('external account - authMethod is ldap or radius (anything else INVALID_OBJECT); externalId defaults to the name', () => {
    expect(() => checkNewObject({ type: 'Person', name: 'p', props: { authMethod: 'kerberos' } }, 9)).toThrow(/one of ldap, radius/);
    const person = { type: 'Person' as const, dbid: 5, name: 'agent-7', tenant: 1, folder: 0, state: 'enabled' as const, props: { authMethod: 'ldap' } as Record<string, string>, options: {}, annex: {} };
    expect(externalAccountOf(person)).toEqual({ method: 'ldap', id: 'agent-7' });
    expect(externalAccountOf({ ...person, props: { authMethod: 'radius', externalId: 'a7@corp' } })).toEqual({ method: 'radius', id: 'a7@corp' });
    expect(externalAccountOf({ ...person, props: {} })).toBeUndefined();
  });
});

describe('the cache of successful directory logins', () => {
  it('external cache - with --external-cache, a repeat login with the same password is answered from memory until the time is up; a wrong or other password, or the time up, asks the directory again; off, every login asks', async () => {
    let now = 1_000;
    const asked: string[] = [];
    const directory = { method: 'ldap' as const, describe: 'test', close: async () => undefined, verify: async (_id: string, password: string) => (asked.push(password), password === 'right') };
    const logins = new ExternalLogins(new Map([['ldap', directory]]), { cacheMs: 60_000, logger: silentLogger, now: () => now });
    const alice = { method: 'ldap' as const, id: 'alice' };
    expect(await logins.check(alice, 'right')).toBe(true);
    expect(await logins.check(alice, 'right')).toBe(true);
    expect(asked).toEqual(['right']);
    // A failure is never cached, and another password is another question.
    expect(await logins.check(alice, 'wrong')).toBe(false);
    expect(await logins.check(alice, 'wrong')).toBe(false);
    expect(await logins.check({ method: 'ldap', id: 'bob' }, 'right')).toBe(true);
    expect(asked).toEqual(['right', 'wrong', 'wrong', 'right']);
    now += 60_001;
    expect(await logins.check(alice, 'right')).toBe(true);
    expect(asked).toHaveLength(5);
    const uncached = new ExternalLogins(new Map([['ldap', directory]]), { cacheMs: 0, logger: silentLogger });
    await uncached.check(alice, 'right');
    await uncached.check(alice, 'right');
    expect(asked).toHaveLength(7);
  });
});
