import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, type ConnectOptions } from '../../src/client/index.js';
import type { CfgClient } from '../../src/client/client.js';
import { MasterServer, type MasterOptions } from '../../src/master/master-server.js';

export const ADMIN_PASSWORD = 'test-admin-password';

/** A master on 127.0.0.1:0 with the sample configuration in a fresh temporary directory. */
export async function startTestMaster(options: Partial<MasterOptions> = {}): Promise<{ master: MasterServer; dir: string; cleanup(): Promise<void> }> {
  const dir = mkdtempSync(join(tmpdir(), 'cfgproxy-test-'));
  const master = await MasterServer.start({ dbPath: join(dir, 'master.db'), port: 0, sample: true, adminPassword: ADMIN_PASSWORD, ...options });
  return {
    master,
    dir,
    async cleanup() {
      await master.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export function adminClient(port: number, extra: Partial<ConnectOptions> = {}): Promise<CfgClient> {
  return connect({ endpoints: `127.0.0.1:${port}`, user: 'admin', password: ADMIN_PASSWORD, ...extra });
}

/** Resolves with the first `count` values an event emits. */
export function collect<T>(emitter: { on(event: string, listener: (value: T) => void): unknown }, event: string, count: number): Promise<T[]> {
  return new Promise((resolve) => {
    const values: T[] = [];
    emitter.on(event, (value) => {
      values.push(value);
      if (values.length === count) resolve(values);
    });
  });
}
