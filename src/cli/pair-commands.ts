import { Command } from 'commander';
import { AdminClient } from './admin-client.js';
import { EXIT, UsageError } from './exit-codes.js';

/** The commands that read a server's admin port and act on a pair: status, ha switchover. */
export function addPairCommands(program: Command): void {
  program
    .command('status')
    .description("print a server's state from its admin port (a proxy: role, pair link, journal lag, pool; a master: active or standby); several, comma-separated, are checked as one pool")
    .option('--admin <host:port>', 'the admin HTTP port, or the ports of a pool\'s members, comma-separated', '127.0.0.1:9031')
    .option('--json', 'print JSON')
    .action(async (flags: { admin: string; json?: boolean }) => {
      const addresses = flags.admin.split(',').map((address) => address.trim()).filter(Boolean);
      const statuses = await Promise.all(addresses.map((address) => serverStatus(address)));
      const disagreements = poolDisagreements(addresses, statuses);
      if (flags.json) {
        const body = addresses.length === 1 ? statuses[0] : { servers: Object.fromEntries(addresses.map((address, i) => [address, statuses[i]])), disagreements };
        process.stdout.write(`${JSON.stringify(body)}\n`);
      } else {
        const blocks = statuses.map((status, i) => (addresses.length === 1 ? describeStatus(status) : `${addresses[i]}:\n${describeStatus(status).replace(/^/gm, '  ')}`));
        process.stdout.write(`${[...blocks, ...disagreements.map((line) => `POOL MISMATCH: ${line}`)].join('\n')}\n`);
      }
      if (disagreements.length > 0) process.exitCode = EXIT.refused;
    });
  const ha = program.command('ha').description('warm-standby pair actions');
  ha.command('switchover')
    .description('hand the primary role to the backup gracefully (ask the primary\'s admin port)')
    .option('--admin <host:port>', "the primary's admin HTTP port", '127.0.0.1:9031')
    .option('--admin-token <token>', 'the admin token the proxy was started with (or CFGPROXY_ADMIN_TOKEN)')
    .option('--force', 'switch over even when the pair is not ready (the backup may be behind)')
    .option('--wait-ready <seconds>', 'a pair not ready yet: wait up to this long, and switch over the moment it is (one step, no race)', '0')
    .action(async (flags: { admin: string; adminToken?: string; force?: boolean; waitReady: string }) => {
      const token = flags.adminToken ?? process.env.CFGPROXY_ADMIN_TOKEN;
      const waitSeconds = Number(flags.waitReady);
      if (!Number.isFinite(waitSeconds) || waitSeconds < 0 || waitSeconds > 300) throw new UsageError(`--wait-ready must be a number of seconds from 0 to 300 (got '${flags.waitReady}')`);
      const query = [flags.force ? 'force=1' : '', waitSeconds > 0 ? `waitReady=${Math.round(waitSeconds * 1000)}` : ''].filter(Boolean).join('&');
      const outcome = await new AdminClient(flags.admin).act(`/ha/switchover${query ? `?${query}` : ''}`, token);
      process.stdout.write(`${outcome.ok ? 'switched over' : 'switchover refused'}: ${outcome.message}\n`);
      if (!outcome.ok) process.exitCode = EXIT.refused;
    });
}

interface ServerStatus {
  serving: boolean;
  active: boolean;
  pair?: Record<string, unknown>;
  access?: { clientPort?: number; uiPort?: number; directories?: Record<string, string>; advertise?: string; pool?: { cluster: string; member: string } } | null;
}

async function serverStatus(address: string): Promise<ServerStatus> {
  const admin = new AdminClient(address);
  const health = await admin.request('/health');
  const active = (await admin.request('/health/active')).status === 200;
  const pair = await admin.json<Record<string, unknown>>('/ha');
  const full = await admin.json<{ access?: ServerStatus['access'] }>('/status');
  return { serving: health.status === 200, active, ...(pair ? { pair } : {}), access: full?.access ?? null };
}

function describeStatus(status: ServerStatus): string {
  const { pair, access } = status;
  const lines = [`serving: ${status.serving ? 'yes' : 'no'}   active: ${status.active ? 'yes' : 'no'}`];
  if (pair?.kind === 'master-pair') {
    lines.push(`master pair on ${String(pair.db)}: this master is ${String(pair.role)}, the active one at ${String(pair.activeMaster ?? 'unknown')}; seq ${String(pair.seq)}`);
  } else if (pair) {
    const journal = pair.journal as Record<string, number>;
    lines.push(
      `pair '${String(pair.pairName)}': role ${String(pair.role)} (configured ${String(pair.configuredRole)}), HA link ${String(pair.link)}${pair.peer ? ` to ${String(pair.peer)}` : ''}, primary at ${String(pair.primaryEndpoint)}`,
      `journal: last record ${journal.lastRecord}, lag ${journal.lag}; ready for switchover: ${String(pair.readyForSwitchover)}, ready for upgrade: ${String(pair.readyForUpgrade)}`,
    );
  } else {
    lines.push('not in a pair');
  }
  if (access?.pool) lines.push(`pool '${access.pool.cluster}': member '${access.pool.member}'${access.advertise ? `, clients reach the pool at ${access.advertise}` : ''}`);
  if (access?.uiPort !== undefined) lines.push(`UI port: ${access.uiPort}`);
  const directories = Object.entries(access?.directories ?? {});
  if (directories.length > 0) lines.push(`external logins: ${directories.map(([method, where]) => `${method} ${where}`).join('; ')}`);
  return lines.join('\n');
}

/**
 * Members behind one balancer address that would present different server identities [PROTO-POOL-1]:
 * a member told another --cluster-name (or none) than the others reached at the same address.
 */
export function poolDisagreements(addresses: readonly string[], statuses: readonly ServerStatus[]): string[] {
  const byBalancer = new Map<string, Array<{ address: string; cluster: string | undefined }>>();
  statuses.forEach((status, i) => {
    const balancer = status.access?.advertise;
    if (balancer === undefined) return;
    const members = byBalancer.get(balancer) ?? [];
    members.push({ address: addresses[i], cluster: status.access?.pool?.cluster });
    byBalancer.set(balancer, members);
  });
  const lines: string[] = [];
  for (const [balancer, members] of byBalancer) {
    const names = new Set(members.map((member) => member.cluster));
    if (members.length > 1 && names.size > 1) lines.push(`members behind ${balancer} name different pools: ${members.map((m) => `${m.address} says '${m.cluster ?? '(none)'}'`).join(', ')}`);
  }
  return lines;
}
