import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { connect } from '../../src/client/index.js';
import { freePort, startMasterProcess, startProxyProcess } from '../helpers/processes.js';
import { scenarioHooks } from '../helpers/scenario.js';

const { tempDir, toClose } = scenarioHooks('private-files');
const run = promisify(execFile);
const CLI = new URL('../../bin/cfgproxy.js', import.meta.url).pathname;
const PASSWORD = 'private-files';

const modeOf = (path: string): string => (statSync(path).mode & 0o777).toString(8);

describe('files that hold verifiers are private', () => {
  it('files - the master database, the proxy history log, their -wal files and a backup (into a folder that did not exist) are created 0600', async () => {
    const dir = tempDir();
    const port = await freePort();
    await startMasterProcess(join(dir, 'data', 'master.db'), PASSWORD, port);
    const proxy = await startProxyProcess(['--master', `127.0.0.1:${port}`, '-u', 'admin', '-p', PASSWORD, '--history-db', join(dir, 'data', 'proxy.db')]);
    const writer = await connect({ endpoints: `127.0.0.1:${proxy.port}`, user: 'admin', password: PASSWORD, reconnect: false, standby: false });
    toClose.push(() => writer.close());
    await writer.readAll('Person');
    await run(process.execPath, [CLI, 'backup', join(dir, 'backups', 'nightly', 'master.db'), '-s', `127.0.0.1:${port}`, '-u', 'admin', '-p', PASSWORD]);
    const files = ['data/master.db', 'data/master.db-wal', 'data/proxy.db', 'data/proxy.db-wal', 'backups/nightly/master.db'].map((f) => join(dir, f));
    expect(files.filter((f) => !existsSync(f))).toEqual([]);
    expect(Object.fromEntries(files.map((f) => [f.slice(dir.length + 1), modeOf(f)]))).toEqual(Object.fromEntries(files.map((f) => [f.slice(dir.length + 1), '600'])));
  });

  it('files - a database path that is a folder, or that runs through a file, is refused with the path and what to do', async () => {
    const dir = tempDir();
    const folder = join(dir, 'a-folder');
    mkdirSync(folder);
    const asFolder = await run(process.execPath, [CLI, 'master', '--db', folder, '--port', '0'], { env: { ...process.env, CFGPROXY_ADMIN_PASSWORD: PASSWORD } }).then(() => undefined, (error: { code: number; stderr: string }) => error);
    expect(asFolder?.stderr).toContain(folder);
    expect(asFolder?.stderr).toMatch(/is a folder; give the path of a file/);
    // A path through a file: the same kind of answer, whoever runs it.
    const through = join(dir, 'a-file', 'm.db');
    writeFileSync(join(dir, 'a-file'), 'not a folder');
    const notFolder = await run(process.execPath, [CLI, 'master', '--db', through, '--port', '0'], { env: { ...process.env, CFGPROXY_ADMIN_PASSWORD: PASSWORD } }).then(() => undefined, (error: { code: number; stderr: string }) => error);
    expect(notFolder?.stderr).toContain(through);
    expect(notFolder?.stderr).toMatch(/is a file, not a folder/);
  });
});
