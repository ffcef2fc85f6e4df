import type { ConfigObject, ObjectType } from '../../protocol/index.js';

/** What the model reads of a configuration. The store's ConfigStore is one; the model does not depend on the store. */
export interface ObjectReader {
  get(type: ObjectType, dbid: number): ConfigObject | undefined;
  findByName(type: ObjectType, tenant: number, name: string): ConfigObject | undefined;
  all(type: ObjectType): Iterable<ConfigObject>;
}
