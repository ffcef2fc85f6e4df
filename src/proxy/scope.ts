import type { ConfigObject } from '../../protocol/index.js';
import type { FolderParentLookup } from '../model/permissions.js';

/**
 * What a proxy loads and serves (`--scope tenant:3,folder:12`): objects of the listed tenants,
 * objects filed in the listed folders or below them, and always the environment-level objects
 * (tenant 0: tenants, persons, access groups, hosts, …) and every folder, so logins work and the
 * folder tree can be resolved. No scope means everything.
 */
export class Scope {
  private constructor(
    private readonly tenants: ReadonlySet<number>,
    private readonly folders: ReadonlySet<number>,
  ) {}

  static readonly everything = new Scope(new Set(), new Set());

  /** Parses `tenant:3,folder:12`; throws a message that names the bad part. */
  static parse(text: string | undefined): Scope {
    if (!text || text.trim() === '') return Scope.everything;
    const tenants = new Set<number>();
    const folders = new Set<number>();
    for (const part of text.split(',').map((p) => p.trim()).filter(Boolean)) {
      const match = /^(tenant|folder):(\d+)$/.exec(part);
      if (!match) throw new Error(`--scope: '${part}' is not tenant:<dbid> or folder:<dbid>`);
      (match[1] === 'tenant' ? tenants : folders).add(Number(match[2]));
    }
    return new Scope(tenants, folders);
  }

  get isEverything(): boolean {
    return this.tenants.size === 0 && this.folders.size === 0;
  }

  toString(): string {
    if (this.isEverything) return 'everything';
    return [...[...this.tenants].map((t) => `tenant:${t}`), ...[...this.folders].map((f) => `folder:${f}`)].join(',');
  }

  includes(object: ConfigObject, parentOf: FolderParentLookup): boolean {
    if (this.isEverything || object.tenant === 0 || object.type === 'Folder') return true;
    if (this.tenants.has(object.tenant)) return true;
    for (let folder = object.folder, depth = 0; folder !== 0 && depth < 64; folder = parentOf(folder) ?? 0, depth += 1) {
      if (this.folders.has(folder)) return true;
    }
    return false;
  }
}
