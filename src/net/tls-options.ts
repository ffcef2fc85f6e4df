import { readFileSync } from 'node:fs';
import type { ConnectionOptions, TlsOptions } from 'node:tls';

/** TLS settings as the CLI and the config file state them: file paths. */
export interface TlsFiles {
  cert?: string;
  key?: string;
  ca?: string;
  /** Server: require and verify a client certificate signed by `ca`. */
  verifyClient?: boolean;
  /** Client: skip verification of the server's certificate (tests, self-signed demos). */
  insecure?: boolean;
}

function read(path: string | undefined): Buffer | undefined {
  return path === undefined ? undefined : readFileSync(path);
}

export function serverTlsOptions(files: TlsFiles): TlsOptions {
  if (!files.cert || !files.key) throw new Error('TLS needs both --tls-cert and --tls-key');
  const verifyClient = files.verifyClient === true;
  if (verifyClient && !files.ca) throw new Error('--tls-verify-client needs --tls-ca to verify client certificates against');
  return {
    cert: read(files.cert),
    key: read(files.key),
    ca: read(files.ca),
    requestCert: verifyClient,
    rejectUnauthorized: verifyClient,
    minVersion: 'TLSv1.2',
  };
}

export function clientTlsOptions(files: TlsFiles, servername: string): ConnectionOptions {
  return {
    cert: read(files.cert),
    key: read(files.key),
    ca: read(files.ca),
    servername: /^[\d.]+$|:/.test(servername) ? undefined : servername,
    rejectUnauthorized: files.insecure !== true,
    minVersion: 'TLSv1.2',
  };
}
