import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { SOFTWARE_VERSION } from '../../src/util/version.js';
import { startTestMaster } from '../helpers/master.js';
import { readmeBlock } from '../helpers/readme.js';

const run = promisify(execFile);
const ROOT = new URL('../..', import.meta.url).pathname;
const TSC = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
const work = mkdtempSync(join(tmpdir(), 'cfgproxy-package-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('an installable package', () => {
  it('package - npm pack makes a package that an empty project installs: `cfgproxy --version` runs and the README’s SDK snippet compiles against its types and runs', async () => {
    // `npm test` built dist/ already; the pack here must not rebuild it under the other tests' feet.
    await run('npm', ['pack', '--ignore-scripts', '--pack-destination', work], { cwd: ROOT });
    const tarball = readdirSync(work).find((name) => name.endsWith('.tgz'))!;
    expect(tarball).toBe(`cfgproxy-${SOFTWARE_VERSION}.tgz`);
    const listing = (await run('tar', ['-tzf', join(work, tarball)])).stdout.split('\n');
    expect(listing).toContain('package/dist/src/client/index.js');
    expect(listing).toContain('package/dist/src/client/index.d.ts');
    expect(listing).toContain('package/bin/cfgproxy.js');
    expect(listing.filter((path) => path.startsWith('package/dist/test/') || path.startsWith('package/src/'))).toEqual([]);
    // The install block as the README writes it, the path pointing at this tarball.
    const install = readmeBlock('install');
    expect(install[1]).toMatch(/^npm install \/path\/to\/cfgproxy-0\.1\.0\.tgz/);
    const app = join(work, 'app');
    await run('mkdir', ['-p', app]);
    writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'app', private: true, type: 'module' }));
    await run('npm', ['install', join(work, tarball), '--no-audit', '--no-fund', '--prefer-offline'], { cwd: app, timeout: 300_000 });
    expect((await run('npx', ['cfgproxy', '--version'], { cwd: app })).stdout.trim()).toBe(SOFTWARE_VERSION);

    writeFileSync(join(app, 'app.ts'), `${readmeBlock('sdk').join('\n')}\n`);
    // Node's types as an application has them (here: this repository's @types/node).
    writeFileSync(join(app, 'tsconfig.json'), JSON.stringify({ compilerOptions: { module: 'nodenext', moduleResolution: 'nodenext', target: 'es2022', strict: true, skipLibCheck: true, typeRoots: [join(ROOT, 'node_modules', '@types')], types: ['node'] }, files: ['app.ts'] }));
    const compiled = await run(process.execPath, [TSC, '-p', 'tsconfig.json'], { cwd: app }).then(() => '', (error: { stdout: string }) => error.stdout);
    expect(compiled).toBe('');
    const { master, cleanup } = await startTestMaster();
    try {
      const { stdout } = await run(process.execPath, ['app.js'], { cwd: app, env: { ...process.env, CFGPROXY_SERVER: `127.0.0.1:${master.port}`, CFGPROXY_PASSWORD: 'test-admin-password' } });
      expect(stdout).toMatch(/^\d+ /m); // the position it printed
    } finally {
      await cleanup();
    }
  }, 360_000);
});
