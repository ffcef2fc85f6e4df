import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CfgError, ErrorCode, Kind, type Message } from '../../protocol/index.js';
import { login } from '../../src/client/login.js';
import { isPasswordHash, verifyPassword } from '../../src/model/passwords.js';
import { authMessage, checkProof, checkServerProof, clientProof, deriveSalted, formatVerifier, makeVerifier, parseVerifier, serverProof, upgradeStored } from '../../src/model/scram.js';

// A cheap cost keeps the property runs fast; the scheme is the same at any cost.
const CHEAP = { N: 1024, r: 1, p: 1 };
const params = (salt: Buffer) => ({ salt, ...CHEAP });

describe('scram', () => {
  it('scram - a proof made from the password is accepted for its own exchange only, and the server proves itself back', async () => {
    await fc.assert(
      fc.asyncProperty(fc.string({ minLength: 1, maxLength: 40 }), fc.string({ minLength: 1, maxLength: 40 }), fc.uint8Array({ minLength: 16, maxLength: 16 }), async (password, other, salt) => {
        const p = params(Buffer.from(salt));
        const verifier = await makeVerifier(password, p);
        const salted = await deriveSalted(password, p);
        const message = authMessage('agent', 'c-nonce', { nonce: 'c-nonce|s-nonce', ...p });
        expect(checkProof(verifier, message, clientProof(salted, message))).toBe(true);
        // Replayed against another challenge (another server nonce): refused.
        const next = authMessage('agent', 'c-nonce', { nonce: 'c-nonce|s-nonce-2', ...p });
        expect(checkProof(verifier, next, clientProof(salted, message))).toBe(false);
        // Another password: refused.
        if (other !== password) expect(checkProof(verifier, message, clientProof(await deriveSalted(other, p), message))).toBe(false);
        expect(checkServerProof(salted, message, serverProof(verifier, message))).toBe(true);
        expect(checkServerProof(salted, next, serverProof(verifier, message))).toBe(false);
      }),
      { numRuns: 40 },
    );
  });

  it('scram - what a server stores is not the salted password, and the stored form reads back', async () => {
    const p = params(Buffer.alloc(16, 7));
    const verifier = await makeVerifier('secret', p);
    const stored = formatVerifier(verifier);
    expect(stored.startsWith('scram$1024$1$1$')).toBe(true);
    expect(stored).not.toContain((await deriveSalted('secret', p)).toString('base64'));
    expect(parseVerifier(stored)).toEqual(verifier);
    expect(await verifyPassword('secret', stored)).toBe(true);
    expect(await verifyPassword('Secret', stored)).toBe(false);
  });

  it('scram - an older scrypt$ hash still logs in by password and by proof, and is upgraded to the scram$ form', async () => {
    const p = params(Buffer.alloc(16, 3));
    const salted = await deriveSalted('old-password', p);
    const old = `scrypt$1024$1$1$${p.salt.toString('base64')}$${salted.toString('base64')}`;
    // Read and upgraded where it is found, but below the cost floor: not taken as an import [PROTO-HELLO-6].
    expect(isPasswordHash(old)).toBe(false);
    expect(await verifyPassword('old-password', old)).toBe(true);
    const upgraded = upgradeStored(old);
    expect(upgraded.startsWith('scram$')).toBe(true);
    expect(upgraded).not.toContain(salted.toString('base64'));
    const message = authMessage('u', 'n', { nonce: 'n2', ...p });
    expect(checkProof(parseVerifier(upgraded)!, message, clientProof(salted, message))).toBe(true);
    expect(upgradeStored(upgraded)).toBe(upgraded);
  });

  it('scram - stored forms with bad costs or wrong key sizes are refused', () => {
    const key = Buffer.alloc(32).toString('base64');
    const salt = Buffer.alloc(16).toString('base64');
    expect(isPasswordHash(`scram$16384$8$1$${salt}$${key}$${key}`)).toBe(true);
    expect(isPasswordHash(`scram$1000$8$1$${salt}$${key}$${key}`)).toBe(false); // not a power of two
    expect(isPasswordHash(`scram$16384$64$1$${salt}$${key}$${key}`)).toBe(false);
    expect(isPasswordHash(`scram$16384$8$1$${salt}$${key}$AAAA`)).toBe(false);
    expect(isPasswordHash(`scram$16384$8$1$${salt}$${key}`)).toBe(false);
    expect(isPasswordHash('plain text')).toBe(false);
  });

  it('scram - a client refuses a challenge that is not for its nonce, and one whose cost would exhaust its memory', async () => {
    const answer = (fields: Partial<Extract<Message, { kind: 31 }>>) => async (message: Record<string, unknown>): Promise<Message> => ({
      kind: Kind.LoginChallenge,
      id: 1,
      nonce: `${message.nonce as string}server`,
      salt: Buffer.alloc(16).toString('base64'),
      n: 16384,
      r: 8,
      p: 1,
      ...fields,
    });
    await expect(login(answer({ nonce: 'someone-else' }), 'u', 'pw')).rejects.toMatchObject({ code: 'AUTH_FAILED' });
    await expect(login(answer({ n: 1 << 20, r: 32 }), 'u', 'pw')).rejects.toThrow(/memory|maxmem|limit/i);
    const ok = await login(answer({}), 'u', 'pw');
    expect(ok.proof).toMatch(/^[A-Za-z0-9+/]+=*$/);
    expect(ok.password).toBeUndefined();
    expect(() => ok.checkServer(undefined)).toThrow(/did not prove/);
  });

  it('scram - a server that claims not to know LoginStart gets the password only over TLS (on plain TCP that is what a man in the middle would say)', async () => {
    const unknown = async (): Promise<Message> => {
      throw new CfgError(ErrorCode.UNKNOWN_KIND, 'a server does not accept LoginStart messages');
    };
    await expect(login(unknown, 'u', 'pw', 'proof', false)).rejects.toMatchObject({ code: 'AUTH_FAILED', message: expect.stringMatching(/not sent in the clear/) });
    expect(await login(unknown, 'u', 'pw', 'proof', true)).toMatchObject({ password: 'pw' });
    expect(await login(unknown, 'u', 'pw', 'password', false)).toMatchObject({ password: 'pw' });
  });
});
