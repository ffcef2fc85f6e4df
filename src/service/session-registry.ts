import type { ClientSession } from './session.js';

/**
 * The registered client sessions of one service (subscribed or not): what the pair journals,
 * the metrics count, and a change of permissions or seq space walks. The fan-out reads it to
 * know who is registered; it does not own it.
 */
export class SessionRegistry {
  private readonly sessions = new Set<ClientSession>();

  get size(): number {
    return this.sessions.size;
  }

  has(session: ClientSession): boolean {
    return this.sessions.has(session);
  }

  values(): IterableIterator<ClientSession> {
    return this.sessions.values();
  }

  add(session: ClientSession): void {
    this.sessions.add(session);
  }

  /** True when the session was registered. */
  delete(session: ClientSession): boolean {
    return this.sessions.delete(session);
  }
}
