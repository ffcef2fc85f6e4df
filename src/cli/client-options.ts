import { Command } from 'commander';
import { ClientCore, type CoreOptions } from '../client/client-core.js';
import { MASTER_DEFAULTS } from '../master/master-server.js';
import { UsageError } from './exit-codes.js';

export interface ClientFlags {
  server: string;
  user?: string;
  password?: string;
  tls?: boolean;
  tlsCa?: string;
  tlsCert?: string;
  tlsKey?: string;
  insecure?: boolean;
  json?: boolean;
}

export function withClientOptions(command: Command): Command {
  return command
    .option('-s, --server <endpoints>', 'host:port or tls://host:port, comma-separated for failover', process.env.CFGPROXY_SERVER ?? `127.0.0.1:${MASTER_DEFAULTS.port}`)
    .option('-u, --user <name>', 'user name (or CFGPROXY_USER)')
    .option('-p, --password <password>', 'password (or CFGPROXY_PASSWORD)')
    .option('--tls', 'connect with TLS')
    .option('--tls-ca <file>', 'CA certificate to verify the server with')
    .option('--tls-cert <file>', 'client certificate to present (a server started with --tls-verify-client asks for one)')
    .option('--tls-key <file>', 'private key of --tls-cert')
    .option('--insecure', 'do not verify the server certificate')
    .option('--json', 'print JSON');
}

/**
 * Connect options from the flags and the environment. Without a password on a terminal the CLI
 * asks for it (not echoed); elsewhere missing credentials are a usage error.
 */
export async function connectOptions(flags: ClientFlags): Promise<CoreOptions> {
  const user = flags.user ?? process.env.CFGPROXY_USER;
  let password = flags.password ?? process.env.CFGPROXY_PASSWORD;
  if (user && password === undefined && process.stdin.isTTY && process.stderr.isTTY) password = await askPassword(`password for ${user}: `);
  if (!user || password === undefined) throw new UsageError('credentials needed: --user/--password or CFGPROXY_USER/CFGPROXY_PASSWORD');
  if (Boolean(flags.tlsCert) !== Boolean(flags.tlsKey)) throw new UsageError('--tls-cert and --tls-key go together');
  const tls = flags.tls || flags.tlsCa || flags.tlsCert || flags.insecure ? { ca: flags.tlsCa, cert: flags.tlsCert, key: flags.tlsKey, insecure: flags.insecure } : undefined;
  return { endpoints: flags.server, user, password, tls, clientName: 'cfgproxy-cli', clientType: 'cli' };
}

/** A one-shot client: a lost connection fails the command instead of retrying. */
export async function openClient(flags: ClientFlags): Promise<ClientCore> {
  return ClientCore.connect({ ...(await connectOptions(flags)), reconnect: false });
}

/** Reads a line from the terminal without echoing it. */
function askPassword(prompt: string): Promise<string> {
  const input = process.stdin;
  // Echo off before the prompt shows: whatever is typed once it is visible is never echoed.
  input.setRawMode(true);
  input.setEncoding('utf8');
  input.resume();
  process.stderr.write(prompt);
  return new Promise((resolve, reject) => {
    let typed = '';
    const done = (): void => {
      input.off('data', onData);
      input.setRawMode(false);
      input.pause();
      process.stderr.write('\n');
    };
    const onData = (chunk: string): void => {
      for (const character of chunk) {
        if (character === '\r' || character === '\n') {
          done();
          return resolve(typed);
        }
        if (character === '\u0003') {
          done();
          return reject(new UsageError('cancelled'));
        }
        typed = character === '\u007f' || character === '\b' ? typed.slice(0, -1) : typed + character;
      }
    };
    input.on('data', onData);
  });
}
