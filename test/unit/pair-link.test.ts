import { afterEach, describe, expect, it } from 'vitest';
import { ErrorCode, HaKind, Kind, validateHaMessage, type HaMessage, type JournalPosition, type JournalRecord } from '../../protocol/index.js';
import { Journal } from '../../src/ha/journal.js';
import { PairLink, type JournalTraffic, type PairLinkHost } from '../../src/ha/pair-link.js';
import type { PeerStatus } from '../../src/ha/pair-machine.js';
import { Connection } from '../../src/net/connection.js';
import { silentLogger } from '../../src/util/logger.js';
import { socketPair } from '../helpers/socket-pair.js';

const cleanups: Array<() => void> = [];
afterEach(() => {
  for (const cleanup of cleanups.splice(0).reverse()) cleanup();
});

/** Two HA connections over a real loopback socket. */
async function connectionPair(): Promise<[Connection<HaMessage>, Connection<HaMessage>]> {
  const { server, client } = await socketPair(cleanups);
  return [new Connection<HaMessage>(server, { validate: validateHaMessage }), new Connection<HaMessage>(client, { validate: validateHaMessage })];
}

/** A pair member as the link sees it: its role, journal and what reached it. */
class Host implements PairLinkHost {
  readonly journal = new Journal(1000);
  readonly traffic: JournalTraffic = { recordsSent: 0, bytesSent: 0, recordsReceived: 0, bytesReceived: 0, snapshots: 0, ackedUpTo: 0 };
  readonly settings = { chunkSize: 2, chunkTimeoutMs: 5, maxSessionsSyncAtOnce: 1000, addpTimeoutMs: 10_000 };
  readonly logger = silentLogger;
  received: JournalPosition | undefined;
  readonly records: JournalRecord[] = [];
  readonly statuses: PeerStatus[] = [];
  readonly asked: number[] = [];
  readonly requests: string[] = [];
  closed: string | undefined;
  sessions: Array<Extract<JournalRecord, { k: 'open' }>> = [];
  private waiters: Array<() => void> = [];

  constructor(public currentRole: 'primary' | 'backup') {}

  role(): 'primary' | 'backup' {
    return this.currentRole;
  }
  onPeerStatus(status: PeerStatus): void {
    this.statuses.push(status);
    this.wake();
  }
  sessionsSnapshot(): Array<Extract<JournalRecord, { k: 'open' }>> {
    return this.sessions;
  }
  onRecords(records: JournalRecord[]): void {
    this.records.push(...records);
    this.wake();
  }
  onTakeOverAsked(seq: number): void {
    this.asked.push(seq);
    this.wake();
  }
  onLinkClosed(_link: PairLink, reason: string): void {
    this.closed = reason;
    this.wake();
  }
  onPeerRequest(request: 'take-back' | 'backup-reloaded'): void {
    this.requests.push(request);
    this.wake();
  }

  /** Resolves once `done()` holds, checked at each thing that reaches this host. */
  until(done: () => boolean): Promise<void> {
    if (done()) return Promise.resolve();
    return new Promise((resolve) => {
      const check = (): void => (done() ? resolve() : void this.waiters.push(check));
      this.waiters.push(check);
    });
  }

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const waiter of waiters) waiter();
  }
}

async function linkedPair(): Promise<{ primary: Host; backup: Host; primaryLink: PairLink; backupLink: PairLink }> {
  const [a, b] = await connectionPair();
  const primary = new Host('primary');
  const backup = new Host('backup');
  const primaryLink = new PairLink(a, primary, undefined, '127.0.0.1:2');
  const backupLink = new PairLink(b, backup, undefined, '127.0.0.1:1');
  cleanups.push(() => {
    primaryLink.close('test over');
    backupLink.close('test over');
  });
  return { primary, backup, primaryLink, backupLink };
}

const open = (id: string): Extract<JournalRecord, { k: 'open' }> => ({ r: 0, k: 'open', id, person: 1, clientName: id, clientType: 'agent', subs: [], pos: 0 });

