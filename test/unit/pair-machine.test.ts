import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  initialPairState,
  readiness,
  step,
  type MemberFacts,
  type PairConfig,
  type PairEffect,
  type PairInput,
  type PairState,
  type PeerStatus,
} from '../../src/ha/pair-machine.js';

const HEARTBEAT = 1000;

function config(configured: 'primary' | 'backup', extra: Partial<PairConfig> = {}): PairConfig {
  return {
    configured,
    failuresToSwitch: 3,
    heartbeatMs: HEARTBEAT,
    readyAfterMs: 0,
    acceptClientsInBackupMode: false,
    autoRestorePrimary: false,
    protectedModeTimeoutMs: undefined,
    silentLinkMs: 10_000,
    dials: configured === 'backup',
    ...extra,
  };
}

const facts = (appliedSeq = 10, extra: Partial<MemberFacts> = {}): MemberFacts => ({ loaded: true, appliedSeq, journalRecord: 5, ackedUpTo: 5, canReload: true, ...extra });
const caughtUp: PeerStatus = { loaded: true, appliedSeq: 10, acceptsClients: true, canReload: true };

/** Steps one member by hand: the state, the time, and every effect so far. */
class Member {
  state: PairState;
  now = 0;
  effects: PairEffect[] = [];

  constructor(cfg: PairConfig, term = 0) {
    this.state = initialPairState(cfg, term);
  }

  feed(input: PairInput): PairEffect[] {
    const { state, effects } = step(this.state, input, this.now);
    this.state = state;
    this.effects.push(...effects);
    return effects;
  }

  tick(f: MemberFacts = facts(), ms = HEARTBEAT): PairEffect[] {
    this.now += ms;
    return this.feed({ kind: 'tick', facts: f });
  }

  link(peerRole: 'primary' | 'backup', peerTerm = 0, side: 'listener' | 'dialer' = 'listener'): PairEffect[] {
    return this.feed({ kind: 'linked', side, peerRole, peerTerm, peerClientEndpoint: '127.0.0.1:9' });
  }
}

const kinds = (effects: PairEffect[]): string[] => effects.map((e) => (e.kind === 'log' ? e.event.id : e.kind));
const logged = (effects: PairEffect[]): string[] => effects.flatMap((e) => (e.kind === 'log' ? [e.event.id] : []));

