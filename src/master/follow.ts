import { decodeFrame, Kind, type ConfigObject } from '../../protocol/index.js';
import type { ChangeRecord } from '../model/change.js';
import { applyDelta } from '../model/validate-object.js';
import type { ConfigStore } from '../store/config-store.js';

/**
 * What a committed change leaves behind, worked out from its stored frames: the object after it
 * (absent for a delete) and the password hash it set. A standby master follows the change log
 * with it, so the log alone (not the current rows, which may be newer) says what each seq did.
 */
export function objectAfter(store: ConfigStore, change: ChangeRecord): { object: ConfigObject | undefined; credential: string | undefined } {
  const message = decodeFrame(change.frame);
  let object: ConfigObject | undefined;
  if (message.kind === Kind.ObjectCreated) object = message.object;
  else if (message.kind === Kind.ObjectUpdated) {
    const before = store.get(message.type, message.dbid);
    if (!message.object && !before) throw new Error(`change ${change.seq} updates ${message.type} ${message.dbid}, which this master does not hold`);
    object = message.object ?? applyDelta(before!, message.delta);
  } else if (message.kind !== Kind.ObjectDeleted) throw new Error(`change ${change.seq} holds a ${message.kind} frame, not a change`);
  let credential: string | undefined;
  if (change.proxyFrame) {
    const proxyMessage = decodeFrame(change.proxyFrame);
    if (proxyMessage.kind === Kind.CredentialChanged) credential = proxyMessage.hash;
  }
  return { object, credential };
}
