import type { ConfigObject, PermissionGrant } from '../../protocol/index.js';
import type { ObjectPlacement } from './filter.js';

/** Looks up a folder's parent, so a grant on a folder covers everything below it. */
export type FolderParentLookup = (folderDbid: number) => number | undefined;

type Access = 'read' | 'change';

/**
 * What one user may see and change [PROTO-PERM-1..3]: the user's own grants and those of every
 * access group it belongs to. `viewKey` is equal for principals that see exactly the same
 * objects, so fan-out decides visibility once per view, not once per subscriber.
 */
export class Principal {
  readonly viewKey: string;
  private readonly types = new Map<string, Access>();
  private readonly tenants = new Map<number, Access>();
  private readonly folders = new Map<number, Access>();

  constructor(
    readonly user: string,
    readonly personDbid: number,
    readonly isAdmin: boolean,
    grants: readonly PermissionGrant[],
    /** A proxy account reads everything (it serves all users) but changes nothing itself. */
    readonly isProxy = false,
  ) {
    for (const grant of grants) {
      const table = grant.on === 'type' ? this.types : grant.on === 'tenant' ? this.tenants : this.folders;
      const key = grant.target as never;
      if (table.get(key) !== 'change') table.set(key, grant.access);
    }
    this.viewKey = isAdmin
      ? 'admin'
      : isProxy
        ? 'proxy'
        : [...this.types, ...this.tenants, ...this.folders]
          .map(([k, v]) => `${k}:${v}`)
          .sort()
          .join(',');
  }

  canRead(object: ObjectPlacement, parentOf: FolderParentLookup): boolean {
    return this.isAdmin || this.isProxy || this.access(object, parentOf) !== undefined;
  }

  /** May register as a proxy: load snapshots with password hashes, write on behalf of others. */
  get mayProxy(): boolean {
    return this.isAdmin || this.isProxy;
  }

  canChange(object: ObjectPlacement, parentOf: FolderParentLookup): boolean {
    return this.isAdmin || this.access(object, parentOf) === 'change';
  }

  /** The strongest access any grant gives on the object, or undefined for none. */
  private access(object: ObjectPlacement, parentOf: FolderParentLookup): Access | undefined {
    let best = stronger(this.types.get(object.type), this.tenants.get(object.tenant));
    if (object.type === 'Tenant') best = stronger(best, this.tenants.get(object.dbid));
    if (best === 'change' || this.folders.size === 0) return best;
    // Walk up the folder tree; the depth bound guards against a corrupted cycle.
    let folder = object.type === 'Folder' ? object.dbid : object.folder;
    for (let depth = 0; folder !== 0 && depth < 64 && best !== 'change'; depth += 1) {
      best = stronger(best, this.folders.get(folder));
      folder = parentOf(folder) ?? 0;
    }
    return best;
  }
}

function stronger(a: Access | undefined, b: Access | undefined): Access | undefined {
  return a === 'change' || b === 'change' ? 'change' : (a ?? b);
}

/** The principal of a person, from its own grants and its access groups' grants. */
export function principalOf(person: ConfigObject, groups: Iterable<ConfigObject>): Principal {
  const grants: PermissionGrant[] = [...((person.props.grants as PermissionGrant[] | undefined) ?? [])];
  let isAdmin = person.props.isAdmin === true;
  for (const group of groups) {
    const members = group.props.members as number[] | undefined;
    if (!members?.includes(person.dbid)) continue;
    grants.push(...((group.props.grants as PermissionGrant[] | undefined) ?? []));
    if (group.name === 'Administrators' && group.tenant === 0) isAdmin = true;
  }
  return new Principal(person.name, person.dbid, isAdmin, grants, person.props.isProxy === true);
}