describe('pair machine - roles and terms', () => {
  it('machine - a backup promotes itself only after failuresToSwitch failed probes in a row with the link down, and persists the term first', () => {
    const backup = new Member(config('backup'));
    backup.link('primary');
    expect(kinds(backup.tick())).not.toContain('probe'); // linked: the primary is not probed
    backup.feed({ kind: 'unlinked', reason: 'test' });
    for (let i = 0; i < 2; i++) {
      expect(kinds(backup.tick())).toContain('probe');
      expect(logged(backup.feed({ kind: 'probed', target: 'primary', answered: false }))).toEqual(['HA-003']);
    }
    backup.tick();
    const promoted = backup.feed({ kind: 'probed', target: 'primary', answered: false });
    expect(promoted[0]).toEqual({ kind: 'persist-term', term: 1 });
    expect(logged(promoted)).toEqual(['HA-004']);
    expect([backup.state.role, backup.state.term]).toEqual(['primary', 1]);
  });

  it('machine - while the primary still answers, a backup with a dead link does not promote; a slow probe is not doubled by the next heartbeat', () => {
    const backup = new Member(config('backup', { failuresToSwitch: 2 }));
    backup.link('primary');
    backup.feed({ kind: 'unlinked', reason: 'test' });
    expect(kinds(backup.tick())).toContain('probe');
    expect(kinds(backup.tick())).not.toContain('probe'); // the first is still out
    backup.feed({ kind: 'probed', target: 'primary', answered: false });
    backup.tick();
    expect(logged(backup.feed({ kind: 'probed', target: 'primary', answered: true }))).toEqual(['HA-005']);
    backup.tick();
    backup.feed({ kind: 'probed', target: 'primary', answered: false });
    expect(backup.state.role).toBe('backup'); // the count started over
    backup.tick();
    expect(logged(backup.feed({ kind: 'probed', target: 'primary', answered: true }))).toEqual([]); // said once per outage
  });

  it('machine - two primaries linked: the lower term steps down and its clients go; a tie goes to the configured primary; two backups: the configured primary takes a new term', () => {
    const primary = new Member(config('primary'));
    primary.link('backup');
    primary.feed({ kind: 'unlinked', reason: 'partition' });
    const healed = primary.link('primary', 1);
    expect(logged(healed)).toEqual(['HA-001', 'HA-006']);
    expect(kinds(healed)).toEqual(expect.arrayContaining(['stop-journal', 'disconnect-clients']));
    expect([primary.state.role, primary.state.term]).toEqual(['backup', 1]);

    const tiedPrimary = new Member(config('primary'), 4);
    expect(logged(tiedPrimary.link('primary', 4))).toEqual(['HA-001']);
    const tiedBackup = new Member(config('backup'), 4);
    tiedBackup.feed({ kind: 'probed', target: 'primary', answered: false }); // not probing: ignored
    expect(tiedBackup.state.role).toBe('backup');

    const both = new Member(config('primary'), 2);
    both.feed({ kind: 'linked', side: 'listener', peerRole: 'backup', peerTerm: 2, peerClientEndpoint: 'x' });
    both.feed({ kind: 'unlinked', reason: 'x' });
    const restarted = new Member(config('primary'), 2);
    restarted.state = { ...restarted.state, role: 'backup' };
    const effects = restarted.link('backup', 3);
    expect(logged(effects)).toEqual(['HA-001', 'HA-014']);
    expect([restarted.state.role, restarted.state.term]).toEqual(['primary', 4]);
    expect(effects[0]).toEqual({ kind: 'persist-term', term: 4 });
  });

  it('machine - a configured primary restarted with its persisted term finds the peer primary at a higher term and joins as backup; the listener welcomes after the term is persisted and before the journal', () => {
    const restarted = new Member(config('primary'), 2);
    const effects = restarted.link('primary', 3);
    expect(logged(effects)).toEqual(['HA-001', 'HA-010']);
    expect([restarted.state.role, restarted.state.term]).toEqual(['backup', 3]);
    expect(kinds(effects).indexOf('persist-term')).toBeLessThan(kinds(effects).indexOf('send-welcome'));
    const primary = new Member(config('primary'));
    const welcomed = kinds(primary.link('backup'));
    expect(welcomed.indexOf('send-welcome')).toBeLessThan(welcomed.indexOf('start-journal'));
    expect(kinds(new Member(config('backup')).link('primary', 0, 'dialer'))).not.toContain('send-welcome');
  });

  it('machine - step is pure: frozen states in, the same answer every time', () => {
    let state = Object.freeze(initialPairState(config('backup', { failuresToSwitch: 1 })));
    const inputs: PairInput[] = [
      { kind: 'linked', side: 'dialer', peerRole: 'primary', peerTerm: 0, peerClientEndpoint: 'x' },
      { kind: 'unlinked', reason: 'x' },
      { kind: 'tick', facts: facts() },
      { kind: 'probed', target: 'primary', answered: false },
      { kind: 'linked', side: 'dialer', peerRole: 'backup', peerTerm: 0, peerClientEndpoint: 'x' },
    ];
    const roles: string[] = [];
    for (const [i, input] of inputs.entries()) {
      const once = step(state, input, i * 1000);
      expect(step(state, input, i * 1000)).toEqual(once);
      state = Object.freeze(once.state);
      roles.push(`${state.role}/${state.term}`);
    }
    expect(roles).toEqual(['backup/0', 'backup/0', 'backup/0', 'primary/1', 'primary/1']);
  });
});

