import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { createInterface } from 'node:readline';

const CLI = new URL('../../bin/cfgproxy.js', import.meta.url).pathname;

/** Child processes a test started; `killAll` in afterEach. */
export const children: ChildProcess[] = [];

export function killAll(): void {
  for (const child of children.splice(0)) child.kill('SIGKILL');
}

export type LogLine = Record<string, unknown> & { msg: string };

/** A `cfgproxy` child process and its JSON log. */
export interface CliProcess {
  child: ChildProcess;
  lines: LogLine[];
  /** Resolves with the first log line (past or future) that satisfies `predicate`. */
  waitForLog(predicate: (line: LogLine) => boolean): Promise<LogLine>;
}

/** Runs `cfgproxy <args>` as a real process; resolves when a log line's msg is `readyMsg`. */
export async function startCli(args: string[], readyMsg: string, env: Record<string, string> = {}): Promise<CliProcess> {
  const child = spawn(process.execPath, [CLI, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
  children.push(child);
  const lines: LogLine[] = [];
  const waiters: Array<{ predicate: (line: LogLine) => boolean; resolve(line: LogLine): void }> = [];
  let exited: Error | null = null;
  const failures: Array<(error: Error) => void> = [];
  child.once('exit', (code, signal) => {
    exited = new Error(`cfgproxy ${args[0]} exited (${code ?? signal})`);
    for (const fail of failures.splice(0)) fail(exited);
  });
  createInterface({ input: child.stderr! }).on('line', (text) => {
    let line: LogLine;
    try {
      line = JSON.parse(text) as LogLine;
    } catch {
      return; // not a log line (a message printed once, e.g. a generated password)
    }
    lines.push(line);
    for (const waiter of waiters.filter((w) => w.predicate(line))) {
      waiters.splice(waiters.indexOf(waiter), 1);
      waiter.resolve(line);
    }
  });
  const waitForLog = (predicate: (line: LogLine) => boolean): Promise<LogLine> => {
    const seen = lines.find(predicate);
    if (seen) return Promise.resolve(seen);
    if (exited) return Promise.reject(exited);
    return new Promise((resolve, reject) => {
      waiters.push({ predicate, resolve });
      failures.push(reject);
    });
  };
  await waitForLog((line) => line.msg === readyMsg);
  return { child, lines, waitForLog };
}

/** Starts `cfgproxy master` and resolves with its port from the JSON log. */
export async function startMasterProcess(dbPath: string, password: string, port = 0): Promise<{ child: ChildProcess; port: number }> {
  const master = await startCli(['master', '--db', dbPath, '--port', String(port)], 'master listening', { CFGPROXY_ADMIN_PASSWORD: password });
  return { child: master.child, port: master.lines.find((l) => l.msg === 'master listening')!.port as number };
}

export function killed(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once('exit', () => resolve());
    child.kill('SIGKILL');
  });
}

/** A port that was free a moment ago, for a server that must come back on the same port. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}
