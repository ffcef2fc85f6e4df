import type { ObjectReader } from './object-reader.js';
import { principalOf, type Principal } from './permissions.js';

/**
 * Principals computed from the persons and access groups in a store, cached until one of those
 * changes. Servers call `invalidate` when a Person or AccessGroup change is applied.
 */
export class PrincipalDirectory {
  private readonly cache = new Map<number, Principal>();
  private generation = 0;

  constructor(private readonly store: ObjectReader) {}

  /** Bumps on every invalidation, so holders of a principal know to look it up again. */
  get version(): number {
    return this.generation;
  }

  get(personDbid: number): Principal | undefined {
    const cached = this.cache.get(personDbid);
    if (cached) return cached;
    const person = this.store.get('Person', personDbid);
    if (!person || person.state === 'disabled') return undefined;
    const principal = principalOf(person, this.store.all('AccessGroup'));
    this.cache.set(personDbid, principal);
    return principal;
  }

  invalidate(): void {
    this.cache.clear();
    this.generation += 1;
  }
}
