import { describe, expect, it } from 'vitest';
import { AddpMonitor } from '../../src/net/addp.js';
import { FakeClock } from '../helpers/fake-clock.js';

function setup(timeoutMs = 1000) {
  const clock = new FakeClock();
  const events: string[] = [];
  let lastReceivedAt = 0;
  const monitor = new AddpMonitor(timeoutMs, {
    lastReceivedAt: () => lastReceivedAt,
    sendPoll: (n) => events.push(`poll ${n} @${clock.time}`),
    onTimeout: () => events.push(`timeout @${clock.time}`),
  }, clock);
  return { clock, events, monitor, receive: () => (lastReceivedAt = clock.time) };
}

describe('addp', () => {
  it('addp - polls a silent peer after the timeout and drops it after another', () => {
    const { clock, events, monitor } = setup();
    monitor.start();
    clock.advance(999);
    expect(events).toEqual([]);
    clock.advance(1);
    expect(events).toEqual(['poll 1 @1000']);
    clock.advance(1000);
    expect(events).toEqual(['poll 1 @1000', 'timeout @2000']);
  });

  it('addp - any frame from the peer answers the poll', () => {
    const { clock, events, monitor, receive } = setup();
    monitor.start();
    clock.advance(1500);
    receive();
    clock.advance(900);
    expect(events).toEqual(['poll 1 @1000']);
    clock.advance(100);
    expect(events).toEqual(['poll 1 @1000', 'poll 2 @2500']);
  });

  it('addp - a chatty peer is never polled', () => {
    const { clock, events, monitor, receive } = setup();
    monitor.start();
    for (let i = 0; i < 50; i += 1) { clock.advance(500); receive(); }
    expect(events).toEqual([]);
  });

  it('addp - a timeout of 0 turns it off, stop cancels it', () => {
    const off = setup(0);
    off.monitor.start();
    off.clock.advance(100_000);
    expect(off.events).toEqual([]);
    const stopped = setup();
    stopped.monitor.start();
    stopped.monitor.stop();
    stopped.clock.advance(100_000);
    expect(stopped.events).toEqual([]);
  });
});
