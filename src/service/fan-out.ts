import type { ChangeRecord } from '../model/change.js';
import type { FolderParentLookup } from '../model/permissions.js';
import type { ClientSession } from './session.js';

/**
 * Delivers each applied change to every subscribed session that selects it and may read it.
 * The change's frame was encoded once at commit; here it is only queued on each socket
 * [ARCH-4]. Visibility is decided once per permission view, not once per subscriber.
 */
export class FanOut {
  private readonly sessions = new Set<ClientSession>();
  deliveries = 0;

  constructor(private readonly parentOf: FolderParentLookup) {}

  get size(): number {
    return this.sessions.size;
  }

  add(session: ClientSession): void {
    this.sessions.add(session);
  }

  /** True when the session was subscribed here (it had registered). */
  remove(session: ClientSession): boolean {
    return this.sessions.delete(session);
  }

  values(): IterableIterator<ClientSession> {
    return this.sessions.values();
  }

  publish(change: ChangeRecord): void {
    const visibleByView = new Map<string, boolean>();
    const before = change.previous ? { type: change.type, dbid: change.dbid, ...change.previous } : undefined;
    let delivered = 0;
    for (const session of this.sessions) {
      if (session.subscriptions.size === 0 || session.catchingUp || !session.selects(change)) continue;
      const principal = session.principal;
      if (!principal) continue;
      let visible = visibleByView.get(principal.viewKey);
      if (visible === undefined) {
        visible = principal.canRead(change, this.parentOf) || (before !== undefined && principal.canRead(before, this.parentOf));
        visibleByView.set(principal.viewKey, visible);
      }
      if (visible && session.deliver(change)) delivered += 1;
    }
    this.deliveries += delivered;
  }
}
