import { describe, expect, it } from 'vitest';
import { ErrorCode } from '../../protocol/index.js';
import { sourceRange } from '../../src/net/source-range.js';
import { DEFAULT_LOGIN_THROTTLE, LoginThrottle } from '../../src/service/login-throttle.js';

describe('login throttle', () => {
  it('throttle - sources count by IPv4 /24 and IPv6 /64, in any spelling', () => {
    expect(sourceRange('10.1.2.3')).toBe('10.1.2.0/24');
    expect(sourceRange('::ffff:10.1.2.200')).toBe('10.1.2.0/24');
    expect(sourceRange('2001:db8:0:1::5')).toBe(sourceRange('2001:0db8:0000:0001:ffff:1:2:3'));
    expect(sourceRange('2001:db8:0:1::5')).not.toBe(sourceRange('2001:db8:0:2::5'));
    expect(sourceRange('::1')).toBe('0:0:0:0::/64');
  });

  it('throttle - an account past its failures gets late answers, never a refusal; a source range past its failures is refused, and only it', () => {
    let now = 0;
    const throttle = new LoginThrottle(DEFAULT_LOGIN_THROTTLE, () => now);
    const delays: number[] = [];
    for (let i = 0; i < 9; i += 1) delays.push(throttle.failed('owner', `10.0.${i}.1`).delayMs);
    expect(delays).toEqual([0, 0, 0, 0, 0, 250, 500, 1000, 2000]);
    expect(() => throttle.checkSource('10.0.0.1')).not.toThrow();
    for (let i = 0; i < 20; i += 1) throttle.failed(`someone-${i}`, `10.9.9.${i}`);
    expect(() => throttle.checkSource('10.9.9.77')).toThrow(expect.objectContaining({ code: ErrorCode.LOGIN_THROTTLED }));
    expect(() => throttle.checkSource('10.9.8.77')).not.toThrow();
    now += 1001;
    expect(() => throttle.checkSource('10.9.9.77')).not.toThrow();
    throttle.succeeded('owner');
    expect(throttle.failed('owner', '10.0.0.1').delayMs).toBe(0);
  });
});