describe('pair machine - readiness and switchover', () => {
  it('readiness - the primary is ready only after --ready-after, with a loaded backup at the seq and journal record of one heartbeat ago', () => {
    const primary = new Member(config('primary', { readyAfterMs: 60_000 }));
    primary.link('backup');
    primary.tick(facts(10));
    primary.feed({ kind: 'peer-status', status: caughtUp });
    expect(readiness(primary.state)).toEqual({ ready: false, reason: expect.stringMatching(/1 s of the 60 s --ready-after/) });
    primary.now += 58_999;
    primary.tick(facts(10));
    expect(readiness(primary.state).ready).toBe(true);
    primary.tick(facts(20, { journalRecord: 9 }));
    primary.tick(facts(20, { journalRecord: 9 }));
    expect(readiness(primary.state)).toEqual({ ready: false, reason: 'the backup is at seq 10, behind 20' });
    primary.feed({ kind: 'peer-status', status: { ...caughtUp, appliedSeq: 20 } });
    expect(readiness(primary.state).reason).toMatch(/acknowledged journal record 5 of 9/);
    primary.tick(facts(20, { journalRecord: 9, ackedUpTo: 9 }));
    expect(readiness(primary.state)).toEqual({ ready: true });
    // A new link starts over: its age and the backup's word.
    primary.feed({ kind: 'unlinked', reason: 'x' });
    primary.link('backup');
    expect(readiness(primary.state).ready).toBe(false);
  });

  it('readiness - the backup is ready when linked, loaded and at the newest seq the journal brought', () => {
    const backup = new Member(config('backup'));
    backup.link('primary', 0, 'dialer');
    backup.tick(facts(7));
    expect(readiness(backup.state)).toEqual({ ready: true });
    backup.feed({ kind: 'journal-change', seq: 9 });
    expect(readiness(backup.state)).toEqual({ ready: false, reason: "this backup is at seq 7, the primary's journal at 9" });
    backup.tick(facts(9));
    expect(readiness(backup.state)).toEqual({ ready: true });
    backup.tick(facts(9, { loaded: false }));
    expect(readiness(backup.state).reason).toBe('this member has not loaded the configuration');
  });

  it('switchover - one request, one decision: refused with its reason, or handed over in the same step; waitReady starts it at the step that makes the pair ready', () => {
    const primary = new Member(config('primary', { readyAfterMs: 2000 }));
    primary.link('backup');
    const refused = primary.feed({ kind: 'switchover', id: 1, force: false, waitReadyMs: 0, facts: facts() });
    expect(refused).toEqual([{ kind: 'answer-switchover', id: 1, ok: false, message: expect.stringMatching(/not ready for a switchover: the link has been up 0 s of the 2 s/) }]);
    expect(primary.state.role).toBe('primary');
    expect(primary.feed({ kind: 'switchover', id: 2, force: false, waitReadyMs: 5000, facts: facts() })).toEqual([]); // waits
    expect(kinds(primary.feed({ kind: 'switchover', id: 3, force: false, waitReadyMs: 5000, facts: facts() }))).toEqual(['answer-switchover']);
    primary.tick();
    primary.tick();
    expect(primary.state.role).toBe('primary'); // up 2 s, but the backup has said nothing
    const started = primary.feed({ kind: 'peer-status', status: caughtUp });
    expect(kinds(started)).toEqual(['HA-007', 'stop-journal', 'request-take-over']);
    expect(primary.state.role).toBe('backup');
    const done = primary.feed({ kind: 'take-over-answered', outcome: 'done', message: 'took over' });
    expect(done).toEqual([
      { kind: 'disconnect-clients', message: 'switchover: the primary is now 127.0.0.1:9' },
      { kind: 'answer-switchover', id: 2, ok: true, message: 'the primary is now 127.0.0.1:9' },
    ]);
  });

  it('switchover - a waiting request that never becomes ready is refused at its deadline with the reason; a refused take-over makes the primary primary again', () => {
    const primary = new Member(config('primary', { readyAfterMs: 60_000 }));
    primary.link('backup');
    primary.feed({ kind: 'switchover', id: 7, force: false, waitReadyMs: 2500, facts: facts() });
    primary.tick();
    primary.tick();
    expect(primary.tick()).toContainEqual({ kind: 'answer-switchover', id: 7, ok: false, message: expect.stringMatching(/--ready-after asks \(force overrides\), after waiting 2.5 s$/) });
    primary.feed({ kind: 'switchover', id: 8, force: true, waitReadyMs: 0, facts: facts() });
    const failed = primary.feed({ kind: 'take-over-answered', outcome: 'refused', message: 'did not reach seq 10 in time' });
    expect(kinds(failed)).toEqual(['HA-009', 'start-journal', 'answer-switchover']);
    expect(primary.state.role).toBe('primary');
  });

  it('switchover - no answer in time while linked: the link is closed before the primary takes its role back, so a late take-over cannot make two primaries on one link', () => {
    const primary = new Member(config('primary'));
    primary.link('backup');
    primary.feed({ kind: 'switchover', id: 1, force: true, waitReadyMs: 0, facts: facts() });
    const timedOut = kinds(primary.feed({ kind: 'take-over-answered', outcome: 'no-answer', message: 'the backup did not take over within 1000 ms' }));
    expect(timedOut).toEqual(['close-link', 'HA-002', 'HA-009', 'answer-switchover']);
    expect([primary.state.role, primary.state.linkUp]).toEqual(['primary', false]);
    // The backup that took over after all holds the higher term: the next link makes this member yield.
    expect(logged(primary.link('primary', 1))).toEqual(['HA-001', 'HA-006']);
  });

  it('switchover - the backup takes over only once caught up and while still linked', () => {
    const backup = new Member(config('backup'));
    backup.link('primary', 0, 'dialer');
    expect(backup.feed({ kind: 'take-over-asked', seq: 12 })).toEqual([{ kind: 'wait-for-seq', seq: 12 }]);
    const took = backup.feed({ kind: 'caught-up', ok: true });
    expect(kinds(took)).toEqual(['persist-term', 'HA-008', 'start-journal', 'reply-take-over']);
    expect([backup.state.role, backup.state.term]).toEqual(['primary', 1]);

    const other = new Member(config('backup'));
    other.link('primary', 0, 'dialer');
    other.feed({ kind: 'take-over-asked', seq: 12 });
    other.feed({ kind: 'unlinked', reason: 'gone' });
    expect(other.feed({ kind: 'caught-up', ok: true })).toEqual([]);
    expect(other.state.role).toBe('backup');
    other.link('primary', 0, 'dialer');
    other.feed({ kind: 'take-over-asked', seq: 12 });
    expect(other.feed({ kind: 'caught-up', ok: false })).toEqual([{ kind: 'reply-take-over', ok: false, message: 'did not reach seq 12 in time' }]);
  });
});

