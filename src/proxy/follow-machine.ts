/**
 * How a proxy follows its master, as a pure step function (after the Kubernetes reflector: list,
 * then watch from the list's version): load a snapshot at seq S, then subscribe from S
 * (`Subscribe{afterSeq: S}`, PROTO-SUB-5), so nothing has to be held while a snapshot loads. When
 * the master's history no longer reaches the cache (or a change cannot be applied), the proxy
 * stops the stream, serves its cache, loads again and follows on from the new snapshot.
 * `UpstreamLink` feeds the inputs and carries out the effects.
 */

export type FollowPhase =
  /** A load is due (at the next schedule, once a master is connected). */
  | 'waiting'
  /** Protected mode asks whether this reload may start now. */
  | 'asking'
  | 'loading'
  /** Subscribed from the snapshot's seq: changes are applied as they come. */
  | 'following'
  /** Protected mode: a reload waits for the backup's; the cache is served, the stream is off. */
  | 'deferred'
  | 'stopped';

export interface FollowState {
  readonly phase: FollowPhase;
  readonly connected: boolean;
  /** The cache holds a configuration (a reload, not the first load, is what protected mode may defer). */
  readonly loaded: boolean;
  /** A load is scheduled: a second one is not. */
  readonly loadScheduled: boolean;
  /** Protected mode ended without the backup's reload: the next load does not ask again. */
  readonly gateOverridden: boolean;
}

export type FollowInput =
  | { kind: 'connected' }
  | { kind: 'disconnected' }
  /** A scheduled load's turn. */
  | { kind: 'load-due' }
  /** Protected mode's answer to `ask-gate`. */
  | { kind: 'gate'; allows: boolean }
  | { kind: 'loaded'; seq: number }
  | { kind: 'load-failed'; retryInMs: number }
  /** The master cannot replay what this proxy missed (HistoryLogExpired): reload after `delayMs`. */
  | { kind: 'expired'; delayMs: number }
  /** A change could not be applied: the cache no longer matches the master. */
  | { kind: 'apply-failed' }
  /** Protected mode lets the deferred reload go (`force`: without asking again). */
  | { kind: 'release'; force: boolean }
  | { kind: 'stop' };

export type FollowEffect =
  | { kind: 'schedule-load'; delayMs: number }
  /** Stop the master's stream: the next snapshot covers what it would bring. */
  | { kind: 'unsubscribe' }
  /** Changes received but not applied are dropped, for the same reason. */
  | { kind: 'drop-backlog' }
  | { kind: 'ask-gate' }
  | { kind: 'defer' }
  | { kind: 'load' }
  | { kind: 'subscribe-after'; seq: number };

/** A proxy that resumed its cache from its history log follows at once (its Register presented the position). */
export function initialFollowState(loaded: boolean): FollowState {
  return { phase: loaded ? 'following' : 'waiting', connected: false, loaded, loadScheduled: false, gateOverridden: false };
}

export function stepFollow(state: FollowState, input: FollowInput): { state: FollowState; effects: FollowEffect[] } {
  const s = { ...state };
  const effects: FollowEffect[] = [];
  const schedule = (delayMs: number): void => {
    if (s.loadScheduled || s.phase === 'stopped') return;
    s.loadScheduled = true;
    effects.push({ kind: 'schedule-load', delayMs });
  };
  /** From following: the stream stops, and a load is scheduled. */
  const reload = (delayMs: number): void => {
    s.phase = 'waiting';
    effects.push({ kind: 'unsubscribe' }, { kind: 'drop-backlog' });
    schedule(delayMs);
  };
  switch (input.kind) {
    case 'connected':
      s.connected = true;
      if (s.phase === 'waiting') schedule(0);
      break;
    case 'disconnected':
      s.connected = false;
      break;
    case 'load-due':
      s.loadScheduled = false;
      // Not connected: the next 'connected' schedules it again.
      if (s.phase !== 'waiting' || !s.connected) break;
      if (s.loaded && !s.gateOverridden) {
        s.phase = 'asking';
        effects.push({ kind: 'ask-gate' });
        break;
      }
      s.phase = 'loading';
      s.gateOverridden = false;
      effects.push({ kind: 'load' });
      break;
    case 'gate':
      if (s.phase !== 'asking') break;
      if (input.allows) {
        s.phase = 'loading';
        effects.push({ kind: 'load' });
      } else {
        s.phase = 'deferred';
        effects.push({ kind: 'defer' });
      }
      break;
    case 'loaded':
      if (s.phase !== 'loading') break;
      s.phase = 'following';
      s.loaded = true;
      effects.push({ kind: 'subscribe-after', seq: input.seq });
      break;
    case 'load-failed':
      if (s.phase !== 'loading') break;
      s.phase = 'waiting';
      if (s.connected) schedule(input.retryInMs);
      break;
    case 'expired':
      // While waiting, asking, loading or deferred a reload is on its way already.
      if (s.phase === 'following') reload(input.delayMs);
      break;
    case 'apply-failed':
      if (s.phase === 'following') reload(0);
      break;
    case 'release':
      if (s.phase !== 'deferred') break;
      s.phase = 'waiting';
      s.gateOverridden = input.force;
      schedule(0);
      break;
    case 'stop':
      s.phase = 'stopped';
      break;
  }
  return { state: s, effects };
}
