import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { initialRoleState, RoleMachine, step, type RoleInput } from '../../src/ha/role-machine.js';

describe('role machine', () => {
  it('role - a backup promotes itself only after failuresToSwitch failed probes in a row with the link down', () => {
    const machine = new RoleMachine('backup', 3);
    machine.onLinkUp('primary');
    expect(machine.onProbe(false)).toEqual([]); // link up: probes are not asked
    machine.onLinkDown();
    expect(machine.shouldProbe).toBe(true);
    machine.onProbe(false);
    machine.onProbe(false);
    expect(machine.role).toBe('backup');
    expect(machine.onProbe(false).map((e) => e.id)).toEqual(['HA-004']);
    expect(machine.role).toBe('primary');
    expect(machine.shouldProbe).toBe(false);
  });

  it('role - while the primary still answers, a backup with a dead link does not promote (no two primaries)', () => {
    const machine = new RoleMachine('backup', 2);
    machine.onLinkUp('primary');
    machine.onLinkDown();
    machine.onProbe(false);
    expect(machine.onProbe(true).map((e) => e.id)).toEqual(['HA-005']); // the failure count starts over
    machine.onProbe(false);
    expect(machine.role).toBe('backup');
    machine.onProbe(true);
    expect(machine.onProbe(true)).toEqual([]); // said once per outage
    expect(machine.role).toBe('backup');
  });

  it('role - two primaries after a healed partition: the higher term stays, the lower steps down; a tie goes to the configured primary', () => {
    const promoted = new RoleMachine('backup', 1);
    promoted.onLinkUp('primary', 0);
    promoted.onLinkDown();
    promoted.onProbe(false); // the partition: it promotes itself, term 1
    expect([promoted.role, promoted.term]).toEqual(['primary', 1]);
    const primary = new RoleMachine('primary', 1);
    primary.onLinkUp('backup', 0); // they were a pair before the partition
    primary.onLinkDown();
    // Healed: the primary of term 0 yields to the one of term 1, which stays.
    expect(primary.onLinkUp('primary', promoted.term).map((e) => e.id)).toEqual(['HA-001', 'HA-006']);
    expect(promoted.onLinkUp('backup', primary.term).map((e) => e.id)).toEqual(['HA-001']);
    expect([primary.role, promoted.role]).toEqual(['backup', 'primary']);
    expect(primary.term).toBe(1);

    // Equal terms (two members that each reached term 4): the configured primary keeps the role.
    const tiedBackup = new RoleMachine('backup', 1, 3);
    tiedBackup.onLinkUp('backup', 3);
    tiedBackup.onLinkDown();
    tiedBackup.onProbe(false); // term 4
    const tiedPrimary = new RoleMachine('primary', 1, 4);
    tiedPrimary.onLinkUp('backup', 3);
    tiedPrimary.onLinkDown();
    expect(tiedPrimary.onLinkUp('primary', 4).map((e) => e.id)).toEqual(['HA-001']);
    expect(tiedBackup.onLinkUp('primary', 4).map((e) => e.id)).toEqual(['HA-001', 'HA-006']);
  });
});

describe('role machine - restarts', () => {
  it('role - a configured primary restarted with the term it persisted finds its peer primary at a higher term and joins as backup', () => {
    const restarted = new RoleMachine('primary', 3, 2);
    expect(restarted.onLinkUp('primary', 3).map((e) => e.id)).toEqual(['HA-001', 'HA-010']);
    expect([restarted.role, restarted.term]).toEqual(['backup', 3]);
    // Its peer, at the higher term, stays primary.
    const peer = new RoleMachine('backup', 3, 3);
    peer.onLinkUp('backup', 0);
    expect(peer.role).toBe('backup'); // a backup stays backup when the peer is backup and it is configured backup
  });
});

