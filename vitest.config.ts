import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // The client's list, cancel and delete: their routes (issue 13) do not exist yet. Remove when they land.
    exclude: ['**/node_modules/**', 'test/integration/client-task-api.test.ts', 'test/e2e/playground-task-api.test.ts'],
    // Integration and end-to-end files start emulators and synthesize the app: give them room on 2 cores.
    // A test's limit is there to end a hang, not to judge speed: on a shared, loaded machine a test that
    // runs the keys CLI a few times or restarts a gateway takes minutes, and must still pass.
    testTimeout: 180_000,
    hookTimeout: 300_000, // a beforeAll that synthesizes the app and starts the emulators, on a loaded machine
    maxWorkers: 2,
    reporters: ['default', './test/summary-reporter.ts'],
  },
});
