import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { encodeFrame, FrameDecoder, Kind, validateMessage, type Message, type NotificationFilter, type ObjectType, type PermissionGrant } from '../../protocol/index.js';
import type { ChangeRecord } from '../../src/model/change.js';
import { Principal } from '../../src/model/permissions.js';
import { FanOut } from '../../src/service/fan-out.js';
import { InterestIndex } from '../../src/service/interest-index.js';
import { SessionRegistry } from '../../src/service/session-registry.js';
import { ClientSession } from '../../src/service/session.js';

/** A session registers, then joins its audience, as ConfigService does. */
function join(registry: SessionRegistry, fanOut: FanOut, session: ClientSession): void {
  registry.add(session);
  fanOut.regroup(session);
}

const TYPES: ObjectType[] = ['DN', 'Person', 'Skill', 'Place'];
/** Folders 1–4 under 0, 5 under 1: a grant on folder 1 covers 5. */
const parentOf = (folder: number): number | undefined => (folder === 5 ? 1 : folder === 0 ? undefined : 0);

/**
 * A session as the fan-out sees it: the real rule for what it receives (ClientSession's `view`,
 * over its subscriptions and principal), and a socket that keeps what it is written.
 */
function fakeSession(filters: NotificationFilter[], principal: Principal): ClientSession & { received: Array<[number, boolean]> } {
  const received: Array<[number, boolean]> = [];
  const decoder = new FrameDecoder<Message>({
    onMessage: (m) => received.push([(m as { seq: number }).seq, (m as { outOfView?: boolean }).outOfView === true]),
    onInvalidMessage: () => undefined,
    onProtocolError: () => undefined,
  }, undefined, validateMessage as (body: unknown) => Message);
  const session = Object.create(ClientSession.prototype) as ClientSession & { received: Array<[number, boolean]> };
  Object.assign(session, {
    state: 'active',
    catchingUp: false,
    isProxy: false,
    lastDeliveredSeq: 0,
    subscriptions: new Map(filters.map((f) => [JSON.stringify(f), f])),
    received,
    connection: { writeFrame: (bytes: Buffer) => (decoder.push(bytes), true) },
  });
  Object.defineProperty(session, 'principal', { value: principal });
  return session;
}

const filter = fc.record({ type: fc.constantFrom(...TYPES), dbid: fc.integer({ min: 1, max: 12 }), tenant: fc.integer({ min: 1, max: 3 }), folder: fc.integer({ min: 0, max: 5 }) }, { requiredKeys: [] });
const grant = fc.oneof(
  fc.record({ on: fc.constant('type' as const), target: fc.constantFrom(...TYPES), access: fc.constant('read' as const) }),
  fc.record({ on: fc.constant('tenant' as const), target: fc.integer({ min: 1, max: 3 }), access: fc.constant('read' as const) }),
  fc.record({ on: fc.constant('folder' as const), target: fc.integer({ min: 1, max: 5 }), access: fc.constant('read' as const) }),
);
const placement = fc.record({ tenant: fc.integer({ min: 1, max: 3 }), folder: fc.integer({ min: 0, max: 5 }) });
const change = fc.record({ type: fc.constantFrom(...TYPES), dbid: fc.integer({ min: 1, max: 12 }), at: placement, moved: fc.option(placement, { nil: undefined }) });

