import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['tests/**/*.test.ts'],
    // Every file talks to real Redis, SQLite files and local HTTP fakes; isolating files in forks
    // keeps their servers and BullMQ connections apart.
    pool: 'forks',
    testTimeout: 30_000,
    hookTimeout: 30_000,
    globalSetup: ['tests/helpers/global-setup.ts'],
  },
});
