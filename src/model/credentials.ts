import { createHash } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import type { ConfigStore } from '../store/config-store.js';
import { hashPassword, randomPassword, verifyPassword } from './passwords.js';

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

  set(personDbid: number, hash: string): void {
    this.hashes.set(personDbid, hash);
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
   * Resolves with the person's dbid when the user exists, is enabled and the password matches. An
   * unknown or disabled user costs the same scrypt as a wrong password, so the answer's timing does
   * not tell which accounts exist [ARCH-8].
   */
  async authenticate(store: ConfigStore, user: string, password: string): Promise<number | undefined> {
    const person = store.findByName('Person', 0, user);
    const stored = person && this.hashes.get(person.dbid);
    if (!person || stored === undefined || person.state === 'disabled') {
      await verifyPassword(password, await decoyHash());
      return undefined;
    }
    const cacheKey = `${person.dbid}:${createHash('sha256').update(password).digest('base64')}`;
    if (this.verified.get(cacheKey) === stored) return person.dbid;
    const flightKey = `${cacheKey}:${stored}`;
    let check = this.inFlight.get(flightKey);
    if (!check) {
      check = verifyPassword(password, stored).finally(() => this.inFlight.delete(flightKey));
      this.inFlight.set(flightKey, check);
    }
    if (!(await check)) return undefined;
    this.verified.set(cacheKey, stored);
    return person.dbid;
  }
}