describe('pair link', () => {
  it('pair link - the primary streams a sessions snapshot, then its journal in acknowledged chunks; the backup stores it and knows how far it got', async () => {
    const { primary, backup, primaryLink } = await linkedPair();
    primary.sessions = [open('s1'), open('s2'), open('s3')];
    primary.journal.append({ k: 'close', id: 'old' }); // before the link: covered by the snapshot
    primaryLink.startSending();
    for (const id of ['x', 'y', 'z']) primary.journal.append({ k: 'close', id });
    await backup.until(() => backup.records.length === 7);
    expect(backup.records.map((r) => `${r.k}@${r.r}`)).toEqual(['reset@1', 'open@1', 'open@1', 'open@1', 'close@2', 'close@3', 'close@4']);
    expect(backup.received).toEqual({ journalId: primary.journal.id, lastRecord: 4 });
    await new Promise<void>((resolve) => {
      const wait = (): void => (primary.traffic.ackedUpTo === 4 ? resolve() : void setImmediate(wait));
      wait();
    });
    expect(primary.traffic).toMatchObject({ recordsSent: 7, snapshots: 1, ackedUpTo: 4 });
    expect(backup.traffic.recordsReceived).toBe(7);
  });

  it('pair link - a new link resumes after what the backup received; a ring that moved past it sends a snapshot instead', async () => {
    const [a, b] = await connectionPair();
    const primary = new Host('primary');
    const backup = new Host('backup');
    for (const id of ['a', 'b', 'c']) primary.journal.append({ k: 'close', id });
    backup.received = { journalId: primary.journal.id, lastRecord: 2 };
    const primaryLink = new PairLink(a, primary, backup.received, 'b');
    const backupLink = new PairLink(b, backup, undefined, 'a');
    cleanups.push(() => {
      primaryLink.close('over');
      backupLink.close('over');
    });
    primaryLink.startSending();
    await backup.until(() => backup.records.length === 1);
    expect(backup.records).toEqual([{ r: 3, k: 'close', id: 'c' }]);
    expect(primary.traffic.snapshots).toBe(0);
  });

  it('pair link - a primary applies no records from its peer, and a stream that skips a record is dropped with SEQ_GAP before anything of it is stored', async () => {
    const [a, b] = await connectionPair();
    const primary = new Host('primary');
    const link = new PairLink(a, primary, undefined, 'b');
    cleanups.push(() => link.close('over'));
    b.setHandler({ onMessage: () => undefined, onInvalidMessage: () => undefined, onClose: () => undefined });
    b.send({ kind: HaKind.Records, records: [{ r: 1, k: 'close', id: 'forged' }] });
    const backup = new Host('backup');
    const [c, d] = await connectionPair();
    const backupLink = new PairLink(c, backup, undefined, 'a');
    const closedBy = new Promise<string | undefined>((resolve) => d.setHandler({ onMessage: (m) => m.kind === Kind.Error && resolve(m.code), onInvalidMessage: () => undefined, onClose: () => resolve(undefined) }));
    d.send({ kind: HaKind.StreamStart, journalId: 'j', resumed: false });
    d.send({ kind: HaKind.Records, records: [{ r: 1, k: 'close', id: 'a' }, { r: 3, k: 'close', id: 'b' }] });
    expect(await closedBy).toBe(ErrorCode.SEQ_GAP);
    await backup.until(() => backup.closed !== undefined);
    expect(backup.records).toEqual([]);
    expect(primary.records).toEqual([]); // the primary stored none of the forged record
    expect(backupLink.isOpen).toBe(false);
  });

  it('pair link - a switchover request reaches the backup, whose answer settles it: done, refused, no answer in time, or the link closing', async () => {
    const { primary, backup, primaryLink, backupLink } = await linkedPair();
    const first = primaryLink.requestSwitchover(42, 5_000);
    await backup.until(() => backup.asked.length === 1);
    expect(backup.asked).toEqual([42]);
    backupLink.replyTakeOver({ ok: true, message: 'took over' });
    expect(await first).toEqual({ outcome: 'done', message: 'took over' });
    const second = primaryLink.requestSwitchover(43, 5_000);
    await backup.until(() => backup.asked.length === 2);
    backupLink.replyTakeOver({ ok: false, message: 'did not reach seq 43 in time' });
    expect(await second).toEqual({ outcome: 'refused', message: 'did not reach seq 43 in time' });
    expect(await primaryLink.requestSwitchover(44, 50)).toEqual({ outcome: 'no-answer', message: 'the backup did not take over within 50 ms' });
    const last = primaryLink.requestSwitchover(45, 5_000);
    backupLink.close('gone');
    expect((await last).outcome).toBe('refused');
    await primary.until(() => primary.closed !== undefined);
  });

  it('pair link - the backup\'s Status, take-back and backup-reloaded reach the primary', async () => {
    const { primary, backupLink } = await linkedPair();
    backupLink.sendStatus({ loaded: true, appliedSeq: 9, acceptsClients: true, canReload: false });
    backupLink.notify('take-back');
    backupLink.notify({ reloadedAt: 9 });
    await primary.until(() => primary.requests.length === 2);
    expect(primary.statuses).toEqual([{ loaded: true, appliedSeq: 9, acceptsClients: true, canReload: false }]);
    expect(primary.requests).toEqual(['take-back', 'backup-reloaded']);
  });
});
