import { afterEach, describe, expect, it, vi } from 'vitest';
import { Progress } from '../../src/util/progress.js';
import { silentLogger } from '../../src/util/logger.js';

const wasTty = process.stderr.isTTY;
afterEach(() => {
  Object.defineProperty(process.stderr, 'isTTY', { value: wasTty, configurable: true });
  vi.restoreAllMocks();
});

describe('progress', () => {
  it('progress - the bar ends at 100 % when the job completed, even when its last update fell in the draw throttle', () => {
    Object.defineProperty(process.stderr, 'isTTY', { value: true, configurable: true });
    const written: string[] = [];
    vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
      written.push(String(chunk));
      return true;
    });
    // Time stands still: the second update falls in the throttle however loaded the machine is.
    vi.spyOn(performance, 'now').mockReturnValue(10_000);
    const progress = new Progress('importing', silentLogger);
    progress.update(86, 100);
    progress.update(100, 100); // within 100 ms of the last draw: not drawn now
    expect(written.join('')).not.toContain('100%');
    progress.finish();
    expect(written.join('')).toMatch(/\[#{30}\] 100% 100\/100\n$/);
  });
});
