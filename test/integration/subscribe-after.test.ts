import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ErrorCode, type HistoryLogExpiredMessage } from '../../protocol/index.js';
import { ClientCore } from '../../src/client/client-core.js';
import type { CfgClient } from '../../src/client/client.js';
import type { MasterServer } from '../../src/master/master-server.js';
import { ADMIN_PASSWORD, adminClient, startTestMaster } from '../helpers/master.js';
import { until } from '../helpers/until.js';

let master: MasterServer;
let cleanup: () => Promise<void>;
const toClose: Array<{ close(): Promise<void> }> = [];

beforeEach(async () => {
  ({ master, cleanup } = await startTestMaster());
});

afterEach(async () => {
  await Promise.all(toClose.splice(0).map((c) => c.close()));
  await cleanup();
});

/** The package's own connection core: Subscribe{afterSeq} is what the proxy's link to its master says. */
async function follower(): Promise<ClientCore> {
  const core = await ClientCore.connect({ endpoints: `127.0.0.1:${master.port}`, user: 'admin', password: ADMIN_PASSWORD, reconnect: false });
  toClose.push(core);
  return core;
}

async function writer(): Promise<CfgClient> {
  const client = await adminClient(master.port);
  toClose.push(client);
  return client;
}

describe('Subscribe{afterSeq} [PROTO-SUB-5]', () => {
  it('subscribe after - what came after the seq is replayed, then the live stream follows: every change once, in order, none before it', async () => {
    const w = await writer();
    const reader = await follower();
    const from = master.source.appliedSeq(); // where a snapshot read now would stand
    const missed: number[] = [];
    for (let i = 0; i < 5; i += 1) missed.push((await w.create({ type: 'Skill', name: `missed-${i}`, tenant: 1 })).seq);
    await w.create({ type: 'Folder', name: 'not-a-skill', tenant: 1 }); // outside the filter
    const seen: number[] = [];
    reader.on('notification', (change) => seen.push(change.seq));
    await reader.subscribeAfter({ type: 'Skill' }, from, master.db.lineage);
    const live = (await w.create({ type: 'Skill', name: 'live', tenant: 1 })).seq;
    await until(() => seen.includes(live), 5000, 'the live change');
    expect(seen).toEqual([...missed, live]);
    expect(reader.lastSeq).toBe(live);
  });

  it('subscribe after - refused as a second subscription or behind the session\'s position (INVALID_MESSAGE); another lineage, or a seq ahead of the server, is answered with HistoryLogExpired', async () => {
    const first = await follower();
    await first.subscribe({ type: 'DN' });
    await expect(first.subscribeAfter({ type: 'Skill' }, master.source.appliedSeq(), master.db.lineage)).rejects.toMatchObject({ code: ErrorCode.INVALID_MESSAGE });

    const w = await writer();
    const late = await follower(); // its session starts at the server's seq now
    await w.create({ type: 'Skill', name: 'after-register', tenant: 1 });
    await expect(late.subscribeAfter({}, 0, master.db.lineage)).rejects.toMatchObject({ code: ErrorCode.INVALID_MESSAGE, message: expect.stringMatching(/behind this session's position/) });

    for (const [what, seq, lineage] of [
      ['another lineage', master.source.appliedSeq(), { id: 'another-database', generation: 1 }],
      ['a seq ahead of the server', master.source.appliedSeq() + 100, master.db.lineage],
    ] as const) {
      const reader = await follower();
      const reset = new Promise<HistoryLogExpiredMessage>((resolve) => reader.once('reset', resolve));
      await reader.subscribeAfter({}, seq, lineage);
      const expired = await reset;
      expect(expired, what).toMatchObject({ lastSeq: seq, seq: master.source.appliedSeq(), lineage: master.db.lineage });
    }
  });
});
