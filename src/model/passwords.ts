import { randomBytes, timingSafeEqual } from 'node:crypto';
import { challengeCostRefusal, deriveSalted, formatVerifier, makeVerifier, parseVerifier, verifierFromSalted } from './scram.js';

/** `scram$N$r$p$salt$storedKey$serverKey` (base64): the only form a password is stored in [PROTO-HELLO-5]. */
export async function hashPassword(password: string): Promise<string> {
  return formatVerifier(await makeVerifier(password));
}

/** A password given in the clear (the older login, a password change): one scrypt. */
export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const verifier = parseVerifier(stored);
  if (!verifier) return false;
  const derived = verifierFromSalted(await deriveSalted(password, verifier), verifier);
  return timingSafeEqual(derived.storedKey, verifier.storedKey);
}

/**
 * True for a stored password this server can read (`scram$…`, or the older `scrypt$N$r$p$salt$hash`)
 * at no less than the cost floor: clients refuse a challenge below it [PROTO-HELLO-6].
 */
export function isPasswordHash(text: string): boolean {
  const verifier = parseVerifier(text);
  return verifier !== undefined && challengeCostRefusal(verifier) === undefined;
}

export function randomPassword(): string {
  return randomBytes(12).toString('base64url');
}