describe('role machine - properties', () => {
  type Member = { machine: RoleMachine; alive: boolean };
  type Step = { kind: 'crash' | 'restart'; who: 0 | 1 } | { kind: 'link' } | { kind: 'unlink' } | { kind: 'probe' };

  /**
   * Two members, 0 configured primary (it listens), 1 configured backup (it dials). A link comes up
   * only between two live members; the listener settles its role first and the dialer learns it
   * from the Welcome, as HaNode does. A probe of a live member's client port is answered.
   */
  function run(steps: Step[]): Member[] {
    const members: Member[] = [
      { machine: new RoleMachine('primary', 2), alive: true },
      { machine: new RoleMachine('backup', 2), alive: true },
    ];
    let linked = false;
    for (const step of steps) {
      if (step.kind === 'crash' && members[step.who].alive) {
        members[step.who].alive = false;
        if (linked) members[1 - step.who].machine.onLinkDown();
        linked = false;
      } else if (step.kind === 'restart' && !members[step.who].alive) {
        // A restarted member starts in its configured role with the term it persisted.
        members[step.who] = { machine: new RoleMachine(step.who === 0 ? 'primary' : 'backup', 2, members[step.who].machine.term), alive: true };
      } else if (step.kind === 'link' && !linked && members[0].alive && members[1].alive) {
        // The listener settles first and tells the dialer its role and term in the Welcome.
        members[0].machine.onLinkUp(members[1].machine.role, members[1].machine.term);
        members[1].machine.onLinkUp(members[0].machine.role, members[0].machine.term);
        linked = true;
        expect(members.filter((m) => m.machine.role === 'primary')).toHaveLength(1);
        expect(members[0].machine.term).toBe(members[1].machine.term); // linked, both hold the higher term
      } else if (step.kind === 'unlink' && linked) {
        for (const m of members) m.machine.onLinkDown();
        linked = false;
      } else if (step.kind === 'probe' && !linked) {
        for (const [i, m] of members.entries()) if (m.alive && m.machine.shouldProbe) m.machine.onProbe(members[1 - i].alive);
      }
    }
    return members;
  }

  it('role - whatever crashes, restarts, partitions and probes came before, a link between two live members leaves exactly one primary', () => {
    const step = fc.oneof(
      fc.record({ kind: fc.constantFrom('crash' as const, 'restart' as const), who: fc.constantFrom(0 as const, 1 as const) }),
      fc.constantFrom<Step>({ kind: 'link' }, { kind: 'unlink' }, { kind: 'probe' }),
    );
    fc.assert(
      fc.property(fc.array(step, { maxLength: 40 }), (steps) => {
        const members = run([...steps, { kind: 'restart', who: 0 }, { kind: 'restart', who: 1 }, { kind: 'unlink' }, { kind: 'link' }]);
        expect(members.filter((m) => m.machine.role === 'primary')).toHaveLength(1);
      }),
      { numRuns: 20_000, seed: 20261124 },
    );
  });

  it('role - the flap: the promoted member crashes and comes back as configured backup while the other waits as backup; linked again, the configured primary takes the role', () => {
    const members = run([{ kind: 'link' }, { kind: 'crash', who: 0 }, { kind: 'probe' }, { kind: 'probe' }, { kind: 'restart', who: 0 }, { kind: 'link' }, { kind: 'crash', who: 1 }, { kind: 'restart', who: 1 }, { kind: 'probe' }, { kind: 'link' }]);
    expect(members.map((m) => m.machine.role)).toEqual(['primary', 'backup']);
  });
});

describe('role machine - the pure step', () => {
  it('role - step is a pure function: frozen states in, new states out, the same answer every time', () => {
    const inputs: RoleInput[] = [
      { kind: 'link-up', peerRole: 'primary', peerTerm: 0 },
      { kind: 'link-down' },
      { kind: 'probe', answered: false },
      { kind: 'probe', answered: false },
      { kind: 'link-up', peerRole: 'backup', peerTerm: 0 },
      { kind: 'hand-over' },
      { kind: 'hand-over-failed', reason: 'test' },
    ];
    let state = Object.freeze(initialRoleState('backup', 2));
    const roles: string[] = [];
    for (const input of inputs) {
      const once = step(state, input);
      expect(step(state, input)).toEqual(once); // deterministic
      state = Object.freeze(once.state); // a mutation of a frozen state would throw in strict mode
      roles.push(`${state.role}/${state.term}`);
    }
    expect(roles).toEqual(['backup/0', 'backup/0', 'backup/0', 'primary/1', 'primary/1', 'backup/1', 'primary/1']);
  });
});
