import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect, type ConnectionOptions, type TLSSocket } from 'node:tls';
import { Client, InvalidCredentialsError } from 'ldapts';
import { DirectoryUnavailable, withDeadline, type PasswordDirectory } from './directory.js';
import { escapeDnValue, escapeFilterValue, fillTemplate } from './ldap-escape.js';

export interface LdapSettings {
  /** ldaps://host:636 or ldap://host:389, tried in this order. */
  urls: string[];
  /** On ldap:// URLs: upgrade with StartTLS before anything is sent. */
  startTls: boolean;
  /** Allows ldap:// without StartTLS: passwords cross the network in the clear. */
  allowPlain: boolean;
  /** PEM of the CA that signed the directory's certificate (else the system's). */
  ca?: string;
  /** Simple bind: the user's DN, `{user}` standing for the account's name (escaped). */
  bindDn?: string;
  /** Search-then-bind: a service account finds the user's entry, then the user binds as it. */
  search?: { base: string; filter: string; serviceDn: string; servicePassword: string };
  /** Connecting, and each operation, must finish within this. */
  timeoutMs: number;
  /** Connections kept to the directory; a bind waits for one that is free. */
  connections: number;
}

/** Why LDAP settings cannot work, or undefined: checked at startup (exit 2), not at the first login. */
export function ldapSettingsProblem(settings: LdapSettings): string | undefined {
  if (settings.urls.length === 0) return '--ldap-url names no directory';
  for (const url of settings.urls) {
    if (!/^ldaps?:\/\/[^/]+\/?$/.test(url)) return `--ldap-url ${url}: give ldaps://host[:port] or ldap://host[:port]`;
    if (url.startsWith('ldap://') && !settings.startTls && !settings.allowPlain) {
      return `--ldap-url ${url} is plain LDAP: passwords would cross the network in the clear. Use ldaps://, add --ldap-starttls, or accept the risk with --ldap-allow-plain`;
    }
  }
  if (Boolean(settings.bindDn) === Boolean(settings.search)) return 'give --ldap-bind-dn (simple bind) or --ldap-search-base with --ldap-service-dn (search, then bind), one of the two';
  if (settings.bindDn && !settings.bindDn.includes('{user}')) return "--ldap-bind-dn must contain {user}, e.g. 'uid={user},ou=people,dc=example,dc=org'";
  if (settings.search && !settings.search.filter.includes('{user}')) return "--ldap-search-filter must contain {user}, e.g. '(uid={user})'";
  if (settings.search && !settings.search.servicePassword) return 'search, then bind needs the service account password in CFGPROXY_LDAP_SERVICE_PASSWORD';
  return undefined;
}

/** LDAP result codes that mean "the directory cannot work now" (busy, unavailable, other), not "wrong password". */
const BUSY_CODES = new Set([51, 52, 80]);

/**
 * One connection to the directory, used by one operation at a time (LDAP forbids a bind while
 * others are outstanding on the same connection). It connects once: a client that would connect
 * again (ldapts reconnects by itself) is refused, because a StartTLS session reconnected that way
 * would bind in the clear; the lane makes a new client instead.
 */
class Lane {
  private client: Client | undefined;
  private tail: Promise<unknown> = Promise.resolve();
  busy = 0;

  constructor(
    private readonly settings: LdapSettings,
    private readonly url: string,
  ) {}

  run<T>(work: (client: Client) => Promise<T>): Promise<T> {
    this.busy += 1;
    const result = this.tail.then(() => this.withClient(work));
    this.tail = result.catch(() => undefined).finally(() => (this.busy -= 1));
    return result;
  }

  async close(): Promise<void> {
    const client = this.client;
    this.client = undefined;
    await client?.unbind().catch(() => undefined);
  }

  private async withClient<T>(work: (client: Client) => Promise<T>): Promise<T> {
    try {
      const client = this.client?.isConnected ? this.client : await this.connect();
      return await withDeadline(work(client), this.settings.timeoutMs * 2, `LDAP at ${this.url}`);
    } catch (error) {
      if (!(error instanceof InvalidCredentialsError)) await this.close();
      throw error;
    }
  }

