import type { NewObject, ObjectType, PropValue } from '../../protocol/index.js';
import type { ConfigStore } from '../store/config-store.js';
import type { SampleObject } from './sample-config.js';

/** Turns names into dbids: `tenant`/`folder` by name, property values `ref:Type:name`. */
export function resolveNames(sample: SampleObject, store: ConfigStore): NewObject {
  const tenant = sample.tenant ? dbidOf(store, 'Tenant', 0, sample.tenant) : 0;
  const folder = sample.folder ? dbidOf(store, 'Folder', tenant, sample.folder) : 0;
  const props: Record<string, PropValue> = {};
  for (const [key, value] of Object.entries(sample.props ?? {})) {
    props[key] = (Array.isArray(value) ? value.map((v) => resolveRef(v, store, tenant)) : resolveRef(value, store, tenant)) as PropValue;
  }
  return { ...sample, tenant, folder, props };
}

function resolveRef(value: unknown, store: ConfigStore, tenant: number): unknown {
  if (typeof value !== 'string' || !value.startsWith('ref:')) return value;
  const [, type, ...name] = value.split(':');
  return dbidOf(store, type as ObjectType, type === 'Person' ? 0 : tenant, name.join(':'));
}

function dbidOf(store: ConfigStore, type: ObjectType, tenant: number, name: string): number {
  const object = store.findByName(type, tenant, name);
  if (!object) throw new Error(`sample configuration refers to a missing ${type} '${name}'`);
  return object.dbid;
}
