import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { createInterface } from 'node:readline';

const CLI = new URL('../../bin/cfgproxy.js', import.meta.url).pathname;

/** Child processes a test started; `killAll` in afterEach. */
export const children: ChildProcess[] = [];

export function killAll(): void {
  for (const child of children.splice(0)) child.kill('SIGKILL');
}

/** Runs `cfgproxy <args>` as a real process; resolves when a log line contains `readyLine`. */
export function startCli(args: string[], readyLine: string, env: Record<string, string> = {}): Promise<{ child: ChildProcess; log: Record<string, unknown> }> {
  const child = spawn(process.execPath, [CLI, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
  children.push(child);
  return new Promise((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`cfgproxy ${args[0]} exited with ${code}`)));
    createInterface({ input: child.stderr! }).on('line', (line) => {
      if (line.includes(readyLine)) resolve({ child, log: JSON.parse(line) as Record<string, unknown> });
    });
  });
}

/** Starts `cfgproxy master` and resolves with its port from the JSON log. */
export async function startMasterProcess(dbPath: string, password: string, port = 0): Promise<{ child: ChildProcess; port: number }> {
  const { child, log } = await startCli(['master', '--db', dbPath, '--port', String(port)], '"master listening"', { CFGPROXY_ADMIN_PASSWORD: password });
  return { child, port: log.port as number };
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
