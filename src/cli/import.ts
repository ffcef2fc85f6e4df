import { CfgError, ErrorCode, type ConfigObject, type NewObject, type PropValue } from '../../protocol/index.js';
import type { ClientCore } from '../client/client-core.js';
import { SCHEMA } from '../model/schema.js';
import { objectKey, referencesOf, type ObjectKey } from '../store/config-store.js';

export interface ImportSummary {
  created: number;
  /** Objects whose name already existed at the target: kept, and references to them point there. */
  reused: number;
  failed: Array<{ object: ObjectKey; name: string; code: string; message: string }>;
}

/** The document `cfgproxy export` writes. */
export interface ConfigDocument {
  cfgproxy: number;
  objects: ConfigObject[];
}

export function checkDocument(value: unknown): ConfigDocument {
  const doc = value as Partial<ConfigDocument> | null;
  if (!doc || typeof doc !== 'object' || doc.cfgproxy !== 1 || !Array.isArray(doc.objects)) {
    throw new CfgError(ErrorCode.INVALID_MESSAGE, 'not a cfgproxy export document (expected { cfgproxy: 1, objects: [...] })');
  }
  return doc as ConfigDocument;
}

/**
 * Creates the document's objects at the server. The server assigns new dbids, so objects go in
 * dependency order (what an object refers to first) and every reference inside the document is
 * rewritten to the new dbid. References to objects outside the document are kept as they are.
 * Writes within one dependency layer are pipelined.
 */
export async function importDocument(client: ClientCore, doc: ConfigDocument, onProgress: (done: number, total: number) => void, inFlight = 32): Promise<ImportSummary> {
  const summary: ImportSummary = { created: 0, reused: 0, failed: [] };
  const inDocument = new Map<ObjectKey, ConfigObject>(doc.objects.map((o) => [objectKey(o.type, o.dbid), o]));
  const newDbid = new Map<ObjectKey, number>();
  const failedKeys = new Set<ObjectKey>();
  let done = 0;
  for (const layer of dependencyLayers(doc.objects, inDocument)) {
    let next = 0;
    const lane = async (): Promise<void> => {
      while (next < layer.length) {
        const object = layer[next++];
        const key = objectKey(object.type, object.dbid);
        const blocked = referencesOf(object).find((ref) => failedKeys.has(ref));
        if (blocked) {
          failedKeys.add(key);
          summary.failed.push({ object: key, name: object.name, code: ErrorCode.MISSING_REFERENCE, message: `not imported because ${blocked} failed` });
        } else {
          await createOne(client, object, key, inDocument, newDbid, summary, failedKeys);
        }
        onProgress(++done, doc.objects.length);
      }
    };
    await Promise.all(Array.from({ length: Math.min(inFlight, layer.length) }, lane));
  }
  return summary;
}

async function createOne(
  client: ClientCore,
  object: ConfigObject,
  key: ObjectKey,
  inDocument: Map<ObjectKey, ConfigObject>,
  newDbid: Map<ObjectKey, number>,
  summary: ImportSummary,
  failedKeys: Set<ObjectKey>,
): Promise<void> {
  const remap = (type: ConfigObject['type'], dbid: number): number => (inDocument.has(objectKey(type, dbid)) ? newDbid.get(objectKey(type, dbid))! : dbid);
  const props: Record<string, PropValue> = {};
  for (const [name, value] of Object.entries(object.props)) {
    const spec = SCHEMA[object.type][name];
    if (spec?.kind === 'ref') props[name] = remap(spec.to, value as number);
    else if (spec?.kind === 'refs') props[name] = (value as number[]).map((dbid) => remap(spec.to, dbid));
    else props[name] = value;
  }
  const fresh: NewObject = {
    type: object.type,
    name: object.name,
    tenant: object.tenant === 0 ? 0 : remap('Tenant', object.tenant),
    folder: object.folder === 0 ? 0 : remap('Folder', object.folder),
    state: object.state,
    props,
    options: object.options,
    annex: object.annex,
  };
  try {
    newDbid.set(key, (await client.create(fresh)).dbid);
    summary.created += 1;
  } catch (error) {
    if (error instanceof CfgError && error.code === ErrorCode.NAME_IN_USE && typeof error.details?.dbid === 'number') {
      newDbid.set(key, error.details.dbid);
      summary.reused += 1;
      return;
    }
    failedKeys.add(key);
    const code = error instanceof CfgError ? error.code : ErrorCode.INTERNAL;
    summary.failed.push({ object: key, name: object.name, code, message: (error as Error).message });
  }
}

/** Kahn's layers over the references inside the document; a cycle is reported, not looped on. */
function dependencyLayers(objects: ConfigObject[], inDocument: Map<ObjectKey, ConfigObject>): ConfigObject[][] {
  const waitingOn = new Map<ObjectKey, number>();
  const dependents = new Map<ObjectKey, ObjectKey[]>();
  for (const object of objects) {
    const key = objectKey(object.type, object.dbid);
    const refs = [...new Set(referencesOf(object))].filter((ref) => ref !== key && inDocument.has(ref));
    waitingOn.set(key, refs.length);
    for (const ref of refs) {
      let list = dependents.get(ref);
      if (!list) dependents.set(ref, (list = []));
      list.push(key);
    }
  }
  const layers: ConfigObject[][] = [];
  let current = [...waitingOn].filter(([, n]) => n === 0).map(([key]) => key);
  let placed = 0;
  while (current.length > 0) {
    layers.push(current.map((key) => inDocument.get(key)!));
    placed += current.length;
    const next: ObjectKey[] = [];
    for (const key of current) {
      for (const dependent of dependents.get(key) ?? []) {
        const left = waitingOn.get(dependent)! - 1;
        waitingOn.set(dependent, left);
        if (left === 0) next.push(dependent);
      }
    }
    current = next;
  }
  if (placed < objects.length) {
    const stuck = [...waitingOn].filter(([, n]) => n > 0).map(([key]) => key);
    throw new CfgError(ErrorCode.INVALID_OBJECT, `the document's references form a cycle: ${stuck.slice(0, 5).join(', ')}${stuck.length > 5 ? ', …' : ''}`);
  }
  return layers;
}
