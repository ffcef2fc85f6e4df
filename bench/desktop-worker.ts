/**
 * A bench:desktops worker process: agent desktops, each logged in with its own account and
 * subscribed to its own person, place, DN and agent login and to its tenant's skills. It counts
 * the notifications each phase brings and their commit-to-desktop latency (`Date.now() - at`).
 */
import { connect, type CfgClient, type Notification } from '../src/client/index.js';
import { desktopObjects, type DesktopLayout } from './desktop-layout.js';

interface Start extends DesktopLayout {
  type: 'start';
  port: number;
  first: number;
  count: number;
  password: string;
  rampMs: number;
}

export type DesktopMessage = { type: 'ready'; failed: number; firstError?: string } | { type: 'phase'; deliveries: number; latenciesMs: number[]; lastAt: number };

process.once('disconnect', () => process.exit(0));
const clients: CfgClient[] = [];
let latencies: number[] = [];
let deliveries = 0;
let lastAt = 0;

process.on('message', (message: Start | { type: 'phase-end' } | { type: 'stop' }) => {
  if (message.type === 'start') void start(message);
  else if (message.type === 'phase-end') {
    process.send!({ type: 'phase', deliveries, latenciesMs: latencies, lastAt } satisfies DesktopMessage);
    latencies = [];
    deliveries = 0;
    lastAt = 0;
  } else void Promise.all(clients.map((client) => client.close())).then(() => process.exit(0));
});

async function start(message: Start): Promise<void> {
  let failed = 0;
  let firstError: string | undefined;
  await Promise.all(
    Array.from({ length: message.count }, async (_, k) => {
      const desktop = message.first + k;
      await new Promise((resolve) => setTimeout(resolve, (message.rampMs * k) / message.count));
      const objects = desktopObjects(message, desktop);
      for (let attempt = 1; attempt <= 20; attempt += 1) {
        try {
          const client = await connect({ endpoints: `127.0.0.1:${message.port}`, user: `agent-${desktop}`, password: message.password, clientName: `desktop-${desktop}`, requestTimeoutMs: 120_000 });
          client.on('notification', (n: Notification) => {
            const now = Date.now();
            deliveries += 1;
            latencies.push(now - n.at);
            lastAt = Math.max(lastAt, now);
          });
          await client.subscribe({ type: 'Person', dbid: objects.person });
          await client.subscribe({ type: 'Place', dbid: objects.place });
          await client.subscribe({ type: 'DN', dbid: objects.dn });
          await client.subscribe({ type: 'AgentLogin', dbid: objects.agentLogin });
          await client.subscribe({ type: 'Skill', tenant: objects.tenant });
          clients.push(client);
          return;
        } catch (error) {
          firstError ??= (error as Error).message;
          await new Promise((resolve) => setTimeout(resolve, 200 * attempt));
        }
      }
      failed += 1;
    }),
  );
  process.send!({ type: 'ready', failed, ...(firstError ? { firstError } : {}) } satisfies DesktopMessage);
}
