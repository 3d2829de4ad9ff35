import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['{protocol,reference-impl,harness,suites,cli,fixtures,test}/**/*.test.ts'],
    exclude: ['node_modules/**', 'dist/**'],
    testTimeout: 60_000,
    hookTimeout: 30_000,
    pool: 'forks',
  },
});
