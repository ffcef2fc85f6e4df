import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';

/** One port picker for tests and benches. */
export { freePort } from '../../bench/support.js';
import { freePort } from '../../bench/support.js';

const CLI = new URL('../../bin/cfgproxy.js', import.meta.url).pathname;

/** Child processes a test started; `killAll` in afterEach. */
export const children: ChildProcess[] = [];
/** Children the test itself killed: their exit is no fault. */
const killedOnPurpose = new WeakSet<ChildProcess>();
/** What went wrong in a server process: an uncaught exception, a crash, an exit nobody asked for. */
const serverFaults: string[] = [];

export function killAll(): void {
  for (const child of children.splice(0)) {
    killedOnPurpose.add(child);
    child.kill('SIGKILL');
  }
}

/**
 * The faults server processes showed since the last call (an uncaught exception logged as FATAL or
 * printed as a stack trace, an exit the test did not cause). Scenario tests assert it is empty:
 * no server process may end on bad input, a full disk or a misbehaving peer.
 */
export function takeServerFaults(): string[] {
  return serverFaults.splice(0);
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
export async function startCli(args: string[], readyMsg: string, env: Record<string, string> = {}, options: { wrap?: string[] } = {}): Promise<CliProcess> {
  // `wrap`: a command that runs node for us (`prlimit --nofile=256 --`), for limits set from outside.
  const [command, ...prefix] = [...(options.wrap ?? []), process.execPath];
  const child = spawn(command, [...prefix, CLI, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
  children.push(child);
  const lines: LogLine[] = [];
  const waiters: Array<{ predicate: (line: LogLine) => boolean; resolve(line: LogLine): void }> = [];
  let exited: Error | null = null;
  const failures: Array<(error: Error) => void> = [];
  child.once('exit', (code, signal) => {
    exited = new Error(`cfgproxy ${args[0]} exited (${code ?? signal})`);
    if (!killedOnPurpose.has(child) && signal !== 'SIGTERM' && signal !== 'SIGINT' && code !== 0) serverFaults.push(`cfgproxy ${args[0]} exited on its own (${code ?? signal})`);
    for (const fail of failures.splice(0)) fail(exited);
  });
  createInterface({ input: child.stderr! }).on('line', (text) => {
    let line: LogLine;
    try {
      line = JSON.parse(text) as LogLine;
    } catch {
      // Not a log line (a message printed once, e.g. a generated password) — unless it is a stack trace.
      if (/^\s*at |Error:|Uncaught/.test(text)) serverFaults.push(`cfgproxy ${args[0]}: ${text}`);
      return;
    }
    if (line.event === 'FATAL') serverFaults.push(`cfgproxy ${args[0]}: ${JSON.stringify(line)}`);
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
    killedOnPurpose.add(child);
    child.kill('SIGKILL');
  });
}


/** Starts `cfgproxy proxy` on a free port; resolves once it serves (loaded, or resumed from its history log). */
export async function startProxyProcess(args: string[], env: Record<string, string> = {}): Promise<CliProcess & { port: number }> {
  const port = await freePort();
  const proxy = await startCli(['proxy', '--port', String(port), ...args], 'proxy listening (loading)', env);
  await proxy.waitForLog((line) => line.msg === 'configuration loaded' || line.event === 'PROXY-002');
  return { ...proxy, port };
}

/** Which of the members answer /health/active with 200 (the active primary, or the active master). */
export async function activeMembers(adminPorts: number[]): Promise<number[]> {
  const answers = await Promise.all(adminPorts.map((port) => fetch(`http://127.0.0.1:${port}/health/active`).then((r) => r.status, () => 0)));
  return adminPorts.filter((_, i) => answers[i] === 200);
}
