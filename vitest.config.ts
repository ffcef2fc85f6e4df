import { defineConfig } from 'vitest/config';

// Timing tests (a latency bound under attack) run alone, after everything else: on a 2-core box
// other test files' processes would otherwise be measured along with the server under test.
const TIMING = 'test/**/*.timing.test.ts';

export default defineConfig({
  test: {
    testTimeout: 20_000,
    hookTimeout: 20_000,
    pool: 'forks',
    projects: [
      { extends: true, test: { name: 'main', include: ['test/**/*.test.ts'], exclude: [TIMING], sequence: { groupOrder: 0 } } },
      { extends: true, test: { name: 'timing', include: [TIMING], fileParallelism: false, sequence: { groupOrder: 1 } } },
    ],
  },
});
