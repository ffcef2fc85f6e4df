import { execFileSync } from 'node:child_process';

/** True when a system tool is on PATH. */
export function hasTool(name: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${name}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/**
 * Whether to run a test that needs a system tool: outside CI a missing tool skips with a message;
 * inside CI (CI=true) a missing tool is a failure, because .ci/run installs it.
 */
export function requireTool(name: string): boolean {
  if (hasTool(name)) return true;
  if (process.env.CI === 'true') throw new Error(`${name} is required in CI but is not installed (.ci/run should install it)`);
  console.warn(`skipping: ${name} is not installed`);
  return false;
}

/** Like `requireTool`, for a capability that is not a command (root to mount a tmpfs, say). */
export function requireCapability(name: string, available: boolean): boolean {
  if (available) return true;
  if (process.env.CI === 'true') throw new Error(`${name} is required in CI but is not available here`);
  console.warn(`skipping: ${name} is not available`);
  return false;
}
