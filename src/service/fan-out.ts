import { encodeFrame, Kind, type Lineage } from '../../protocol/index.js';
import { outOfViewFrame, type ChangeRecord, type ChangeView } from '../model/change.js';
import type { FolderParentLookup } from '../model/permissions.js';
import { flushPendingWrites } from '../net/connection.js';
import { InterestIndex } from './interest-index.js';
import type { SessionRegistry } from './session-registry.js';
import type { ClientSession } from './session.js';

/**
 * Sessions that receive exactly the same notifications: the same subscriptions, the same
 * permission view, and the same kind (proxies also get credential frames). A change is matched
 * once per audience, and the frames of one event-loop turn are joined once per audience into a
 * buffer that every member's socket is handed as-is [ARCH-4].
 */
class Audience {
  readonly members = new Set<ClientSession>();
  pending: ChangeRecord[] = [];
  /** Parallel to `pending`: the frame this audience gets for each change. */
  private views: ChangeView[] = [];

  constructor(readonly key: string) {}

  /** Any member decides for all: they share subscriptions and view. */
  view(change: ChangeRecord, parentOf: FolderParentLookup): ChangeView | undefined {
    const first = this.members.values().next();
    return first.done ? undefined : first.value.view(change, parentOf);
  }

  add(change: ChangeRecord, view: ChangeView): void {
    this.pending.push(change);
    this.views.push(view);
  }

  /** Writes what is pending to every member; returns the deliveries made. */
  flush(): number {
    const changes = this.pending;
    const views = this.views;
    if (changes.length === 0) return 0;
    this.pending = [];
    this.views = [];
    const first = this.members.values().next();
    const forProxies = !first.done && first.value.isProxy;
    const frames: Buffer[] = [];
    for (let i = 0; i < changes.length; i += 1) {
      const change = changes[i];
      if (views[i] === 'out-of-view') {
        frames.push(outOfViewFrame(change));
        continue;
      }
      if (forProxies && change.proxyFrame) frames.push(change.proxyFrame);
      frames.push(change.frame);
    }
    const bytes = frames.length === 1 ? frames[0] : Buffer.concat(frames);
    const lastSeq = changes[changes.length - 1].seq;
    let delivered = 0;
    for (const session of this.members) {
      if (!session.connection.writeFrame(bytes)) continue; // cut off: it leaves through release
      session.lastDeliveredSeq = lastSeq;
      delivered += changes.length;
    }
    return delivered;
  }
}

/** Sessions told their position per turn of the event loop. */
const POSITION_SLICE = 500;

/**
 * Delivers each applied change to every live session that subscribed to it and may read it.
 * The change's frame was encoded once when it was applied; here it is matched once per audience
 * and written as shared bytes. Sessions that are still replaying a restore are not in an
 * audience until they catch up. Which sessions are registered is the registry's to say.
 */
export class FanOut {
  private readonly audiences = new Map<string, Audience>();
  private readonly audienceOf = new Map<ClientSession, Audience>();
  /** The audiences by what they subscribed to, so a change asks only those it may concern. */
  private readonly interest = new InterestIndex<Audience>();
  private dirty: Audience[] = [];
  private flushScheduled = false;
  /** A position sweep is under way (it runs in slices). */
  private announcing = false;
  /** Bumped by every `resetAll`: a sweep of the old seq space stops. */
  private epoch = 0;
  private principalsVersion: number;
  deliveries = 0;

  /** Commit times of the changes this turn delivers, for the delivery-latency histogram. */
  private turnCommits: number[] = [];

  constructor(
    private readonly sessions: SessionRegistry,
    private readonly parentOf: FolderParentLookup,
    private readonly currentPrincipalsVersion: () => number,
    private readonly onDelivered: (committedAt: number[]) => void = () => undefined,
  ) {
    this.principalsVersion = currentPrincipalsVersion();
  }

  /**
   * Puts the session in the audience its subscriptions and view now call for. Pending frames of
   * both audiences are written first, so the session gets nothing published before the change
   * under its new subscriptions, and everything published before it under its old ones. A
   * session no longer registered leaves its audience.
   */
  regroup(session: ClientSession): void {
    const key = this.sessions.has(session) ? audienceKey(session) : undefined;
    const current = this.audienceOf.get(session);
    if (current?.key === key) return;
    this.leave(session);
    if (key === undefined) return;
    let audience = this.audiences.get(key);
    if (!audience) {
      this.audiences.set(key, (audience = new Audience(key)));
      this.interest.add(audience, session.subscriptions.values()); // its key holds its subscriptions: they are fixed for it
    }
    this.deliveries += audience.flush();
    audience.members.add(session);
    this.audienceOf.set(session, audience);
  }

