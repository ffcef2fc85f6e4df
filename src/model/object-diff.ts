import type { ConfigObject, ObjectDelta, PropValue, Sections, SectionsDelta } from '../../protocol/index.js';

/**
 * The delta that turns `before` into `after` (the inverse of applyDelta), or undefined when they
 * are equal. A proxy that reloads sends its subscribers these instead of making them re-read.
 */
export function diffObjects(before: ConfigObject, after: ConfigObject): ObjectDelta | undefined {
  const delta: ObjectDelta = {};
  if (before.name !== after.name) delta.name = after.name;
  if (before.tenant !== after.tenant) delta.tenant = after.tenant;
  if (before.folder !== after.folder) delta.folder = after.folder;
  if (before.state !== after.state) delta.state = after.state;
  const props = diffProps(before.props, after.props);
  if (props) delta.props = props;
  const options = diffSections(before.options, after.options);
  if (options) delta.options = options;
  const annex = diffSections(before.annex, after.annex);
  if (annex) delta.annex = annex;
  return Object.keys(delta).length === 0 ? undefined : delta;
}

function diffProps(before: Record<string, PropValue>, after: Record<string, PropValue>): Record<string, PropValue | null> | undefined {
  const delta: Record<string, PropValue | null> = {};
  let changed = false;
  for (const key of new Set([...Object.keys(before), ...Object.keys(after)])) {
    if (!(key in after)) {
      delta[key] = null;
      changed = true;
    } else if (!samePropValue(before[key], after[key])) {
      delta[key] = after[key];
      changed = true;
    }
  }
  return changed ? delta : undefined;
}

function samePropValue(a: PropValue | undefined, b: PropValue): boolean {
  // Arrays (refs, grants) are small; their JSON is a faithful comparison of plain values.
  return a === b || (typeof a === 'object' && typeof b === 'object' && JSON.stringify(a) === JSON.stringify(b));
}

function diffSections(before: Sections, after: Sections): SectionsDelta | undefined {
  const delta: SectionsDelta = {};
  let changed = false;
  for (const name of new Set([...Object.keys(before), ...Object.keys(after)])) {
    const a = before[name];
    const b = after[name];
    if (b === undefined) {
      delta[name] = null;
      changed = true;
      continue;
    }
    const keys: Record<string, string | null> = {};
    let sectionChanged = a === undefined;
    for (const key of new Set([...Object.keys(a ?? {}), ...Object.keys(b)])) {
      if (!(key in b)) keys[key] = null;
      else if (a?.[key] !== b[key]) keys[key] = b[key];
      else continue;
      sectionChanged = true;
    }
    if (sectionChanged) {
      delta[name] = keys;
      changed = true;
    }
  }
  return changed ? delta : undefined;
}