describe('pair machine - auto-restore, protected mode, link replacement, held clients', () => {
  it('auto-restore - asks once after enough healthy heartbeats in a row, and again only after health broke and returned', () => {
    const restarted = new Member(config('primary', { autoRestorePrimary: true }));
    restarted.link('primary', 1); // joins as backup
    const asks = (): boolean => restarted.tick().some((e) => e.kind === 'notify-peer' && e.what === 'take-back');
    expect([asks(), asks(), asks(), asks(), asks()]).toEqual([false, false, true, false, false]);
    restarted.tick(facts(10, { loaded: false }));
    expect([asks(), asks(), asks()]).toEqual([false, false, true]);
    // The peer (a configured backup serving as primary) hands over when asked; a configured primary does not.
    const promoted = new Member(config('backup'), 1);
    promoted.state = { ...promoted.state, role: 'primary' };
    promoted.link('backup', 1, 'dialer');
    promoted.tick();
    promoted.feed({ kind: 'peer-status', status: caughtUp });
    expect(kinds(promoted.feed({ kind: 'peer-asks-back' }))).toEqual(['HA-007', 'stop-journal', 'request-take-over']);
    const configured = new Member(config('primary'));
    configured.link('backup');
    expect(configured.feed({ kind: 'peer-asks-back' })).toEqual([]);
  });

  it('protected mode - deferred only when the backup can take the clients; the backup reloads, the pair switches, the former primary reloads; else HA-019 once per reason', () => {
    const primary = new Member(config('primary', { protectedModeTimeoutMs: 120_000 }));
    primary.link('backup');
    expect(primary.feed({ kind: 'reload-asked' })).toEqual([
      { kind: 'log', level: 'warn', event: { id: 'HA-019', what: 'protected mode not entered: reloading now', reason: 'the backup has not reported its status' } },
      { kind: 'answer-reload', allowed: true },
    ]);
    expect(kinds(primary.feed({ kind: 'reload-asked' }))).toEqual(['answer-reload']); // the same reason is not said again
    primary.feed({ kind: 'peer-status', status: caughtUp });
    expect(kinds(primary.tick())).toContain('probe');
    primary.feed({ kind: 'probed', target: 'backup', answered: true });
    expect(primary.feed({ kind: 'reload-asked' })).toEqual([{ kind: 'answer-reload', allowed: false }]);
    expect(primary.state.protectedMode.deferred).toBe(true);
    expect(kinds(primary.feed({ kind: 'peer-reloaded' }))).toEqual(['HA-007', 'stop-journal', 'request-take-over']);
    const switched = primary.feed({ kind: 'take-over-answered', outcome: 'done', message: 'took over' });
    expect(kinds(switched)).toEqual(['disconnect-clients', 'HA-013', 'release-reload']);
    expect(switched.at(-1)).toEqual({ kind: 'release-reload', force: false });
    expect(primary.feed({ kind: 'reload-asked' })).toEqual([{ kind: 'answer-reload', allowed: true }]); // now backup
    expect(primary.feed({ kind: 'reloaded', seq: 40 })).toEqual([{ kind: 'notify-peer', what: { reloadedAt: 40 } }]);
  });

  it('protected mode - the deadline, or the link going down, releases a deferred reload (HA-017)', () => {
    const primary = new Member(config('primary', { protectedModeTimeoutMs: 3000 }));
    primary.link('backup');
    primary.feed({ kind: 'peer-status', status: caughtUp });
    primary.tick();
    primary.feed({ kind: 'probed', target: 'backup', answered: true });
    primary.feed({ kind: 'reload-asked' });
    primary.tick();
    primary.tick();
    expect(kinds(primary.tick())).toEqual(expect.arrayContaining(['HA-017', 'release-reload']));
    expect(primary.state.protectedMode.deferred).toBe(false);
    primary.feed({ kind: 'peer-status', status: caughtUp });
    primary.feed({ kind: 'probed', target: 'backup', answered: true });
    primary.feed({ kind: 'reload-asked' });
    expect(primary.feed({ kind: 'unlinked', reason: 'gone' })).toContainEqual({ kind: 'release-reload', force: true });
  });

  it('link replacement - a new authenticated connection is refused while the linked peer answers, and replaces a silent one', () => {
    const primary = new Member(config('primary'));
    primary.link('backup');
    expect(primary.feed({ kind: 'link-offered', liveLinkSilentMs: 9_999 })).toEqual([{ kind: 'refuse-link', message: expect.stringMatching(/a live peer is linked \(heard from 9999 ms ago\)/) }]);
    expect(kinds(primary.feed({ kind: 'link-offered', liveLinkSilentMs: 10_000 }))).toEqual(['HA-016', 'close-link', 'HA-002']);
    expect(primary.state.linkUp).toBe(false);
  });

  it('held clients - a client at a backup probing a vanished primary is held until the promotion, a link, or the detection window', () => {
    const backup = new Member(config('backup', { failuresToSwitch: 2 }));
    expect(backup.feed({ kind: 'client-waiting' })).toEqual([]); // held
    backup.tick();
    backup.feed({ kind: 'probed', target: 'primary', answered: false });
    backup.tick();
    expect(kinds(backup.feed({ kind: 'probed', target: 'primary', answered: false }))).toContain('release-held-clients');
    const waiting = new Member(config('backup', { failuresToSwitch: 2 }));
    waiting.feed({ kind: 'client-waiting' });
    expect(kinds(waiting.tick())).not.toContain('release-held-clients');
    expect(kinds(waiting.tick())).not.toContain('release-held-clients');
    expect(kinds(waiting.tick())).toContain('release-held-clients'); // 3 heartbeats: the window passed
    const linked = new Member(config('backup'));
    linked.link('primary', 0, 'dialer');
    expect(linked.feed({ kind: 'client-waiting' })).toEqual([{ kind: 'release-held-clients' }]); // linked: refused at once, naming the primary
  });
});