  leave(session: ClientSession): void {
    const audience = this.audienceOf.get(session);
    if (!audience) return;
    this.deliveries += audience.flush();
    audience.members.delete(session);
    this.audienceOf.delete(session);
    if (audience.members.size === 0) {
      this.audiences.delete(audience.key);
      this.interest.remove(audience);
    }
  }

  publish(change: ChangeRecord): void {
    const version = this.currentPrincipalsVersion();
    if (version !== this.principalsVersion) {
      // Someone's permissions may have changed: views are recomputed before this change is matched.
      this.principalsVersion = version;
      for (const session of this.sessions.values()) this.regroup(session);
    }
    let delivered = false;
    // Only the audiences whose subscriptions may select the change are asked; each decides in full.
    for (const audience of this.interest.candidates(change)) {
      const view = audience.view(change, this.parentOf);
      if (!view) continue;
      if (audience.pending.length === 0) this.dirty.push(audience);
      audience.add(change, view);
      delivered = true;
    }
    if (delivered) this.turnCommits.push(change.at);
    if (this.dirty.length > 0 && !this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(() => this.flush());
    }
  }

  /**
   * Tells every live subscriber that is behind `seq` on delivered notifications that nothing it
   * selects happened up to `seq` [PROTO-SUB-4], so an idle client's lastSeq does not fall behind
   * the history a server keeps (which would cost it a needless re-read after a failover).
   * Pending notifications go first, so the position never overtakes one. False when the last
   * sweep is still going: nothing was started, ask again later.
   */
  announcePosition(seq: number, chain: string | undefined): boolean {
    if (this.announcing) return false;
    const behind: ClientSession[] = [];
    for (const audience of this.audiences.values()) for (const session of audience.members) if (session.lastDeliveredSeq < seq) behind.push(session);
    if (behind.length === 0) return true;
    const frame = encodeFrame({ kind: Kind.Position, seq, ...(chain ? { chain } : {}) });
    this.announcing = true;
    const epoch = this.epoch;
    // In slices, so that 10,000 idle desktops' positions do not hold a change back for the time
    // 10,000 socket writes take; between slices the event loop delivers what came meanwhile.
    const sweep = (from: number): void => {
      // Another seq space began meanwhile [PROTO-LINEAGE-4]: this position means nothing there.
      if (epoch !== this.epoch) {
        this.announcing = false;
        return;
      }
      this.flush(); // pending notifications first: a position never overtakes one
      const to = Math.min(behind.length, from + POSITION_SLICE);
      for (let i = from; i < to; i += 1) {
        const session = behind[i]!;
        if (session.lastDeliveredSeq >= seq || !this.audienceOf.has(session)) continue;
        if (session.connection.writeFrame(frame)) session.lastDeliveredSeq = seq;
      }
      flushPendingWrites();
      if (to < behind.length) setImmediate(() => sweep(to));
      else this.announcing = false;
    };
    sweep(0);
    return true;
  }

  /**
   * The server moved to another seq space (a proxy now following another database, or one that
   * went back in time): every session must re-read [PROTO-LINEAGE-4]. What is pending of the old
   * space goes first; each session then gets HistoryLogExpired naming the new lineage and seq.
   */
  resetAll(seq: number, lineage: Lineage, chain: string | undefined): void {
    this.epoch += 1;
    this.flush();
    for (const session of this.sessions.values()) {
      const frame = encodeFrame({ kind: Kind.HistoryLogExpired, lastSeq: session.lastDeliveredSeq, oldestSeq: seq + 1, seq, lineage, ...(chain ? { chain } : {}) });
      if (session.connection.writeFrame(frame)) session.lastDeliveredSeq = seq;
    }
    flushPendingWrites();
  }

  /** Writes the turn's notifications: one shared buffer per audience, one write per socket. */
  flush(): void {
    this.flushScheduled = false;
    const dirty = this.dirty;
    this.dirty = [];
    for (const audience of dirty) this.deliveries += audience.flush();
    flushPendingWrites();
    if (this.turnCommits.length > 0) {
      const committedAt = this.turnCommits;
      this.turnCommits = [];
      this.onDelivered(committedAt);
    }
  }
}

/** Sessions with equal keys receive identical bytes; undefined for a session that receives nothing now. */
function audienceKey(session: ClientSession): string | undefined {
  if (session.state !== 'active' || session.catchingUp || session.subscriptions.size === 0) return undefined;
  const principal = session.principal;
  if (!principal) return undefined;
  return `${session.isProxy ? 'proxy' : 'client'}|${principal.viewKey}|${[...session.subscriptions.keys()].sort().join(';')}`;
}
