import { createHash, createHmac, randomBytes, scrypt as scryptCallback, timingSafeEqual } from 'node:crypto';

/**
 * Salted challenge-response login [PROTO-HELLO-5], as SCRAM (RFC 5802) does it with scrypt in
 * place of PBKDF2. The expensive key derivation runs where the password is, on the client; the
 * server checks a proof with two hashes and an HMAC (≈5 µs instead of ≈25 ms of scrypt), so a
 * morning's thousands of first logins cost the server almost nothing. What a server stores
 * (storedKey, serverKey) does not let anyone log in: that still takes the password, or an scrypt
 * search for it.
 *
 *   salted    = scrypt(password, salt, N, r, p)
 *   clientKey = HMAC(salted, "Client Key"); storedKey = SHA-256(clientKey)
 *   serverKey = HMAC(salted, "Server Key")
 *   proof     = clientKey XOR HMAC(storedKey, authMessage)
 *   the server recovers clientKey = proof XOR HMAC(storedKey, authMessage), checks SHA-256 of it
 *   against storedKey, and answers HMAC(serverKey, authMessage) so the client knows it too had
 *   the verifier.
 */

export interface KdfParams {
  salt: Buffer;
  N: number;
  r: number;
  p: number;
}

/** What a server keeps of a password: `scram$N$r$p$salt$storedKey$serverKey` in base64. */
export interface Verifier extends KdfParams {
  storedKey: Buffer;
  serverKey: Buffer;
}

const KEY_BYTES = 32;
/** scrypt's cost for new passwords: ≈25 ms and 16 MiB here. */
export const DEFAULT_KDF = { N: 16384, r: 8, p: 1 } as const;
const MAX_MEM = 64 * 1024 * 1024;

export function deriveSalted(password: string, params: KdfParams): Promise<Buffer> {
  return new Promise((resolve, reject) =>
    scryptCallback(password, params.salt, KEY_BYTES, { N: params.N, r: params.r, p: params.p, maxmem: MAX_MEM }, (error, key) => (error ? reject(error) : resolve(key))),
  );
}

function hmac(key: Buffer, data: string | Buffer): Buffer {
  return createHmac('sha256', key).update(data).digest();
}

function sha256(data: Buffer): Buffer {
  return createHash('sha256').update(data).digest();
}

function xor(a: Buffer, b: Buffer): Buffer {
  const out = Buffer.alloc(a.length);
  for (let i = 0; i < a.length; i += 1) out[i] = a[i] ^ b[i];
  return out;
}

export function verifierFromSalted(salted: Buffer, params: KdfParams): Verifier {
  return { ...params, storedKey: sha256(hmac(salted, 'Client Key')), serverKey: hmac(salted, 'Server Key') };
}

export async function makeVerifier(password: string, params: KdfParams = { salt: randomBytes(16), ...DEFAULT_KDF }): Promise<Verifier> {
  return verifierFromSalted(await deriveSalted(password, params), params);
}

export function formatVerifier(v: Verifier): string {
  return ['scram', v.N, v.r, v.p, v.salt.toString('base64'), v.storedKey.toString('base64'), v.serverKey.toString('base64')].join('$');
}

/**
 * The least cost a client derives its key at [PROTO-HELLO-6]: the default. A challenge below it
 * (or with a salt under 16 bytes) is what an impostor or a man in the middle would send to make a
 * captured proof cheap to attack, so the SDK, the CLI and a proxy refuse it; a server never stores
 * a verifier below it. The ceiling keeps a hostile server from making the client spend its memory.
 */
export const KDF_FLOOR = { N: DEFAULT_KDF.N, r: DEFAULT_KDF.r, p: 1, saltBytes: 16 } as const;

/** Why a challenge's cost or salt is refused, or undefined when it may be answered. */
export function challengeCostRefusal(params: KdfParams): string | undefined {
  const { N, r, p, salt } = params;
  if (!saneParams(N, r, p)) return `scrypt cost N=${N}, r=${r}, p=${p} is out of range`;
  if (N * r < KDF_FLOOR.N * KDF_FLOOR.r || N < KDF_FLOOR.N) return `scrypt cost N=${N}, r=${r}, p=${p} is below the floor N=${KDF_FLOOR.N}, r=${KDF_FLOOR.r}`;
  if (salt.length < KDF_FLOOR.saltBytes) return `a salt of ${salt.length} bytes is shorter than ${KDF_FLOOR.saltBytes}`;
  return undefined;
}

const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

function saneParams(N: number, r: number, p: number): boolean {
  return Number.isSafeInteger(N) && N >= 1024 && N <= 1 << 20 && (N & (N - 1)) === 0 && Number.isInteger(r) && r >= 1 && r <= 32 && Number.isInteger(p) && p >= 1 && p <= 16;
}

/**
 * Reads a stored password in either form: `scram$…`, or the older `scrypt$N$r$p$salt$key`
 * whose key is the salted password itself (a verifier is derived from it, and the older form
 * must not stay on disk: under challenge-response it would let its holder log in).
 */
export function parseVerifier(stored: string): Verifier | undefined {
  const parts = stored.split('$');
  const [N, r, p] = parts.slice(1, 4).map(Number);
  if (!saneParams(N, r, p) || !parts.slice(4).every((part) => BASE64.test(part))) return undefined;
  const salt = Buffer.from(parts[4], 'base64');
  if (parts[0] === 'scram' && parts.length === 7) {
    const storedKey = Buffer.from(parts[5], 'base64');
    const serverKey = Buffer.from(parts[6], 'base64');
    if (storedKey.length !== KEY_BYTES || serverKey.length !== KEY_BYTES) return undefined;
    return { salt, N, r, p, storedKey, serverKey };
  }
  if (parts[0] === 'scrypt' && parts.length === 6) return verifierFromSalted(Buffer.from(parts[5], 'base64'), { salt, N, r, p });
  return undefined;
}

/** The stored form in its current shape (`scram$…`); an unreadable one comes back as it was. */
export function upgradeStored(stored: string): string {
  if (stored.startsWith('scram$')) return stored;
  const verifier = parseVerifier(stored);
  return verifier ? formatVerifier(verifier) : stored;
}

/** What both sides sign: everything the exchange said, so no part of it can be swapped. */
export function authMessage(user: string, clientNonce: string, challenge: { nonce: string } & KdfParams): string {
  return [user, clientNonce, challenge.nonce, challenge.salt.toString('base64'), challenge.N, challenge.r, challenge.p].join(',');
}

export function clientProof(salted: Buffer, message: string): Buffer {
  const clientKey = hmac(salted, 'Client Key');
  return xor(clientKey, hmac(sha256(clientKey), message));
}

/** True when `proof` was made from the password behind `verifier` for exactly this exchange. */
export function checkProof(verifier: Verifier, message: string, proof: Buffer): boolean {
  if (proof.length !== KEY_BYTES) return false;
  const clientKey = xor(proof, hmac(verifier.storedKey, message));
  return timingSafeEqual(sha256(clientKey), verifier.storedKey);
}

export function serverProof(verifier: Verifier, message: string): Buffer {
  return hmac(verifier.serverKey, message);
}

/** The client's check of the server's answer: it knew the verifier too. */
export function checkServerProof(salted: Buffer, message: string, proof: Buffer): boolean {
  const expected = hmac(hmac(salted, 'Server Key'), message);
  return proof.length === expected.length && timingSafeEqual(proof, expected);
}

export function newNonce(): string {
  return randomBytes(18).toString('base64');
}
