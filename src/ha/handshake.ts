import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * The HA handshake's proofs [PROTO-HA-9]: each side proves it knows the pair secret by an HMAC over
 * both sides' fresh nonces, so the secret never travels (TLS or not) and a recorded handshake
 * cannot be replayed. The listener challenges first; the dialer answers in its Hello with a nonce
 * of its own, which the listener's Welcome must prove over in turn: both sides authenticate.
 */
export function newNonce(): string {
  return randomBytes(32).toString('hex');
}

/** The dialer's proof, in its Hello. */
export function helloProof(secret: string, pairName: string, challengeNonce: string, helloNonce: string): string {
  return hmac(secret, ['cfgproxy-ha-hello', pairName, challengeNonce, helloNonce]);
}

/** The listener's proof, in its Welcome. */
export function welcomeProof(secret: string, pairName: string, helloNonce: string, challengeNonce: string): string {
  return hmac(secret, ['cfgproxy-ha-welcome', pairName, helloNonce, challengeNonce]);
}

/** Compares two proofs in constant time. */
export function sameProof(expected: string, given: string): boolean {
  const a = Buffer.from(expected, 'hex');
  const b = Buffer.from(given, 'hex');
  return a.length === b.length && a.length > 0 && timingSafeEqual(a, b);
}

function hmac(secret: string, parts: string[]): string {
  return createHmac('sha256', secret).update(parts.join('\n')).digest('hex');
}
