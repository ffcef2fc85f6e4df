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
  return pino({ level, name: options.name, base: undefined, hooks: { logMethod: rememberEvents } }, destination);
}

/** A logged event, as the status page lists it. */
export interface LoggedEvent {
  time: string;
  level: number;
  event: string;
  msg: string;
}

const RECENT_EVENTS = 50;
const recent: LoggedEvent[] = [];

/** The newest log lines that carry a stable event id (HA-004, MASTER-002…), newest last. */
export function recentEvents(): readonly LoggedEvent[] {
  return recent;
}

function rememberEvents(this: Logger, args: unknown[], method: (...args: unknown[]) => void, level: number): void {
  const [fields, msg] = args;
  if (fields !== null && typeof fields === 'object' && typeof (fields as { event?: unknown }).event === 'string') {
    recent.push({ time: new Date().toISOString(), level, event: (fields as { event: string }).event, msg: typeof msg === 'string' ? msg : '' });
    if (recent.length > RECENT_EVENTS) recent.shift();
  }
  method.apply(this, args);
}

/** A logger that drops everything: the default for embedded servers and tests. */
export const silentLogger: Logger = pino({ level: 'silent' });
