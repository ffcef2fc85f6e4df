/**
 * A bench:storm worker process: agent desktops starting at the beginning of a shift. Each client
 * starts at its moment of the ramp, connects with its own account (SDK: LoginStart, Register with
 * the proof), reads its tenant's DNs, agent logins and places, and subscribes to changes of
 * them. A client the server refuses (too many logins at once) retries with backoff, as the SDK's
 * applications do. It reports per-client times from its start: registered, read, served.
 */
import { backoffDelayMs } from '../src/client/backoff.js';
import { connect, type CfgClient } from '../src/client/index.js';

interface Start {
  port: number;
  /** Accounts `agent-<first>` … `agent-<first + count - 1>`; agent i is in tenant `tenantOf(i)`. */
  first: number;
  count: number;
  tenants: number;
  tenantBase: number;
  password: string;
  /** Spread the starts evenly over this long. */
  rampMs: number;
  login: 'proof' | 'password';
}

export interface StormReport {
  type: 'report';
  served: number;
  failed: number;
  retries: number;
  registeredMs: number[];
  readMs: number[];
  servedMs: number[];
  objectsRead: number;
  firstError?: string;
}

// A bench that ended however it did takes its workers with it.
process.once('disconnect', () => process.exit(0));
process.once('message', (start: Start) => void run(start));

async function run(start: Start): Promise<void> {
  const report: StormReport = { type: 'report', served: 0, failed: 0, retries: 0, registeredMs: [], readMs: [], servedMs: [], objectsRead: 0 };
  const clients: CfgClient[] = [];
  const begin = performance.now();
  const desktops = Array.from({ length: start.count }, async (_, k) => {
    const agent = start.first + k;
    await new Promise((resolve) => setTimeout(resolve, (start.rampMs * k) / start.count));
    const startedAt = performance.now();
    const tenant = start.tenantBase + (agent % start.tenants);
    for (let attempt = 1; ; attempt += 1) {
      try {
        const client = await connect({ endpoints: `127.0.0.1:${start.port}`, user: `agent-${agent}`, password: start.password, clientName: `desktop-${agent}`, login: start.login, requestTimeoutMs: 120_000 });
        clients.push(client);
        report.registeredMs.push(performance.now() - startedAt);
        for (const type of ['DN', 'AgentLogin', 'Place'] as const) {
          const objects = await client.readAll(type, { tenant }); // not `+= await`: the sum would be read before the wait
          report.objectsRead += objects.length;
        }
        report.readMs.push(performance.now() - startedAt);
        await client.subscribe({ type: 'DN', tenant });
        await client.subscribe({ type: 'AgentLogin', tenant });
        await client.subscribe({ type: 'Place', tenant });
        report.servedMs.push(performance.now() - startedAt);
        report.served += 1;
        return;
      } catch (error) {
        report.firstError ??= (error as Error).message;
        if (attempt >= 20) {
          report.failed += 1;
          return;
        }
        report.retries += 1;
        await new Promise((resolve) => setTimeout(resolve, backoffDelayMs(attempt)));
      }
    }
  });
  await Promise.all(desktops);
  process.send!({ ...report, wallMs: performance.now() - begin });
  process.on('message', (message: { type: string }) => {
    if (message.type === 'stop') void Promise.all(clients.map((client) => client.close())).then(() => process.exit(0));
  });
}