describe('pair machine - properties of two members over random histories', () => {
  /**
   * Two machines and the network between them, in memory. Member 0 is the configured primary (it
   * listens), member 1 the configured backup (it dials). Messages on the link are delivered in
   * order or lost with it; a crash or a cut link loses what was in flight. Time moves one heartbeat
   * per tick; before each tick what the real timeouts would have ended by then is ended (a
   * take-over wait after 500 ms, the switchover's answer after 1 s, ADDP on a silent link), and
   * probes may stay out across ticks (slow probes).
   */
  type Event =
    | { kind: 'tick' }
    | { kind: 'connect' }
    | { kind: 'deliver' }
    | { kind: 'crash' | 'restart' | 'apply' | 'probe-answer' | 'expire-history' | 'reload-done' | 'notice-cut' | 'catch-up' | 'answer-late'; who: 0 | 1 }
    | { kind: 'switchover'; who: 0 | 1; force: boolean; waitReadyMs: number }
    | { kind: 'cut'; full: boolean }
    | { kind: 'heal' }
    | { kind: 'write' };

  interface Sim {
    now: number;
    ticks: number;
    configs: [PairConfig, PairConfig];
    members: Array<{ state: PairState; alive: boolean; persisted: number; applied: number; dialing: boolean; probes: Set<'primary' | 'backup'>; waitSeq: number | undefined; awaitingAnswer: boolean; reloading: boolean }>;
    linked: boolean;
    linkedSinceTick: number;
    partition: 'none' | 'link' | 'full';
    inFlight: Array<{ to: 0 | 1; input: PairInput }>;
    masterSeq: number;
    nextId: number;
    violations: string[];
  }

  function newSim(protectedMode: boolean, autoRestore: boolean): Sim {
    const extra: Partial<PairConfig> = { failuresToSwitch: 2, readyAfterMs: 2000, acceptClientsInBackupMode: true, autoRestorePrimary: autoRestore, protectedModeTimeoutMs: protectedMode ? 5000 : undefined };
    const configs: [PairConfig, PairConfig] = [config('primary', extra), config('backup', extra)];
    const member = (i: 0 | 1) => ({ state: initialPairState(configs[i]), alive: true, persisted: 0, applied: 0, dialing: false, probes: new Set<'primary' | 'backup'>(), waitSeq: undefined, awaitingAnswer: false, reloading: false });
    return { now: 0, ticks: 0, configs, members: [member(0), member(1)], linked: false, linkedSinceTick: 0, partition: 'none', inFlight: [], masterSeq: 0, nextId: 1, violations: [] };
  }

  const other = (i: 0 | 1): 0 | 1 => (i === 0 ? 1 : 0);
  const factsOf = (sim: Sim, i: 0 | 1): MemberFacts => ({ loaded: true, appliedSeq: sim.members[i].applied, journalRecord: 0, ackedUpTo: 0, canReload: true });

  function unlink(sim: Sim, reason: string, notify: Array<0 | 1>): void {
    sim.linked = false;
    sim.inFlight = [];
    for (const i of notify) if (sim.members[i].alive) feed(sim, i, { kind: 'unlinked', reason });
  }

  /** One input to one member; its effects act on the simulated world. */
  function feed(sim: Sim, i: 0 | 1, input: PairInput): PairEffect[] {
    const m = sim.members[i];
    if (!m.alive) return [];
    const before = m.state.term;
    const { state, effects } = step(m.state, input, sim.now);
    m.state = state;
    if (state.term < before) sim.violations.push(`term of member ${i} went from ${before} to ${state.term}`);
    for (const effect of effects) {
      switch (effect.kind) {
        case 'persist-term':
          m.persisted = effect.term;
          break;
        case 'dial':
          m.dialing = true;
          break;
        case 'probe':
          m.probes.add(effect.target);
          break;
        case 'send-status':
          if (sim.linked) sim.inFlight.push({ to: other(i), input: { kind: 'peer-status', status: effect.status } });
          break;
        case 'notify-peer':
          if (sim.linked) sim.inFlight.push({ to: other(i), input: effect.what === 'take-back' ? { kind: 'peer-asks-back' } : { kind: 'peer-reloaded' } });
          break;
        case 'request-take-over':
          m.awaitingAnswer = true;
          if (sim.linked) sim.inFlight.push({ to: other(i), input: { kind: 'take-over-asked', seq: m.applied } });
          break;
        case 'wait-for-seq':
          m.waitSeq = effect.seq;
          break;
        case 'reply-take-over':
          if (sim.linked) sim.inFlight.push({ to: other(i), input: { kind: 'take-over-answered', outcome: effect.ok ? 'done' : 'refused', message: effect.message } });
          break;
        case 'answer-switchover': {
          const peer = sim.members[other(i)];
          if (effect.ok && !(peer.alive && peer.state.role === 'primary')) sim.violations.push(`switchover ${effect.id} acknowledged at member ${i} with no primary`);
          break;
        }
        case 'answer-reload':
          if (effect.allowed) m.reloading = true;
          break;
        case 'release-reload':
          m.reloading = true;
          break;
        case 'close-link':
          unlink(sim, effect.reason, [other(i)]);
          break;
        default:
          break;
      }
      if (state.term !== m.persisted && effect.kind !== 'log') sim.violations.push(`member ${i} acted (${effect.kind}) at term ${state.term} before persisting it`);
    }
    if (input.kind === 'take-over-answered') m.awaitingAnswer = false;
    return effects;
  }

  function deliverAll(sim: Sim): void {
    while (sim.inFlight.length > 0) {
      const next = sim.inFlight.shift()!;
      feed(sim, next.to, next.input);
    }
  }

  function connect(sim: Sim): void {
    const [listener, dialer] = sim.members;
    if (sim.linked || !dialer.dialing || !listener.alive || !dialer.alive || sim.partition !== 'none') return;
    dialer.dialing = false;
    const offered = feed(sim, 0, { kind: 'link-offered', liveLinkSilentMs: listener.state.linkUp ? Number.MAX_SAFE_INTEGER : undefined });
    if (offered.some((e) => e.kind === 'refuse-link')) return void feed(sim, 1, { kind: 'dial-ended' });
    sim.linked = true;
    sim.linkedSinceTick = sim.ticks;
    const hello = dialer.state;
    feed(sim, 0, { kind: 'linked', side: 'listener', peerRole: hello.role, peerTerm: hello.term, peerClientEndpoint: 'b' });
    const welcome = listener.state;
    feed(sim, 1, { kind: 'linked', side: 'dialer', peerRole: welcome.role, peerTerm: welcome.term, peerClientEndpoint: 'a' });
    feed(sim, 1, { kind: 'dial-ended' });
  }

  const bothLinked = (sim: Sim): boolean => sim.linked && sim.members.every((m) => m.alive && m.state.linkUp);
  const primaries = (sim: Sim): number => sim.members.filter((m) => m.alive && m.state.role === 'primary').length;

  function tick(sim: Sim): void {
    // What the real timeouts end within a heartbeat: half-open links (ADDP), dials, take-over waits, unanswered switchovers.
    for (const i of [0, 1] as const) if (sim.members[i].alive && sim.members[i].state.linkUp && !sim.linked) feed(sim, i, { kind: 'unlinked', reason: 'ADDP timeout' });
    connect(sim);
    if (sim.members[1].dialing) {
      sim.members[1].dialing = false;
      feed(sim, 1, { kind: 'dial-ended' });
    }
    deliverAll(sim);
    for (const i of [0, 1] as const) {
      const m = sim.members[i];
      if (m.waitSeq !== undefined) {
        const ok = m.applied >= m.waitSeq;
        m.waitSeq = undefined;
        feed(sim, i, { kind: 'caught-up', ok });
      }
    }
    deliverAll(sim);
    for (const i of [0, 1] as const) if (sim.members[i].awaitingAnswer) feed(sim, i, { kind: 'take-over-answered', outcome: 'no-answer', message: 'timeout' });
    deliverAll(sim);
    // Linked for two heartbeats: exactly one primary.
    if (bothLinked(sim) && sim.ticks - sim.linkedSinceTick >= 2 && primaries(sim) !== 1) sim.violations.push(`linked since tick ${sim.linkedSinceTick}, at tick ${sim.ticks}: ${primaries(sim)} primaries`);
    sim.ticks += 1;
    sim.now += HEARTBEAT;
    for (const i of [0, 1] as const) feed(sim, i, { kind: 'tick', facts: factsOf(sim, i) });
  }

  function run(sim: Sim, events: Event[]): void {
    for (const event of events) {
      switch (event.kind) {
        case 'tick':
          tick(sim);
          break;
        case 'connect':
          connect(sim);
          break;
        case 'deliver': {
          const next = sim.inFlight.shift();
          if (next) feed(sim, next.to, next.input);
          break;
        }
        case 'crash': {
          const m = sim.members[event.who];
          if (!m.alive) break;
          m.alive = false;
          if (sim.linked) unlink(sim, 'peer crashed', [other(event.who)]);
          break;
        }
        case 'restart': {
          const m = sim.members[event.who];
          if (m.alive) break;
          // A restarted member starts in its configured role with the term it persisted.
          sim.members[event.who] = { ...m, state: initialPairState(sim.configs[event.who], m.persisted, sim.now), alive: true, dialing: false, probes: new Set(), waitSeq: undefined, awaitingAnswer: false, reloading: false };
          feed(sim, event.who, { kind: 'tick', facts: factsOf(sim, event.who) });
          break;
        }
        case 'apply':
          sim.members[event.who].applied = sim.masterSeq;
          break;
        case 'write':
          sim.masterSeq += 1;
          break;
        case 'probe-answer': {
          const m = sim.members[event.who];
          const target = [...m.probes][0];
          if (!target) break;
          m.probes.delete(target);
          feed(sim, event.who, { kind: 'probed', target, answered: sim.members[other(event.who)].alive && sim.partition !== 'full' });
          break;
        }
        case 'switchover':
          feed(sim, event.who, { kind: 'switchover', id: sim.nextId++, force: event.force, waitReadyMs: event.waitReadyMs, facts: factsOf(sim, event.who) });
          break;
        case 'expire-history':
          feed(sim, event.who, { kind: 'reload-asked' });
          break;
        case 'reload-done':
          if (sim.members[event.who].reloading) {
            sim.members[event.who].reloading = false;
            feed(sim, event.who, { kind: 'reloaded', seq: sim.masterSeq });
          }
          break;
        case 'cut':
          sim.partition = event.full ? 'full' : 'link';
          sim.linked = false;
          sim.inFlight = [];
          break;
        case 'notice-cut':
          if (!sim.linked) feed(sim, event.who, { kind: 'unlinked', reason: 'ADDP timeout' });
          break;
        case 'heal':
          sim.partition = 'none';
          break;
        case 'catch-up': {
          // The backup's wait for the seq ends early (caught up) or late, whatever the primary's timer says.
          const m = sim.members[event.who];
          if (m.waitSeq === undefined) break;
          const ok = m.applied >= m.waitSeq;
          m.waitSeq = undefined;
          feed(sim, event.who, { kind: 'caught-up', ok });
          break;
        }
        case 'answer-late':
          // A busy backup: the primary's switchover timer runs out before the answer comes.
          if (sim.members[event.who].awaitingAnswer) feed(sim, event.who, { kind: 'take-over-answered', outcome: 'no-answer', message: 'timeout' });
          break;
      }
      if (bothLinked(sim) && primaries(sim) > 1) sim.violations.push(`two primaries on one link after ${event.kind}`);
    }
  }

  const who = fc.constantFrom<0 | 1>(0, 1);
  const event: fc.Arbitrary<Event> = fc.oneof(
    { weight: 6, arbitrary: fc.constant<Event>({ kind: 'tick' }) },
    { weight: 2, arbitrary: fc.constantFrom<Event>({ kind: 'connect' }, { kind: 'deliver' }, { kind: 'write' }, { kind: 'heal' }) },
    { weight: 3, arbitrary: fc.record({ kind: fc.constantFrom('crash' as const, 'restart' as const, 'apply' as const, 'probe-answer' as const, 'expire-history' as const, 'reload-done' as const, 'notice-cut' as const, 'catch-up' as const, 'answer-late' as const), who }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('switchover' as const), who, force: fc.boolean(), waitReadyMs: fc.constantFrom(0, 3000) }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('cut' as const), full: fc.boolean() }) },
  );
  /** After any history: heal, restart both, and give the pair heartbeats to link and settle. */
  const settle: Event[] = [{ kind: 'heal' }, { kind: 'restart', who: 0 }, { kind: 'restart', who: 1 }, ...Array.from({ length: 4 }, () => ({ kind: 'tick' }) as const)];

  it('machine - whatever crashes, restarts, partitions, switchovers under load, protected mode and slow probes came before: one primary once linked two heartbeats, never two on one link, no acknowledged switchover without a primary, terms only grow and are persisted before use', () => {
    fc.assert(
      fc.property(fc.array(event, { maxLength: 80 }), fc.boolean(), fc.boolean(), (events, protectedMode, autoRestore) => {
        const sim = newSim(protectedMode, autoRestore);
        run(sim, [...events, ...settle]);
        expect(sim.violations).toEqual([]);
        expect(bothLinked(sim)).toBe(true); // healed and restarted, the pair links
        expect(primaries(sim)).toBe(1);
      }),
      { numRuns: 3000, seed: 20261203 },
    );
  });

  it('machine - the tie: both members backup at one term with the link down (the promoted one restarted), both promote across a full partition; healed, the configured primary keeps the role', () => {
    const sim = newSim(false, false);
    const fail = (who: 0 | 1): Event[] => [{ kind: 'tick' }, { kind: 'probe-answer', who }];
    run(sim, [{ kind: 'tick' }, { kind: 'cut', full: true }, { kind: 'tick' }, ...fail(1), ...fail(1)]);
    expect([sim.members[1].state.role, sim.members[1].state.term]).toEqual(['primary', 1]);
    run(sim, [{ kind: 'heal' }, { kind: 'tick' }, { kind: 'tick' }]); // member 0 (term 0) yields: HA-006
    expect(sim.members.map((m) => `${m.state.role}/${m.state.term}`)).toEqual(['backup/1', 'primary/1']);
    run(sim, [{ kind: 'crash', who: 1 }, { kind: 'cut', full: true }, { kind: 'restart', who: 1 }, ...fail(0), ...fail(1), ...fail(0), ...fail(1)]);
    expect(sim.members.map((m) => `${m.state.role}/${m.state.term}`)).toEqual(['primary/2', 'primary/2']);
    run(sim, [{ kind: 'heal' }, { kind: 'tick' }, { kind: 'tick' }, { kind: 'tick' }]);
    expect(sim.members.map((m) => m.state.role)).toEqual(['primary', 'backup']);
    expect(sim.violations).toEqual([]);
  });

  it('machine - the flap: the promoted member crashes and comes back as configured backup while the other waits as backup; linked again, the configured primary takes the role', () => {
    const sim = newSim(false, false);
    run(sim, [{ kind: 'tick' }, { kind: 'tick' }, { kind: 'crash', who: 0 }, { kind: 'tick' }, { kind: 'probe-answer', who: 1 }, { kind: 'tick' }, { kind: 'probe-answer', who: 1 }]);
    expect(sim.members[1].state.role).toBe('primary');
    run(sim, [{ kind: 'restart', who: 0 }, { kind: 'tick' }, { kind: 'crash', who: 1 }, { kind: 'restart', who: 1 }, { kind: 'tick' }, { kind: 'tick' }]);
    expect(sim.members.map((m) => m.state.role)).toEqual(['primary', 'backup']);
    expect(sim.violations).toEqual([]);
  });
});
