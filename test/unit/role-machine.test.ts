import { describe, expect, it } from 'vitest';
import { RoleMachine } from '../../src/ha/role-machine.js';

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

  it('role - two primaries after a healed partition: the configured backup steps down, the configured primary stays', () => {
    const promoted = new RoleMachine('backup', 1);
    promoted.onProbe(false);
    expect(promoted.role).toBe('primary');
    expect(promoted.onLinkUp('primary').map((e) => e.id)).toEqual(['HA-001', 'HA-006']);
    expect(promoted.role).toBe('backup');
    const primary = new RoleMachine('primary', 1);
    primary.onLinkUp('backup'); // they were a pair before the partition
    primary.onLinkDown();
    expect(primary.onLinkUp('primary').map((e) => e.id)).toEqual(['HA-001']);
    expect(primary.role).toBe('primary');
  });
});

describe('role machine - restarts', () => {
  it('role - a configured primary that starts and finds its peer already primary joins as backup; later both-primary is a healed partition', () => {
    const restarted = new RoleMachine('primary', 3);
    expect(restarted.onLinkUp('primary').map((e) => e.id)).toEqual(['HA-001', 'HA-010']);
    expect(restarted.role).toBe('backup');
    const primary = new RoleMachine('primary', 3);
    primary.onLinkUp('backup');
    primary.onLinkDown();
    expect(primary.onLinkUp('primary').map((e) => e.id)).toEqual(['HA-001']); // the peer (configured backup) steps down
    expect(primary.role).toBe('primary');
  });
});
