import { cloudflareTest } from '@cloudflare/vitest-pool-workers'
import { defineConfig } from 'vitest/config'
import { installHarmlessOutputFilter } from './test/harmless-output.ts'

// The runtime's known-harmless lines (a closed test socket, a refused fetch the code handles).
installHarmlessOutputFilter()

/** Secrets the Worker tests run with; `npm start` generates real ones into .dev.vars. */
export const testSecrets = {
  ADMIN_TOKEN: 'test-admin-token-0123456789abcdef0123456789abcdef',
  HMAC_SECRET: 'test-hmac-secret-0123456789abcdef0123456789abcdef',
  // A fixed test key (seed 0x01..0x20); its verifier key is
  // whodis.localhost/log+d137ea6d+AXm1Vi6P5lT5QHixEuipi6eQH4U65pW+1+DjkQutBJZk
  LOG_SIGNING_KEY: 'PRIVATE+KEY+whodis.localhost/log+d137ea6d+AQECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8g',
  SMS_PROVIDER: 'outbox',
  // Rounds 1 s apart would make every sequential write in a test wait; pacing has its own test.
  LOG_ROUND_MS: '20',
  // wrangler also loads `npm start`'s .dev.vars here: real Twilio credentials there must not
  // let a test reach Twilio (tests that need them pass their own).
  TWILIO_ACCOUNT_SID: '',
  TWILIO_AUTH_TOKEN: '',
}

export default defineConfig({
  test: {
    // Logs of passing tests are noise; a failing test shows its own.
    silent: 'passed-only',
    reporters: ['default', './test/summary-reporter.ts'],
    projects: [
      {
        plugins: [
          cloudflareTest({
            main: './src/index.ts',
            wrangler: { configPath: './wrangler.toml' },
            miniflare: { bindings: testSecrets },
          }),
        ],
        test: {
          name: 'worker',
          include: ['test/worker/**/*.test.ts'],
          // A safety net, not a time limit: vitest's default (5 s) is within reach of the slowest
          // tests on a loaded machine.
          testTimeout: 30_000,
        },
      },
      {
        test: {
          name: 'node',
          include: ['test/protocol/**/*.test.ts', 'test/core/**/*.test.ts', 'test/node/**/*.test.ts', 'replicas/test/**/*.test.ts'],
          environment: 'node',
          // They import the SDK by name, from dist/: rebuilt first if its sources changed.
          globalSetup: ['./test/build-client.ts'],
          testTimeout: 60_000,
          hookTimeout: 120_000,
        },
      },
    ],
  },
})
