import { CfgError } from '../../protocol/index.js';

/**
 * A server's admin HTTP port as the CLI talks to it: one request, an unreachable port reported
 * as CONNECTION_LOST (exit code 3) naming the address.
 */
export class AdminClient {
  constructor(private readonly address: string) {}

  async request(path: string, init: { method?: string; token?: string } = {}): Promise<Response> {
    try {
      return await fetch(`http://${this.address}${path}`, { method: init.method ?? 'GET', headers: init.token ? { authorization: `Bearer ${init.token}` } : {} });
    } catch (error) {
      throw new CfgError('CONNECTION_LOST', `cannot reach the admin port ${this.address}: ${(error as Error).message}`);
    }
  }

  /** The body as JSON, or undefined when the answer is not 200. */
  async json<T>(path: string): Promise<T | undefined> {
    const response = await this.request(path);
    return response.status === 200 ? ((await response.json()) as T) : undefined;
  }

  /** An action's outcome: the server's JSON, or the status and text when it sent something else. */
  async act(path: string, token: string | undefined): Promise<{ ok: boolean; message: string }> {
    const response = await this.request(path, { method: 'POST', token });
    const text = await response.text();
    try {
      return JSON.parse(text) as { ok: boolean; message: string };
    } catch {
      return { ok: false, message: `${response.status}: ${text.trim()}` };
    }
  }
}
