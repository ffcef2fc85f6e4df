import { execFileSync, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { describe, expect, it } from 'vitest';
import { children, freePort } from '../helpers/processes.js';
import { readmeBlock } from '../helpers/readme.js';
import { scenarioHooks } from '../helpers/scenario.js';
import { requireTool } from '../helpers/tools.js';

const { tempDir } = scenarioHooks('mtls');
const CLI = new URL('../../bin/cfgproxy.js', import.meta.url).pathname;

/**
 * Runs a README line as a shell would (variables set by earlier lines expanded), with `cfgproxy`
 * being this checkout's binary; resolves once a server logs `ready`.
 */
function runLine(dir: string, prelude: string[], line: string, ready: string, env: Record<string, string> = {}): Promise<{ lines: Array<Record<string, unknown>> }> {
  const script = [...prelude, `exec ${line.replace(/^npx cfgproxy /, `"${process.execPath}" "${CLI}" `)}`].join('\n');
  const child = spawn('sh', ['-ec', script], { cwd: dir, env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
  children.push(child);
  const lines: Array<Record<string, unknown>> = [];
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`'${line}' did not log '${ready}' within 15 s: ${JSON.stringify(lines.slice(-4))}`)), 15_000);
    child.once('exit', (code) => reject(new Error(`'${line}' exited (${code}): ${JSON.stringify(lines.slice(-3))}`)));
    child.once('exit', () => clearTimeout(timer));
    createInterface({ input: child.stderr! }).on('line', (text) => {
      try {
        lines.push(JSON.parse(text) as Record<string, unknown>);
      } catch {
        return;
      }
      if (lines.some((l) => l.msg === ready)) {
        clearTimeout(timer);
        resolve({ lines });
      }
    });
  });
}

describe.runIf(requireTool('openssl'))('mutual TLS, as the README walks through it', () => {
  it('mtls - the README\'s certificates and servers: master, a pair and the CLI, every link requiring certificates on both sides, the HA link with its own', async () => {
    const dir = tempDir();
    execFileSync('sh', ['-ec', readmeBlock('mtls-certs').join('\n')], { cwd: dir, stdio: 'ignore' });
    // The README's fixed ports, moved to free ones so the test cannot collide with anything; the
    // servers it starts on their default ports get theirs through CFGPROXY_PORT.
    const ports = new Map(await Promise.all(['9020', '9030', '9032', '9040'].map(async (port) => [port, String(await freePort())] as const)));
    const lines = readmeBlock('mtls-servers').map((line) => line.replace(/\b(9020|9030|9032|9040)\b/g, (port) => ports.get(port)!));
    const prelude = lines.filter((line) => !line.startsWith('npx cfgproxy '));
    const [masterLine, primaryLine, backupLine, getLine] = lines.filter((line) => line.startsWith('npx cfgproxy '));
    await runLine(dir, prelude, masterLine!, 'master listening', { CFGPROXY_PORT: ports.get('9020')! });
    await runLine(dir, prelude, primaryLine!, 'configuration loaded', { CFGPROXY_PORT: ports.get('9030')! });
    const backup = await runLine(dir, prelude, backupLine!, 'HA link up');
    expect(backup.lines.find((l) => l.msg === 'HA link up')).toMatchObject({ peerRole: 'primary' });

    const cli = (line: string): string => execFileSync('sh', ['-ec', [...prelude, line.replace(/^npx cfgproxy /, `"${process.execPath}" "${CLI}" `)].join('\n')], { cwd: dir, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    expect(cli(getLine!)).toMatch(/^DN\t\d+\t5001\t/);
    // Without its certificate the CLI is turned away at the TLS handshake.
    const withoutCert = getLine!.replace(/ --tls-cert \S+ --tls-key \S+/, '');
    expect(() => cli(withoutCert)).toThrow(/exit|Command failed/i);
  }, 60_000);
});
