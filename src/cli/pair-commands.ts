import { Command } from 'commander';
import { AdminClient } from './admin-client.js';
import { EXIT } from './exit-codes.js';

/** The commands that read a server's admin port and act on a pair: status, ha switchover. */
export function addPairCommands(program: Command): void {
  program
    .command('status')
    .description("print a server's state from its admin port (a proxy: role, pair link, journal lag; a master: active or standby)")
    .option('--admin <host:port>', 'the admin HTTP port', '127.0.0.1:9031')
    .option('--json', 'print JSON')
    .action(async (flags: { admin: string; json?: boolean }) => {
      const admin = new AdminClient(flags.admin);
      const health = await admin.request('/health');
      const active = (await admin.request('/health/active')).status === 200;
      const pair = await admin.json<Record<string, unknown>>('/ha');
      const status = { serving: health.status === 200, active, ...(pair ? { pair } : {}) };
      if (flags.json) {
        process.stdout.write(`${JSON.stringify(status)}\n`);
        return;
      }
      const lines = [`serving: ${status.serving ? 'yes' : 'no'}   active: ${active ? 'yes' : 'no'}`];
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
      process.stdout.write(`${lines.join('\n')}\n`);
    });
  const ha = program.command('ha').description('warm-standby pair actions');
  ha.command('switchover')
    .description('hand the primary role to the backup gracefully (ask the primary\'s admin port)')
    .option('--admin <host:port>', "the primary's admin HTTP port", '127.0.0.1:9031')
    .option('--admin-token <token>', 'the admin token the proxy was started with (or CFGPROXY_ADMIN_TOKEN)')
    .option('--force', 'switch over even when the pair is not ready (the backup may be behind)')
    .action(async (flags: { admin: string; adminToken?: string; force?: boolean }) => {
      const token = flags.adminToken ?? process.env.CFGPROXY_ADMIN_TOKEN;
      const outcome = await new AdminClient(flags.admin).act(`/ha/switchover${flags.force ? '?force=1' : ''}`, token);
      process.stdout.write(`${outcome.ok ? 'switched over' : 'switchover refused'}: ${outcome.message}\n`);
      if (!outcome.ok) process.exitCode = EXIT.refused;
    });
}