  private async connect(): Promise<Client> {
    await this.close();
    const tlsOptions: ConnectionOptions = { ...(this.settings.ca ? { ca: this.settings.ca } : {}), minVersion: 'TLSv1.2' };
    let connected = false;
    const once = <S extends Socket | TLSSocket>(open: () => S): S => {
      if (connected) throw new Error('refusing to reconnect this LDAP client');
      connected = true;
      return open();
    };
    const client = new Client({
      url: this.url,
      timeout: this.settings.timeoutMs,
      connectTimeout: this.settings.timeoutMs,
      // Only for ldaps://: given tlsOptions, ldapts would speak TLS at once on an ldap:// URL too.
      ...(this.url.startsWith('ldaps://') ? { tlsOptions: { ...tlsOptions } } : {}),
      strictDN: true,
      createConnection: ((port: number, host: string) => once(() => netConnect(port, host))) as typeof netConnect,
      // Called (port, host, options) to open ldaps://, and (options) to upgrade by StartTLS.
      createSecureConnection: ((...args: [number, string, ConnectionOptions] | [ConnectionOptions]) =>
        args.length === 3 ? once(() => tlsConnect(args[0], args[1], args[2])) : tlsConnect(args[0])) as typeof tlsConnect,
    });
    this.client = client;
    // A copy: ldapts writes the socket into the options it upgrades with.
    if (this.url.startsWith('ldap://') && this.settings.startTls) await client.startTLS({ ...tlsOptions });
    return client;
  }
}

/**
 * Checks passwords by LDAP bind [PROTO-HELLO-7]: a simple bind as the DN the template makes of the
 * account's name, or a search by a service account for the entry, then a bind as it. Names are
 * escaped where they meet LDAP syntax. Several connections are kept, to each URL in turn.
 */
export class LdapDirectory implements PasswordDirectory {
  readonly method = 'ldap' as const;
  readonly describe: string;
  private readonly lanes: Lane[][];

  constructor(private readonly settings: LdapSettings) {
    const problem = ldapSettingsProblem(settings);
    if (problem) throw new Error(problem);
    this.describe = `${settings.urls.join(', ')}${settings.startTls ? ' (StartTLS)' : ''}, ${settings.bindDn ? `bind as ${settings.bindDn}` : `search ${settings.search!.base} for ${settings.search!.filter}`}`;
    this.lanes = settings.urls.map((url) => Array.from({ length: Math.max(1, settings.connections) }, () => new Lane(settings, url)));
  }

  async verify(id: string, password: string): Promise<boolean> {
    let lastError: unknown;
    // Each URL in turn: one that cannot answer hands the login to the next.
    for (const lanes of this.lanes) {
      const lane = lanes.reduce((best, candidate) => (candidate.busy < best.busy ? candidate : best));
      try {
        return await lane.run((client) => this.check(client, id, password));
      } catch (error) {
        if (error instanceof InvalidCredentialsError) return false;
        const code = (error as { code?: unknown }).code;
        if (typeof code === 'number' && !BUSY_CODES.has(code)) return false; // the directory answered: no
        lastError = error;
      }
    }
    throw new DirectoryUnavailable(lastError instanceof Error ? lastError.message || lastError.name : String(lastError));
  }

  async close(): Promise<void> {
    await Promise.all(this.lanes.flat().map((lane) => lane.close()));
  }

  private async check(client: Client, id: string, password: string): Promise<boolean> {
    const { bindDn, search } = this.settings;
    if (bindDn) {
      await client.bind(fillTemplate(bindDn, id, escapeDnValue), password);
      return true;
    }
    await client.bind(search!.serviceDn, search!.servicePassword);
    const found = await client.search(search!.base, { scope: 'sub', filter: fillTemplate(search!.filter, id, escapeFilterValue), attributes: ['1.1'], sizeLimit: 2 });
    // No entry, or a name that picks out more than one: not this account.
    if (found.searchEntries.length !== 1) return false;
    await client.bind(found.searchEntries[0].dn, password);
    return true;
  }
}
