import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect } from '../../src/client/index.js';
import { ADMIN_PASSWORD, startTestMaster } from '../helpers/master.js';
import { makeTestCerts, type TestCerts } from '../helpers/certs.js';
import { requireTool } from '../helpers/tools.js';
import { HA_DEFAULTS } from '../../src/ha/ha-options.js';
import { startTestProxy } from '../helpers/proxy.js';

const haveOpenssl = requireTool('openssl');
let certs: TestCerts;

beforeAll(() => {
  if (haveOpenssl) certs = makeTestCerts();
});
afterAll(() => certs?.cleanup());

describe.runIf(haveOpenssl)('tls', () => {
  it('tls - a client reads over TLS, verifying the server against the test CA', async () => {
    const { master, cleanup } = await startTestMaster({ tls: { cert: certs.serverCert, key: certs.serverKey } });
    try {
      const client = await connect({ endpoints: `tls://127.0.0.1:${master.port}`, user: 'admin', password: ADMIN_PASSWORD, tls: { ca: certs.ca } });
      expect((await client.readAll('Switch')).length).toBe(2);
      await client.close();
      const untrusting = connect({ endpoints: `tls://127.0.0.1:${master.port}`, user: 'admin', password: ADMIN_PASSWORD, reconnect: false });
      await expect(untrusting).rejects.toMatchObject({ code: 'CONNECTION_LOST' });
    } finally {
      await cleanup();
    }
  });

  it('tls - with client verification on, only a client with a certificate gets in', async () => {
    const { master, cleanup } = await startTestMaster({ tls: { cert: certs.serverCert, key: certs.serverKey, ca: certs.ca, verifyClient: true } });
    try {
      const endpoint = `tls://127.0.0.1:${master.port}`;
      const withCert = await connect({ endpoints: endpoint, user: 'admin', password: ADMIN_PASSWORD, tls: { ca: certs.ca, cert: certs.clientCert, key: certs.clientKey } });
      expect(withCert.server?.serverKind).toBe('master');
      await withCert.close();
      const without = connect({ endpoints: endpoint, user: 'admin', password: ADMIN_PASSWORD, tls: { ca: certs.ca }, reconnect: false, requestTimeoutMs: 3000 });
      await expect(without).rejects.toMatchObject({ code: expect.stringMatching(/CONNECTION_LOST|REQUEST_TIMEOUT/) });
    } finally {
      await cleanup();
    }
  });

  it('tls - a proxy talks TLS to its master (client certificate) and to its own clients', async () => {
    const { master, dir, cleanup } = await startTestMaster({ tls: { cert: certs.serverCert, key: certs.serverKey, ca: certs.ca, verifyClient: true } });
    try {
      const proxy = await startTestProxy(dir, [], {
        masters: [`tls://127.0.0.1:${master.port}`],
        upstreamTls: { ca: certs.ca, cert: certs.clientCert, key: certs.clientKey },
        tls: { cert: certs.serverCert, key: certs.serverKey },
      });
      try {
        const client = await connect({ endpoints: `tls://127.0.0.1:${proxy.port}`, user: 'admin', password: ADMIN_PASSWORD, tls: { ca: certs.ca } });
        expect(client.server?.serverKind).toBe('proxy');
        expect((await client.readAll('Switch')).length).toBe(2);
        await client.close();
      } finally {
        await proxy.stop();
      }
    } finally {
      await cleanup();
    }
  });

  it('tls - a pair over a TLS HA link: the backup is admitted only with a client certificate signed by the CA', async () => {
    const { master, dir, cleanup } = await startTestMaster();
    const ha = { ...HA_DEFAULTS, secret: 'tls-pair', addpTimeoutMs: 1000, heartbeatIntervalMs: 200, acceptClientsInBackupMode: false };
    const stopping: Array<() => Promise<void>> = [];
    try {
      const primary = await startTestProxy(dir, [master.port], {
        serverName: 'tls-primary',
        ha: { ...ha, role: 'primary', haPort: 0, haTls: { cert: certs.serverCert, key: certs.serverKey, ca: certs.ca, verifyClient: true } },
      });
      stopping.push(() => primary.stop());
      const peer = `tls://127.0.0.1:${primary.ha!.server!.port}`;
      const backup = await startTestProxy(dir, [master.port], {
        serverName: 'tls-backup',
        ha: { ...ha, role: 'backup', peer, peerTls: { ca: certs.ca, cert: certs.clientCert, key: certs.clientKey } },
      });
      stopping.push(() => backup.stop());
      if (!backup.ha!.linkUp) await new Promise((resolve) => backup.ha!.on('role-event', (e: { id: string }) => e.id === 'HA-001' && resolve(e)));
      expect(backup.ha!.linkUp).toBe(true);

      // Without a client certificate the TLS handshake fails: no link, and the primary answers probes, so no promotion.
      const intruder = await startTestProxy(dir, [master.port], { serverName: 'tls-intruder', ha: { ...ha, role: 'backup', peer, peerTls: { ca: certs.ca } } });
      stopping.push(() => intruder.stop());
      await new Promise<void>((resolve) => {
        let probes = 0;
        intruder.ha!.on('probe', () => ++probes === 3 && resolve());
      });
      expect(intruder.ha!.linkUp).toBe(false);
      expect(intruder.ha!.role()).toBe('backup');
    } finally {
      for (const stop of stopping.reverse()) await stop();
      await cleanup();
    }
  });
});
