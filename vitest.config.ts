import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Integration and end-to-end files start emulators and synthesize the app: give them room on 2 cores.
    // A test's limit is there to end a hang, not to judge speed: on a shared, loaded machine a test that
    // runs the keys CLI a few times or restarts a gateway takes minutes, and must still pass.
    testTimeout: 180_000,
    hookTimeout: 300_000, // a beforeAll that synthesizes the app and starts the emulators, on a loaded machine
    maxWorkers: 2,
    reporters: ['default', './test/summary-reporter.ts'],
  },
});