describe('fan-out by interest [ARCH-4]', () => {
  it('fan-out - for random subscriptions, permission views and changes, the interest index delivers exactly what asking every session delivers, in seq order, once', () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ filters: fc.array(filter, { minLength: 1, maxLength: 4 }), admin: fc.boolean(), grants: fc.array(grant, { maxLength: 3 }) }), { minLength: 1, maxLength: 12 }),
        fc.array(change, { minLength: 1, maxLength: 30 }),
        (specs, changes) => {
          const registry = new SessionRegistry();
          const fanOut = new FanOut(registry, parentOf, () => 0);
          const sessions = specs.map((spec, i) => fakeSession(spec.filters, new Principal(`u${i}`, i + 1, spec.admin, spec.grants as PermissionGrant[])));
          for (const session of sessions) join(registry, fanOut, session);
          const records: ChangeRecord[] = changes.map((c, i) => ({
            seq: i + 1,
            at: 1,
            op: 'updated',
            type: c.type,
            dbid: c.dbid,
            tenant: c.at.tenant,
            folder: c.at.folder,
            ...(c.moved ? { previous: c.moved } : {}),
            frame: encodeFrame({ kind: Kind.ObjectDeleted, seq: i + 1, at: 1, type: c.type, dbid: c.dbid }),
          }));
          records.forEach((record, i) => {
            fanOut.publish(record);
            if (i % 7 === 6) fanOut.flush(); // several turns
          });
          fanOut.flush();
          for (const session of sessions) {
            // The oracle: the old scan, each session asked about each change.
            const expected = records.flatMap((record): Array<[number, boolean]> => {
              const view = session.view(record, parentOf);
              return view ? [[record.seq, view === 'out-of-view']] : [];
            });
            expect(session.received).toEqual(expected);
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  it('fan-out - a change is offered only to the audiences whose filters may select it (type included), however many others there are', () => {
    const index = new InterestIndex<string>();
    for (let i = 1; i <= 20_000; i += 1) index.add(`desk-${i}`, [{ type: 'DN', dbid: i }]);
    index.add('skills', [{ type: 'Skill' }]);
    index.add('tenant-2', [{ tenant: 2 }]);
    index.add('everything', [{}]);
    const at = (dbid: number, type: ObjectType, tenant = 1, folder = 0): ChangeRecord => ({ seq: 1, at: 0, op: 'updated', type, dbid, tenant, folder, frame: Buffer.alloc(0) });
    expect([...index.candidates(at(7, 'DN'))].sort()).toEqual(['desk-7', 'everything']);
    // dbids count per type: Skill 7 is not DN 7.
    expect([...index.candidates(at(7, 'Skill', 2))].sort()).toEqual(['everything', 'skills', 'tenant-2']);
    // A desktop's filter on its tenant's skills is not asked about the tenant's DNs.
    index.add('tenant-3-skills', [{ type: 'Skill', tenant: 3 }]);
    expect([...index.candidates(at(8, 'DN', 3))].sort()).toEqual(['desk-8', 'everything']);
    expect([...index.candidates(at(9, 'Skill', 3))].sort()).toEqual(['everything', 'skills', 'tenant-3-skills']);
    index.remove('desk-7');
    expect([...index.candidates(at(7, 'DN'))]).toEqual(['everything']);
  });
});

describe('positions [PROTO-SUB-4]', () => {
  it('fan-out - a position sweep over 1,200 idle sessions runs in slices: each session is told once, after any change pending for it, and a change published between slices reaches its subscriber first', async () => {
    const admin = new Principal('admin', 1, true, []);
    const registry = new SessionRegistry();
    const fanOut = new FanOut(registry, parentOf, () => 0);
    const sessions = Array.from({ length: 1200 }, (_, i) => fakeSession([{ type: 'DN', dbid: i + 1 }], admin));
    for (const session of sessions) join(registry, fanOut, session);
    const change = (seq: number, dbid: number): ChangeRecord => ({ seq, at: 1, op: 'updated', type: 'DN', dbid, tenant: 1, folder: 0, frame: encodeFrame({ kind: Kind.ObjectDeleted, seq, at: 1, type: 'DN', dbid }) });
    fanOut.publish(change(1, 1)); // pending for session 1 when the sweep starts
    fanOut.announcePosition(1, undefined);
    // The first slice ran at once; the last session is told later.
    expect(sessions[0]!.received).toEqual([[1, false]]);
    expect(sessions[1]!.received).toEqual([[1, false]]);
    expect(sessions[1199]!.received).toEqual([]);
    fanOut.publish(change(2, 1200));
    expect(fanOut.announcePosition(2, undefined)).toBe(false); // a sweep already runs: this one is not started
    await new Promise((resolve) => setTimeout(resolve, 20));
    // Session 1200: its change 2 first, then nothing older than what it already has.
    expect(sessions[1199]!.received).toEqual([[2, false]]);
    for (const session of sessions.slice(1, 1199)) expect(session.received).toEqual([[1, false]]);
    expect(sessions.every((s) => s.lastDeliveredSeq >= 1)).toBe(true);
  });
});
