import { pino, type Logger, type LevelWithSilent } from 'pino';
import pretty from 'pino-pretty';

export type { Logger };

export interface LoggerOptions {
  level?: LevelWithSilent;
  /** Pretty, colored lines instead of JSON; defaults to whether stderr is a terminal. */
  pretty?: boolean;
  name?: string;
}

/** JSON logs on stderr (stdout stays free for command output); pretty on a terminal. */
export function createLogger(options: LoggerOptions = {}): Logger {
  const level = options.level ?? ((process.env.CFGPROXY_LOG_LEVEL as LevelWithSilent | undefined) ?? 'info');
  const usePretty = options.pretty ?? process.stderr.isTTY === true;
  const destination = usePretty
    ? pretty({ destination: 2, colorize: true, translateTime: 'HH:MM:ss.l', ignore: 'pid,hostname', sync: true })
    : pino.destination({ dest: 2, sync: true });
  return pino({ level, name: options.name, base: undefined }, destination);
}

/** A logger that drops everything: the default for embedded servers and tests. */
export const silentLogger: Logger = pino({ level: 'silent' });
