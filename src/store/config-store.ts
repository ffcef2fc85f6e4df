import { OBJECT_TYPES, type ConfigObject, type ObjectFilter, type ObjectType } from '../../protocol/index.js';
import { matchesObjectFilter } from '../model/filter.js';
import { SCHEMA } from '../model/schema.js';

/** `type:dbid`, the key of an object across types. */
export type ObjectKey = `${ObjectType}:${number}`;

export function objectKey(type: ObjectType, dbid: number): ObjectKey {
  return `${type}:${dbid}`;
}

/** Every object another object points at: its tenant, its folder, its ref properties. */
export function referencesOf(object: ConfigObject): ObjectKey[] {
  const refs: ObjectKey[] = [];
  if (object.tenant !== 0) refs.push(objectKey('Tenant', object.tenant));
  if (object.folder !== 0) refs.push(objectKey('Folder', object.folder));
  const schema = SCHEMA[object.type];
  for (const [key, value] of Object.entries(object.props)) {
    const spec = schema[key];
    if (spec?.kind === 'ref') refs.push(objectKey(spec.to, value as number));
    else if (spec?.kind === 'refs') for (const dbid of value as number[]) refs.push(objectKey(spec.to, dbid));
  }
  return refs;
}

/**
 * The in-memory configuration: objects by type and dbid, a name index, and a reverse reference
 * index so a delete can name what still points at the object. Objects are immutable; `put`
 * replaces, so a reader holding the old reference keeps a consistent view.
 */
export class ConfigStore {
  private readonly byType = new Map<ObjectType, Map<number, ConfigObject>>(OBJECT_TYPES.map((type) => [type, new Map()]));
  /** `type|tenant|name` → dbid; Person names are unique across tenants (they are logins). */
  private readonly byName = new Map<string, number>();
  private readonly referrers = new Map<ObjectKey, Set<ObjectKey>>();

  get size(): number {
    let total = 0;
    for (const objects of this.byType.values()) total += objects.size;
    return total;
  }

  get(type: ObjectType, dbid: number): ConfigObject | undefined {
    return this.byType.get(type)?.get(dbid);
  }

  has(key: ObjectKey): boolean {
    const colon = key.indexOf(':');
    return this.get(key.slice(0, colon) as ObjectType, Number(key.slice(colon + 1))) !== undefined;
  }

  all(type: ObjectType): IterableIterator<ConfigObject> {
    return this.byType.get(type)!.values();
  }

  /** Every object, type by type. */
  *everything(): Generator<ConfigObject> {
    for (const objects of this.byType.values()) yield* objects.values();
  }

  countOf(type: ObjectType): number {
    return this.byType.get(type)!.size;
  }

  static nameKey(type: ObjectType, tenant: number, name: string): string {
    return type === 'Person' ? `Person|*|${name}` : `${type}|${tenant}|${name}`;
  }

  findByName(type: ObjectType, tenant: number, name: string): ConfigObject | undefined {
    const dbid = this.byName.get(ConfigStore.nameKey(type, tenant, name));
    return dbid === undefined ? undefined : this.get(type, dbid);
  }

  /** Objects of a type that match a filter; dbid and name use the indexes, the rest scans. */
  find(type: ObjectType, filter?: ObjectFilter): ConfigObject[] {
    if (filter?.dbid !== undefined) {
      const object = this.get(type, filter.dbid);
      return object && matchesObjectFilter(object, filter) ? [object] : [];
    }
    if (filter?.name !== undefined && (filter.tenant !== undefined || type === 'Person')) {
      const object = this.findByName(type, filter.tenant ?? 0, filter.name);
      return object && matchesObjectFilter(object, filter) ? [object] : [];
    }
    const result: ConfigObject[] = [];
    for (const object of this.all(type)) if (matchesObjectFilter(object, filter)) result.push(object);
    return result;
  }

  folderParent = (folderDbid: number): number | undefined => this.get('Folder', folderDbid)?.folder;

  /** The first object that still references the given one, if any. */
  firstReferrer(type: ObjectType, dbid: number): ObjectKey | undefined {
    const set = this.referrers.get(objectKey(type, dbid));
    if (!set) return undefined;
    for (const key of set) return key;
    return undefined;
  }

  put(object: ConfigObject): void {
    const previous = this.get(object.type, object.dbid);
    this.byType.get(object.type)!.set(object.dbid, object);
    // Most updates change options, annex or state: same name, same place, the very same props
    // (deltas copy props only when they change them), so no index can have moved.
    if (previous && previous.props === object.props && previous.name === object.name && previous.tenant === object.tenant && previous.folder === object.folder) return;
    const nameKey = ConfigStore.nameKey(object.type, object.tenant, object.name);
    const refs = referencesOf(object);
    if (previous) {
      // Changed plain properties keep the references: then only the name index may move.
      const previousNameKey = ConfigStore.nameKey(previous.type, previous.tenant, previous.name);
      if (previousNameKey !== nameKey && this.byName.get(previousNameKey) === object.dbid) this.byName.delete(previousNameKey);
      const previousRefs = referencesOf(previous);
      if (sameKeys(previousRefs, refs)) {
        this.byName.set(nameKey, object.dbid);
        return;
      }
      this.unindexRefs(objectKey(previous.type, previous.dbid), previousRefs);
    }
    this.byName.set(nameKey, object.dbid);
    const key = objectKey(object.type, object.dbid);
    for (const ref of refs) {
      let set = this.referrers.get(ref);
      if (!set) this.referrers.set(ref, (set = new Set()));
      set.add(key);
    }
  }

  remove(type: ObjectType, dbid: number): ConfigObject | undefined {
    const previous = this.get(type, dbid);
    if (!previous) return undefined;
    this.unindex(previous);
    this.byType.get(type)!.delete(dbid);
    return previous;
  }

  clear(): void {
    for (const objects of this.byType.values()) objects.clear();
    this.byName.clear();
    this.referrers.clear();
  }

  private unindex(object: ConfigObject): void {
    const nameKey = ConfigStore.nameKey(object.type, object.tenant, object.name);
    if (this.byName.get(nameKey) === object.dbid) this.byName.delete(nameKey);
    this.unindexRefs(objectKey(object.type, object.dbid), referencesOf(object));
  }

  private unindexRefs(key: ObjectKey, refs: ObjectKey[]): void {
    for (const ref of refs) {
      const set = this.referrers.get(ref);
      set?.delete(key);
      if (set?.size === 0) this.referrers.delete(ref);
    }
  }
}

function sameKeys(a: readonly ObjectKey[], b: readonly ObjectKey[]): boolean {
  return a.length === b.length && a.every((key, i) => key === b[i]);
}
