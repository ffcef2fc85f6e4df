import { describe, expect, it } from 'vitest';
import { CfgClient, type CfgClientEvents } from '../../src/client/client.js';

/** Compiled with the suite (`npm test` runs tsc first): each @ts-expect-error fails the build if its line compiles. */
function listenersThatMustNotCompile(client: CfgClient): void {
  // @ts-expect-error: no such event
  client.on('notifications', () => undefined);
  // @ts-expect-error: a position is a seq, not a string
  client.on('position', (seq: string) => seq);
  // @ts-expect-error: connected carries { endpoint, restored }
  client.on('connected', (info: { session: string }) => info);
}

describe('the SDK events', () => {
  it('sdk events - listeners get what CfgClientEvents says, by name', () => {
    const client = CfgClient.create({ endpoints: '127.0.0.1:1', user: 'u', password: 'p', reconnect: false });
    expect(typeof listenersThatMustNotCompile).toBe('function');
    const seen: Array<CfgClientEvents['position'][0]> = [];
    client.on('position', (seq) => seen.push(seq));
    client.emit('position', 42);
    expect(seen).toEqual([42]);
    expect(client.listenerCount('position')).toBe(1);
  });
});
