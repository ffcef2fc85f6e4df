import type { NotificationFilter } from '../../protocol/index.js';
import type { ChangeRecord } from '../model/change.js';

/**
 * Which holders (audiences) may want a change, found from the change itself rather than by asking
 * every holder [ARCH-4]: the cost of a change grows with the holders it concerns, not with all of
 * them, as subject routing does in NATS and the watch cache's key index in Kubernetes.
 *
 * A filter is filed under its most selective field: `dbid`, else `folder`, else `tenant`, else
 * `type`, together with its type when it names one (so a desktop's filter on its tenant's Skills
 * is not asked about every DN of the tenant, and dbids, counted per type, do not meet across
 * types); the empty filter `{}` (everything) goes to a list that every change looks at. A filter
 * that selects a change has every one of its fields equal to the change's (or, for an update that
 * moved the object, to where it was), so the change's own keys reach it. The index only narrows:
 * each candidate still decides with its own full check (its filters and its permission view).
 */
export class InterestIndex<H> {
  private readonly buckets = new Map<string, Set<H>>();
  private readonly everything = new Set<H>();
  private readonly filed = new Map<H, string[]>();

  /** Files `holder` under each of its filters (a holder's filters do not change: a new set is a new holder). */
  add(holder: H, filters: Iterable<NotificationFilter>): void {
    const keys: string[] = [];
    for (const filter of filters) {
      const key = keyOf(filter);
      if (key === undefined) {
        this.everything.add(holder);
        continue;
      }
      let bucket = this.buckets.get(key);
      if (!bucket) this.buckets.set(key, (bucket = new Set()));
      bucket.add(holder);
      keys.push(key);
    }
    this.filed.set(holder, keys);
  }

  remove(holder: H): void {
    for (const key of this.filed.get(holder) ?? []) {
      const bucket = this.buckets.get(key);
      bucket?.delete(holder);
      if (bucket?.size === 0) this.buckets.delete(key);
    }
    this.filed.delete(holder);
    this.everything.delete(holder);
  }

  /** The holders a change may concern, each once. */
  candidates(change: ChangeRecord): Set<H> {
    const found = new Set<H>(this.everything);
    const take = (key: string): void => {
      const bucket = this.buckets.get(key);
      if (bucket) for (const holder of bucket) found.add(holder);
    };
    // Each key twice: filed with the change's type, and filed with no type (no array made per change).
    const takeFiled = (type: string): void => {
      take(`d:${type}:${change.dbid}`);
      take(`f:${type}:${change.folder}`);
      take(`t:${type}:${change.tenant}`);
      if (change.previous) {
        take(`f:${type}:${change.previous.folder}`);
        take(`t:${type}:${change.previous.tenant}`);
      }
    };
    takeFiled(change.type);
    takeFiled('*');
    take(`y:${change.type}`);
    return found;
  }
}

function keyOf(filter: NotificationFilter): string | undefined {
  const type = filter.type ?? '*';
  if (filter.dbid !== undefined) return `d:${type}:${filter.dbid}`;
  if (filter.folder !== undefined) return `f:${type}:${filter.folder}`;
  if (filter.tenant !== undefined) return `t:${type}:${filter.tenant}`;
  if (filter.type !== undefined) return `y:${filter.type}`;
  return undefined;
}
