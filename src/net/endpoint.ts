import { CfgError, ErrorCode } from '../../protocol/index.js';

export interface Endpoint {
  host: string;
  port: number;
  tls: boolean;
}

/** Parses `host:port`, `tcp://host:port` or `tls://host:port` (IPv6 as `[::1]:port`). */
export function parseEndpoint(text: string, defaultTls = false): Endpoint {
  const match = /^(?:(tcp|tls):\/\/)?(\[[^\]]+\]|[^:/\s]+):(\d{1,5})$/.exec(text.trim());
  const port = match ? Number(match[3]) : NaN;
  if (!match || port < 1 || port > 65535) {
    throw new CfgError(ErrorCode.INVALID_MESSAGE, `'${text}' is not an endpoint: expected host:port, tcp://host:port or tls://host:port`);
  }
  const host = match[2].startsWith('[') ? match[2].slice(1, -1) : match[2];
  return { host, port, tls: match[1] === 'tls' || (match[1] === undefined && defaultTls) };
}

/** Parses a comma-separated endpoint list (`primary:port,backup:port`). */
export function parseEndpointList(text: string, defaultTls = false): Endpoint[] {
  return text
    .split(',')
    .map((part) => part.trim())
    .filter((part) => part.length > 0)
    .map((part) => parseEndpoint(part, defaultTls));
}

export function formatEndpoint(endpoint: Endpoint): string {
  const host = endpoint.host.includes(':') ? `[${endpoint.host}]` : endpoint.host;
  return `${endpoint.tls ? 'tls://' : ''}${host}:${endpoint.port}`;
}
