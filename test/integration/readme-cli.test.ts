import { execFile, spawn } from 'node:child_process';
import { promisify } from 'node:util';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterEach, describe, expect, it } from 'vitest';
import { connect } from '../../src/client/index.js';
import { startTestMaster } from '../helpers/master.js';
import { readmeBlock } from '../helpers/readme.js';

const run = promisify(execFile);
const CLI = new URL('../../bin/cfgproxy.js', import.meta.url).pathname;
const toClose: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const close of toClose.splice(0).reverse()) await close();
});

describe('the README\'s CLI examples', () => {
  it('readme - every CLI example runs as written against the demo\'s data (sample configuration, password demo) and prints what its comment says', async () => {
    const { master, cleanup } = await startTestMaster({ adminPassword: 'demo' });
    toClose.push(cleanup);
    const dir = mkdtempSync(join(tmpdir(), 'cfgproxy-readme-'));
    toClose.push(async () => rmSync(dir, { recursive: true, force: true }));
    writeFileSync(join(dir, 'dn.yaml'), `${readmeBlock('dn.yaml').join('\n')}\n`);
    writeFileSync(join(dir, 'delta.yaml'), `${readmeBlock('delta.yaml').join('\n')}\n`);
    const lines = readmeBlock('cli');
    const prelude = lines.filter((line) => line.startsWith('export '));
    const env = { ...process.env, CFGPROXY_SERVER: `127.0.0.1:${master.port}` }; // the demo's master, here on a free port
    const shell = (line: string): string => [...prelude, line.replace(/(^|\| |exec )npx cfgproxy /g, `$1"${process.execPath}" "${CLI}" `)].join('\n');
    const outputs = new Map<string, string>();
    for (const line of lines.filter((l) => l.startsWith('npx cfgproxy ') && !l.startsWith('npx cfgproxy watch'))) {
      // Asynchronously: the master answering it runs in this process.
      const { stdout } = await run('sh', ['-ec', shell(line)], { cwd: dir, env, encoding: 'utf8' });
      outputs.set(line.split('#')[0]!.trim(), stdout);
      const promised = /"([^"]+)"\s*$/.exec(line)?.[1]; // a comment quoting the output
      if (promised) expect(stdout.trim(), line).toBe(promised);
    }
    expect(outputs.get('npx cfgproxy get dn --filter number=5001')).toMatch(/^DN\t\d+\t5001\t/);
    const dn = master.source.store.get('DN', 11);
    expect(dn).toBeUndefined(); // created, updated, then removed by the examples
    expect(outputs.get('npx cfgproxy rm dn 11')).toMatch(/^deleted: seq \d+/);
    expect(existsSync(join(dir, 'config.yaml')) && existsSync(join(dir, 'master.db'))).toBe(true);

    // The proxy account of "Running a proxy", then a proxy logged in with it.
    const [accountLine] = readmeBlock('proxy-account');
    await run('sh', ['-ec', shell(accountLine!)], { cwd: dir, env });
    const proxyAccount = await connect({ endpoints: `127.0.0.1:${master.port}`, user: 'proxy', password: 'choose-one', clientType: 'proxy', reconnect: false });
    await proxyAccount.close();

    // watch runs until Ctrl-C: it says it is watching, then prints a change.
    const watchLine = lines.find((l) => l.startsWith('npx cfgproxy watch'))!;
    // exec: the shell becomes the CLI, so killing it ends the CLI too.
    const watch = spawn('sh', ['-ec', shell(`exec ${watchLine.split('#')[0]!}`)], { cwd: dir, env });
    toClose.push(async () => void watch.kill('SIGKILL'));
    await new Promise<void>((resolve) => createInterface({ input: watch.stderr! }).on('line', (line) => line.startsWith('watching from seq') && resolve()));
    const printed = new Promise<string>((resolve) => createInterface({ input: watch.stdout! }).once('line', resolve));
    await run('sh', ['-ec', shell('npx cfgproxy put dn.yaml')], { cwd: dir, env });
    expect(JSON.parse(await printed)).toMatchObject({ kind: 'ObjectCreated', object: { type: 'DN', name: '5099' } });
  });
});
