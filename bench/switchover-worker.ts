/**
 * A switchover bench worker: N SDK clients subscribed to Skill changes through a pair, each
 * recording what it receives and when it was restored after losing its proxy.
 */
import { connect, type CfgClient, type Notification } from '../src/client/index.js';

interface Start { endpoints: string[]; count: number; password: string }

process.once('message', async (start: Start) => {
  const clients: CfgClient[] = [];
  const seqs: number[][] = [];
  const restoredAt: number[] = [];
  const disconnectedAt: number[] = [];
  let resets = 0;
  let notRestored = 0;
  for (let i = 0; i < start.count; i += 1) {
    const client = await connect({ endpoints: start.endpoints, user: 'admin', password: start.password, clientName: `switchover-${process.pid}-${i}` });
    const mine: number[] = [];
    seqs.push(mine);
    client.on('notification', (n: Notification) => mine.push(n.seq));
    client.on('reset', () => (resets += 1));
    client.on('disconnected', () => (disconnectedAt[i] = Date.now()));
    client.on('connected', ({ restored }: { restored: boolean }) => {
      restoredAt[i] = Date.now();
      if (!restored) notRestored += 1;
    });
    await client.subscribe({ type: 'Skill' });
    clients.push(client);
  }
  process.send!({ type: 'ready' });
  process.on('message', (message: { type: string; committed?: number[] }) => {
    if (message.type === 'report') {
      const committed = message.committed ?? [];
      const committedSet = new Set(committed);
      let lost = 0;
      let duplicated = 0;
      let complete = 0;
      for (const mine of seqs) {
        const seen = new Set<number>();
        for (const seq of mine) if (seen.has(seq)) duplicated += 1;
        else seen.add(seq);
        for (const seq of committed) if (!seen.has(seq)) lost += 1;
        if (mine.filter((s) => committedSet.has(s)).length === committed.length) complete += 1;
      }
      process.send!({ type: 'report', restoredAt, disconnectedAt, resets, notRestored, lost, duplicated, complete });
    }
    if (message.type === 'stop') process.exit(0);
  });
});
