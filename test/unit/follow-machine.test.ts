import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { initialFollowState, stepFollow, type FollowEffect, type FollowInput, type FollowState } from '../../src/proxy/follow-machine.js';

function run(state: FollowState, inputs: FollowInput[]): { state: FollowState; effects: FollowEffect[] } {
  const effects: FollowEffect[] = [];
  for (const input of inputs) {
    const next = stepFollow(state, input);
    state = next.state;
    effects.push(...next.effects);
  }
  return { state, effects };
}

const kinds = (effects: FollowEffect[]): string[] => effects.map((e) => e.kind);

describe('follow machine', () => {
  it('follow - a first start loads once a master is connected, then subscribes from the snapshot\'s seq', () => {
    let { state, effects } = run(initialFollowState(false), [{ kind: 'load-due' }]);
    expect(effects).toEqual([]); // not connected: nothing to load from
    ({ state, effects } = run(state, [{ kind: 'connected' }]));
    expect(effects).toEqual([{ kind: 'schedule-load', delayMs: 0 }]);
    ({ state, effects } = run(state, [{ kind: 'connected' }])); // a second connect schedules nothing more
    expect(effects).toEqual([]);
    ({ state, effects } = run(state, [{ kind: 'load-due' }]));
    expect(effects).toEqual([{ kind: 'load' }]); // the first load does not ask protected mode
    ({ state, effects } = run(state, [{ kind: 'loaded', seq: 40 }]));
    expect(effects).toEqual([{ kind: 'subscribe-after', seq: 40 }]);
    expect([state.phase, state.loaded]).toEqual(['following', true]);
  });

  it('follow - a proxy that resumed its cache follows from the start; history expired: the stream stops, the backlog goes, a reload after the delay asks protected mode', () => {
    const resumed = initialFollowState(true);
    expect(resumed.phase).toBe('following');
    let { state, effects } = run(resumed, [{ kind: 'connected' }, { kind: 'expired', delayMs: 250 }]);
    expect(effects).toEqual([{ kind: 'unsubscribe' }, { kind: 'drop-backlog' }, { kind: 'schedule-load', delayMs: 250 }]);
    ({ state, effects } = run(state, [{ kind: 'expired', delayMs: 10 }])); // already reloading
    expect(effects).toEqual([]);
    ({ state, effects } = run(state, [{ kind: 'load-due' }]));
    expect(effects).toEqual([{ kind: 'ask-gate' }]);
    ({ state, effects } = run(state, [{ kind: 'gate', allows: true }]));
    expect(effects).toEqual([{ kind: 'load' }]);
    ({ state } = run(state, [{ kind: 'expired', delayMs: 0 }])); // a reset during the load: the load covers it
    expect(state.phase).toBe('loading');
  });

  it('follow - protected mode defers the reload; released, it asks again, or with force loads without asking', () => {
    let { state, effects } = run(initialFollowState(true), [{ kind: 'connected' }, { kind: 'expired', delayMs: 0 }, { kind: 'load-due' }, { kind: 'gate', allows: false }]);
    expect(state.phase).toBe('deferred');
    expect(effects.at(-1)).toEqual({ kind: 'defer' });
    ({ state, effects } = run(state, [{ kind: 'release', force: false }, { kind: 'load-due' }]));
    expect(kinds(effects)).toEqual(['schedule-load', 'ask-gate']);
    ({ state, effects } = run(state, [{ kind: 'gate', allows: false }, { kind: 'release', force: true }, { kind: 'load-due' }]));
    expect(kinds(effects)).toEqual(['defer', 'schedule-load', 'load']);
    expect(state.gateOverridden).toBe(false); // overriding counts once
  });

  it('follow - a failed load retries while connected; lost meanwhile, the next connect schedules it; an unappliable change reloads', () => {
    let { state, effects } = run(initialFollowState(false), [{ kind: 'connected' }, { kind: 'load-due' }, { kind: 'load-failed', retryInMs: 500 }]);
    expect(effects.at(-1)).toEqual({ kind: 'schedule-load', delayMs: 500 });
    ({ state, effects } = run(state, [{ kind: 'load-due' }, { kind: 'disconnected' }, { kind: 'load-failed', retryInMs: 500 }]));
    expect(kinds(effects)).toEqual(['load']); // no retry while disconnected
    ({ state, effects } = run(state, [{ kind: 'connected' }, { kind: 'load-due' }, { kind: 'loaded', seq: 9 }, { kind: 'apply-failed' }]));
    expect(kinds(effects)).toEqual(['schedule-load', 'load', 'subscribe-after', 'unsubscribe', 'drop-backlog', 'schedule-load']);
    ({ state, effects } = run(state, [{ kind: 'stop' }, { kind: 'load-due' }, { kind: 'connected' }]));
    expect(effects).toEqual([]);
    expect(state.phase).toBe('stopped');
  });

  it('follow - over random inputs: never two loads at once, at most one load scheduled, a connected link that waits always has a load coming, and no phase but the four is reached', () => {
    const input: fc.Arbitrary<FollowInput> = fc.oneof(
      fc.constantFrom<FollowInput>({ kind: 'connected' }, { kind: 'disconnected' }, { kind: 'load-due' }, { kind: 'apply-failed' }, { kind: 'loaded', seq: 5 }),
      fc.record({ kind: fc.constant('gate' as const), allows: fc.boolean() }),
      fc.record({ kind: fc.constant('load-failed' as const), retryInMs: fc.nat(1000) }),
      fc.record({ kind: fc.constant('expired' as const), delayMs: fc.nat(1000) }),
      fc.record({ kind: fc.constant('release' as const), force: fc.boolean() }),
    );
    fc.assert(
      fc.property(fc.boolean(), fc.array(input, { maxLength: 60 }), (resumed, inputs) => {
        let state = initialFollowState(resumed);
        let scheduled = 0;
        let loading = 0;
        // The driver: a timer per scheduled load, a load in flight per load, the gate answered at once.
        const feed = (next: FollowInput, allows: boolean): void => {
          const step = stepFollow(state, next);
          state = step.state;
          for (const effect of step.effects) {
            if (effect.kind === 'schedule-load') scheduled += 1;
            if (effect.kind === 'load') loading += 1;
            if (effect.kind === 'ask-gate') feed({ kind: 'gate', allows }, allows);
          }
        };
        for (const [i, next] of inputs.entries()) {
          if (next.kind === 'gate') continue; // only ever the answer to ask-gate
          if (next.kind === 'load-due') {
            if (scheduled === 0) continue; // a due load is a timer that was set
            scheduled -= 1;
          }
          if (next.kind === 'loaded' || next.kind === 'load-failed') {
            if (loading === 0) continue; // an outcome is of a load that was started
            loading -= 1;
          }
          feed(next, i % 3 !== 0);
          expect(scheduled).toBeLessThanOrEqual(1);
          expect(loading).toBeLessThanOrEqual(1);
          expect(state.loadScheduled).toBe(scheduled === 1);
          // A connected link that waits always has a load coming; one that is not connected waits for the connect.
          if (state.phase === 'waiting' && state.connected) expect(scheduled + loading).toBeGreaterThan(0);
          expect(['waiting', 'loading', 'following', 'deferred']).toContain(state.phase);
        }
      }),
      { numRuns: 5000, seed: 20261203 },
    );
  });
});
