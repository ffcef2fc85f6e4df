import { Command, CommanderError } from 'commander';
import { CfgError } from '../../protocol/index.js';
import { SetupError } from '../util/setup-error.js';
import { SOFTWARE_VERSION } from '../util/version.js';
import { addDataCommands } from './data-commands.js';
import { EXIT, UsageError } from './exit-codes.js';
import { addPairCommands } from './pair-commands.js';
import { addServerCommands } from './server-commands.js';

// `cfgproxy get … | head` closes stdout early; that is not an error.
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code === 'EPIPE') process.exit(0);
  throw error;
});

const program = new Command('cfgproxy')
  .description('cfgproxy: configuration master, proxy and client tools')
  .version(SOFTWARE_VERSION)
  .option('--config <file>', "read a server's options from a YAML or JSON file (keys: its long options); the command line and CFGPROXY_* variables win over it")
  .option('--log-level <level>', 'trace, debug, info, warn, error or silent (or CFGPROXY_LOG_LEVEL)', 'info')
  .showHelpAfterError()
  // Commander's own usage errors (missing argument, unknown option or command) come back as
  // errors, so they exit with the usage code like ours; subcommands inherit it.
  .exitOverride();

addServerCommands(program);
addPairCommands(program);
addDataCommands(program);

program.parseAsync(process.argv).catch((error: unknown) => {
  if (error instanceof CommanderError) {
    // Commander printed the message (and the help) already; --help and --version end with 0.
    process.exit(error.exitCode === 0 ? EXIT.ok : EXIT.usage);
  }
  if (error instanceof UsageError || error instanceof SetupError) {
    process.stderr.write(`cfgproxy: ${error.message}\n`);
    process.exit(EXIT.usage);
  }
  if (error instanceof CfgError) {
    // Exit 3: no session could be had (refused logins, a server that may be an impostor, no server).
    const CANNOT_LOG_IN: ReadonlySet<string> = new Set(['CONNECTION_LOST', 'AUTH_FAILED', 'AUTH_UNAVAILABLE', 'TLS_REQUIRED', 'LOGIN_THROTTLED', 'WEAK_CHALLENGE']);
    process.stderr.write(`cfgproxy: ${error.code}: ${error.message}\n`);
    process.exit(CANNOT_LOG_IN.has(error.code) ? EXIT.connection : EXIT.refused);
  }
  process.stderr.write(`cfgproxy: ${(error as Error).message}\n`);
  process.exit(EXIT.refused);
});
