import type { ConfigObject, NotificationFilter, ObjectFilter, ObjectType } from '../../protocol/index.js';

/** True when the object satisfies every key of a read filter [PROTO-READ-2]. */
export function matchesObjectFilter(object: ConfigObject, filter: ObjectFilter | undefined): boolean {
  if (!filter) return true;
  if (filter.dbid !== undefined && object.dbid !== filter.dbid) return false;
  if (filter.name !== undefined && object.name !== filter.name) return false;
  if (filter.tenant !== undefined && object.tenant !== filter.tenant) return false;
  if (filter.folder !== undefined && object.folder !== filter.folder) return false;
  if (filter.state !== undefined && object.state !== filter.state) return false;
  if (filter.props) {
    for (const [key, value] of Object.entries(filter.props)) if (object.props[key] !== value) return false;
  }
  return true;
}

/** The parts of an object a notification filter and a permission check look at. */
export interface ObjectPlacement {
  type: ObjectType;
  dbid: number;
  tenant: number;
  folder: number;
}

/** True when a subscription selects a change to the object placed so [PROTO-SUB-2]. */
export function matchesNotificationFilter(filter: NotificationFilter, object: ObjectPlacement): boolean {
  return (
    (filter.type === undefined || filter.type === object.type) &&
    (filter.dbid === undefined || filter.dbid === object.dbid) &&
    (filter.tenant === undefined || filter.tenant === object.tenant) &&
    (filter.folder === undefined || filter.folder === object.folder)
  );
}

/** Canonical text of a notification filter, so equal filters are one subscription. */
export function notificationFilterKey(filter: NotificationFilter): string {
  return `${filter.type ?? '*'}|${filter.dbid ?? '*'}|${filter.tenant ?? '*'}|${filter.folder ?? '*'}`;
}
