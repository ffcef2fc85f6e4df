import {
  CfgError,
  ErrorCode,
  OBJECT_TYPES,
  type ConfigObject,
  type NewObject,
  type ObjectDelta,
  type ObjectType,
  type PermissionGrant,
  type PropValue,
  type Sections,
  type SectionsDelta,
} from '../../protocol/index.js';
import { OBJECT_LIMITS, SCHEMA, type PropSpec } from './schema.js';

function invalid(message: string): CfgError {
  return new CfgError(ErrorCode.INVALID_OBJECT, message);
}

function isMap(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Uint8Array);
}

function isDbid(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

const objectTypes: ReadonlySet<string> = new Set(OBJECT_TYPES);

function checkGrants(value: unknown, where: string): PermissionGrant[] {
  if (!Array.isArray(value) || value.length > OBJECT_LIMITS.grants) throw invalid(`${where} must be a list of at most ${OBJECT_LIMITS.grants} grants`);
  return value.map((grant, i) => {
    if (!isMap(grant)) throw invalid(`${where}[${i}] must be a map`);
    const { on, target, access } = grant;
    if (access !== 'read' && access !== 'change') throw invalid(`${where}[${i}].access must be 'read' or 'change'`);
    if (on === 'type') {
      if (typeof target !== 'string' || !objectTypes.has(target)) throw invalid(`${where}[${i}].target must be an object type`);
    } else if (on === 'tenant' || on === 'folder') {
      if (!isDbid(target)) throw invalid(`${where}[${i}].target must be a ${on} dbid`);
    } else {
      throw invalid(`${where}[${i}].on must be 'type', 'tenant' or 'folder'`);
    }
    return { on, target, access };
  });
}

function checkProp(type: ObjectType, key: string, spec: PropSpec, value: unknown): PropValue {
  const where = `${type}.props.${key}`;
  switch (spec.kind) {
    case 'string':
      if (typeof value !== 'string') throw invalid(`${where} must be a string`);
      if (value.length > (spec.maxLength ?? OBJECT_LIMITS.valueLength)) throw invalid(`${where} is longer than ${spec.maxLength ?? OBJECT_LIMITS.valueLength} characters`);
      if (spec.required && value.length === 0) throw invalid(`${where} must not be empty`);
      if (spec.oneOf && !spec.oneOf.includes(value)) throw invalid(`${where} must be one of ${spec.oneOf.join(', ')}`);
      return value;
    case 'int':
      if (typeof value !== 'number' || !Number.isSafeInteger(value)) throw invalid(`${where} must be an integer`);
      if ((spec.min !== undefined && value < spec.min) || (spec.max !== undefined && value > spec.max)) {
        throw invalid(`${where} must be between ${spec.min ?? '-∞'} and ${spec.max ?? '∞'}`);
      }
      return value;
    case 'bool':
      if (typeof value !== 'boolean') throw invalid(`${where} must be true or false`);
      return value;
    case 'ref':
      if (!isDbid(value) || value === 0) throw invalid(`${where} must be the dbid of a ${spec.to}`);
      return value;
    case 'refs':
      if (!Array.isArray(value) || value.length > OBJECT_LIMITS.refsPerProp || !value.every((v) => isDbid(v) && v > 0)) {
        throw invalid(`${where} must be a list of ${spec.to} dbids`);
      }
      return [...new Set(value as number[])];
    case 'grants':
      return checkGrants(value, where);
    case 'secret':
      if (typeof value !== 'string' || value.length === 0 || value.length > 1024) throw invalid(`${where} must be a non-empty string`);
      return value;
  }
}

/**
 * Checks options/annex sections. In a delta (`allowNull`) a null section or key means "remove";
 * the same size limits apply, so one write cannot add unbounded sections either way.
 */
function checkSections(value: unknown, where: string, allowNull: false): Sections;
function checkSections(value: unknown, where: string, allowNull: true): SectionsDelta;
function checkSections(value: unknown, where: string, allowNull: boolean): Sections | SectionsDelta {
  if (value === undefined) return {};
  if (!isMap(value)) throw invalid(`${where} must be a map of sections`);
  const entries = Object.entries(value);
  if (entries.length > OBJECT_LIMITS.sections) throw invalid(`${where} has more than ${OBJECT_LIMITS.sections} sections`);
  const sections: SectionsDelta = {};
  for (const [section, keys] of entries) {
    if (keys === null && allowNull) {
      sections[section] = null;
      continue;
    }
    if (!isMap(keys)) throw invalid(`${where}.${section} must be a map of key → string${allowNull ? ' or null' : ''}`);
    const pairs = Object.entries(keys);
    if (pairs.length > OBJECT_LIMITS.keysPerSection) throw invalid(`${where}.${section} has more than ${OBJECT_LIMITS.keysPerSection} keys`);
    for (const [key, v] of pairs) {
      if (v === null && allowNull) continue;
      if (typeof v !== 'string' || v.length > OBJECT_LIMITS.valueLength) throw invalid(`${where}.${section}.${key} must be a string of at most ${OBJECT_LIMITS.valueLength} characters`);
    }
    sections[section] = { ...(keys as Record<string, string | null>) };
  }
  return sections;
}

function checkName(name: unknown): string {
  if (typeof name !== 'string' || name.trim().length === 0 || name.length > OBJECT_LIMITS.nameLength) {
    throw invalid(`name must be a non-empty string of at most ${OBJECT_LIMITS.nameLength} characters`);
  }
  return name;
}

function splitProps(type: ObjectType, raw: unknown): { props: Record<string, PropValue>; secrets: Record<string, string> } {
  const props: Record<string, PropValue> = {};
  const secrets: Record<string, string> = {};
  if (raw === undefined) return { props, secrets };
  if (!isMap(raw)) throw invalid(`${type}.props must be a map`);
  const schema = SCHEMA[type];
  for (const [key, value] of Object.entries(raw)) {
    const spec = schema[key];
    if (!spec) throw invalid(`${type} has no property '${key}' (known: ${Object.keys(schema).join(', ') || 'none'})`);
    const checked = checkProp(type, key, spec, value);
    if (spec.kind === 'secret') secrets[key] = checked as string;
    else props[key] = checked;
  }
  return { props, secrets };
}

export interface CheckedObject {
  object: ConfigObject;
  /** Write-only properties (a Person's password), kept out of the object. */
  secrets: Record<string, string>;
}

/** Validates a new object's shape and builds it with the given dbid. */
export function checkNewObject(raw: NewObject, dbid: number): CheckedObject {
  if (!isMap(raw)) throw invalid('object must be a map');
  if (typeof raw.type !== 'string' || !objectTypes.has(raw.type)) throw invalid(`object.type must be one of ${OBJECT_TYPES.join(', ')}`);
  const type = raw.type;
  const { props, secrets } = splitProps(type, raw.props);
  for (const [key, spec] of Object.entries(SCHEMA[type])) {
    if ('required' in spec && spec.required && props[key] === undefined) throw invalid(`${type}.props.${key} is required`);
  }
  const tenant = raw.tenant ?? 0;
  const folder = raw.folder ?? 0;
  if (!isDbid(tenant)) throw invalid('tenant must be a tenant dbid (0 for none)');
  if (!isDbid(folder)) throw invalid('folder must be a folder dbid (0 for none)');
  if (type === 'Tenant' && tenant !== 0) throw invalid('a Tenant cannot belong to another tenant');
  const state = raw.state ?? 'enabled';
  if (state !== 'enabled' && state !== 'disabled') throw invalid("state must be 'enabled' or 'disabled'");
  const object: ConfigObject = {
    type,
    dbid,
    name: checkName(raw.name),
    tenant,
    folder,
    state,
    props,
    options: checkSections(raw.options, 'options', false),
    annex: checkSections(raw.annex, 'annex', false),
  };
  return { object, secrets };
}

export interface CheckedDelta {
  delta: ObjectDelta;
  secrets: Record<string, string>;
}

/** Validates a delta against the object's type; write-only properties are split off. */
export function checkDelta(type: ObjectType, raw: ObjectDelta): CheckedDelta {
  if (!isMap(raw)) throw invalid('delta must be a map');
  const known = new Set(['name', 'tenant', 'folder', 'state', 'props', 'options', 'annex']);
  for (const key of Object.keys(raw)) if (!known.has(key)) throw invalid(`delta has an unknown field '${key}'`);
  const delta: ObjectDelta = {};
  const secrets: Record<string, string> = {};
  if (raw.name !== undefined) delta.name = checkName(raw.name);
  if (raw.tenant !== undefined) {
    if (!isDbid(raw.tenant) || (type === 'Tenant' && raw.tenant !== 0)) throw invalid('delta.tenant must be a tenant dbid');
    delta.tenant = raw.tenant;
  }
  if (raw.folder !== undefined) {
    if (!isDbid(raw.folder)) throw invalid('delta.folder must be a folder dbid');
    delta.folder = raw.folder;
  }
  if (raw.state !== undefined) {
    if (raw.state !== 'enabled' && raw.state !== 'disabled') throw invalid("delta.state must be 'enabled' or 'disabled'");
    delta.state = raw.state;
  }
  if (raw.props !== undefined) {
    if (!isMap(raw.props)) throw invalid('delta.props must be a map');
    const schema = SCHEMA[type];
    const props: Record<string, PropValue | null> = {};
    for (const [key, value] of Object.entries(raw.props)) {
      const spec = schema[key];
      if (!spec) throw invalid(`${type} has no property '${key}'`);
      if (value === null) {
        if ('required' in spec && spec.required) throw invalid(`${type}.props.${key} is required and cannot be removed`);
        if (spec.kind !== 'secret') props[key] = null;
        continue;
      }
      const checked = checkProp(type, key, spec, value);
      if (spec.kind === 'secret') secrets[key] = checked as string;
      else props[key] = checked;
    }
    if (Object.keys(props).length > 0) delta.props = props;
  }
  if (raw.options !== undefined) delta.options = checkSections(raw.options, 'delta.options', true);
  if (raw.annex !== undefined) delta.annex = checkSections(raw.annex, 'delta.annex', true);
  return { delta, secrets };
}

function applySectionsDelta(sections: Sections, delta: SectionsDelta | undefined): Sections {
  if (!delta) return sections;
  const result: Sections = { ...sections };
  for (const [section, keys] of Object.entries(delta)) {
    if (keys === null) {
      delete result[section];
      continue;
    }
    const merged: Record<string, string> = { ...(result[section] ?? {}) };
    for (const [key, value] of Object.entries(keys)) {
      if (value === null) delete merged[key];
      else merged[key] = value;
    }
    result[section] = merged;
  }
  return result;
}

/** Applies a delta, returning a new object: stored objects are never mutated, so a read in
 * progress keeps a consistent snapshot. */
export function applyDelta(object: ConfigObject, delta: ObjectDelta): ConfigObject {
  let props = object.props;
  if (delta.props) {
    props = { ...object.props };
    for (const [key, value] of Object.entries(delta.props)) {
      if (value === null) delete props[key];
      else props[key] = value;
    }
  }
  const updated: ConfigObject = {
    ...object,
    props,
    options: applySectionsDelta(object.options, delta.options),
    annex: applySectionsDelta(object.annex, delta.annex),
  };
  if (delta.name !== undefined) updated.name = delta.name;
  if (delta.tenant !== undefined) updated.tenant = delta.tenant;
  if (delta.folder !== undefined) updated.folder = delta.folder;
  if (delta.state !== undefined) updated.state = delta.state;
  return updated;
}

/** True when applying the delta would change nothing (a no-op write still gets no seq). */
export function isEmptyDelta(delta: ObjectDelta): boolean {
  return Object.keys(delta).length === 0;
}
