import { createHash, createHmac, randomBytes } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import type { ObjectReader } from './object-reader.js';
import { hashPassword, randomPassword, verifyPassword } from './passwords.js';
import { checkProof, DEFAULT_KDF, parseVerifier, serverProof, upgradeStored, type KdfParams, type Verifier } from './scram.js';

/**
 * Where the deployment's decoy key is kept among the credentials: dbid 0, which no person has. It
 * travels with the verifiers (the database, a proxy's snapshot and history log), so every server of
 * a deployment, before and after a restart, gives an unknown name the same decoy salt [ARCH-8].
 */
export const DECOY_KEY_DBID = 0;
const DECOY_PREFIX = 'decoy$';

/** A new deployment's decoy key, in its stored form. */
export function newDecoyKey(): string {
  return DECOY_PREFIX + randomBytes(32).toString('base64');
}

/** Until a server holds its deployment's key (a database made before it had one): this process's own. */
const PROCESS_DECOY_KEY = randomBytes(32);
/** Checked in place of a verifier nobody has, so an unknown name costs what a known one does. */
const DECOY_VERIFIER: Verifier = { salt: randomBytes(16), ...DEFAULT_KDF, storedKey: randomBytes(32), serverKey: randomBytes(32) };

/** What a login presents: the password in the clear (one scrypt here), or a proof [PROTO-HELLO-5] (no scrypt here). */
export type LoginSecret = { password: string } | { proof: Buffer; authMessage: string };

let decoy: Promise<string> | undefined;

/** A hash of nothing anyone knows, with the same cost as every real one. */
function decoyHash(): Promise<string> {
  decoy ??= hashPassword(randomPassword());
  return decoy;
}

/**
 * Password hashes by person dbid, and the logins they verified. The master keeps them from its
 * database, a proxy from its snapshot and the CredentialChanged frames, so either can log users in.
 */
export class CredentialStore {
  /**
   * user+password digest → the hash it verified against; spares scrypt on every reconnect, and
   * after a failover (standby connections verify ahead of time). Sized for a large pair's users
   * (≈150 bytes an entry).
   */
  private readonly verified = new LRUCache<string, string>({ max: 100_000 });
  /** Checks running now, by the same key: a thousand clients logging in at once cost one scrypt. */
  private readonly inFlight = new Map<string, Promise<boolean>>();

  constructor(private readonly hashes = new Map<number, string>()) {}

  get(personDbid: number): string | undefined {
    return this.hashes.get(personDbid);
  }

  /** Kept in the current form: an older `scrypt$` hash becomes `scram$` here (see upgradeStored). */
  set(personDbid: number, hash: string): void {
    this.hashes.set(personDbid, upgradeStored(hash));
  }

  delete(personDbid: number): void {
    this.hashes.delete(personDbid);
  }

  clear(): void {
    this.hashes.clear();
  }

  entries(): IterableIterator<[number, string]> {
    return this.hashes.entries();
  }

  /**
   * Resolves with the person's dbid when the user exists, is enabled and the password or proof
   * matches (after a proof, also the server's proof for the client to check). An unknown or
   * disabled user costs the same as a wrong password, so the answer's timing does not tell which
   * accounts exist [ARCH-8].
   */
  async authenticate(store: ObjectReader, user: string, secret: LoginSecret): Promise<{ personDbid: number; serverProof?: Buffer } | undefined> {
    if ('proof' in secret) return this.checkProof(store, user, secret.proof, secret.authMessage);
    const { password } = secret;
    const person = store.findByName('Person', 0, user);
    const stored = person && this.hashes.get(person.dbid);
    if (!person || stored === undefined || person.state === 'disabled') {
      await verifyPassword(password, await decoyHash());
      return undefined;
    }
    const cacheKey = `${person.dbid}:${createHash('sha256').update(password).digest('base64')}`;
    if (this.verified.get(cacheKey) === stored) return { personDbid: person.dbid };
    const flightKey = `${cacheKey}:${stored}`;
    let check = this.inFlight.get(flightKey);
    if (!check) {
      check = verifyPassword(password, stored).finally(() => this.inFlight.delete(flightKey));
      this.inFlight.set(flightKey, check);
    }
    if (!(await check)) return undefined;
    this.verified.set(cacheKey, stored);
    return { personDbid: person.dbid };
  }

  /**
   * The salt and cost a client derives its key with [PROTO-HELLO-5]. A name without a usable
   * password gets a decoy: a salt made from the name, the same on every ask, so the challenge does
   * not tell which accounts exist.
   */
  challengeFor(store: ObjectReader, user: string): KdfParams {
    const verifier = this.account(store, user)?.verifier;
    if (verifier) return { salt: verifier.salt, N: verifier.N, r: verifier.r, p: verifier.p };
    return { salt: createHmac('sha256', this.decoyKey()).update(user).digest().subarray(0, 16), ...DEFAULT_KDF };
  }

  private decoyKey(): Buffer {
    const stored = this.hashes.get(DECOY_KEY_DBID);
    return stored?.startsWith(DECOY_PREFIX) ? Buffer.from(stored.slice(DECOY_PREFIX.length), 'base64') : PROCESS_DECOY_KEY;
  }

  /** A proof for this exchange: a few µs, no scrypt; undefined for a wrong one, or an unknown or disabled user. */
  private checkProof(store: ObjectReader, user: string, proof: Buffer, authMessage: string): { personDbid: number; serverProof: Buffer } | undefined {
    const account = this.account(store, user);
    // An unknown name is checked against a decoy, so the answer takes the same few µs either way.
    const matches = checkProof(account?.verifier ?? DECOY_VERIFIER, authMessage, proof);
    return account && matches ? { personDbid: account.personDbid, serverProof: serverProof(account.verifier, authMessage) } : undefined;
  }

  /** An enabled person with a password, and its verifier. */
  private account(store: ObjectReader, user: string): { personDbid: number; verifier: Verifier } | undefined {
    const person = store.findByName('Person', 0, user);
    const stored = person && person.state !== 'disabled' ? this.hashes.get(person.dbid) : undefined;
    const verifier = stored === undefined ? undefined : parseVerifier(stored);
    return person && verifier ? { personDbid: person.dbid, verifier } : undefined;
  }
}
