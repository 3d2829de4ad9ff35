import { defineConfig } from 'vitest/config';

/**
 * Two groups, run one after the other: the unit and component tests first (files in
 * parallel), then the system tests that load both cores on their own (the conformance
 * self-test runs nine target processes at once; the bench tests saturate the CPU on
 * purpose), one file at a time, so neither skews the other's timers.
 */
const SYSTEM_TESTS = ['test/self-test.test.ts', 'test/bench.test.ts', 'test/bench-shm.test.ts', 'test/crash.test.ts', 'test/fuzz.test.ts', 'test/soak.test.ts'];

export default defineConfig({
  test: {
    exclude: ['node_modules/**', 'dist/**'],
    testTimeout: 60_000,
    hookTimeout: 30_000,
    pool: 'forks',
    projects: [
      {
        extends: true,
        test: {
          name: 'unit',
          include: ['{protocol,ring,reference-impl,harness,suites,cli,fixtures,test}/**/*.test.ts'],
          exclude: ['node_modules/**', 'dist/**', ...SYSTEM_TESTS],
          sequence: { groupOrder: 0 },
        },
      },
      {
        extends: true,
        test: {
          name: 'system',
          include: SYSTEM_TESTS,
          fileParallelism: false,
          sequence: { groupOrder: 1 },
        },
      },
    ],
  },
});
