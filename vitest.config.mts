import { cloudflareTest } from '@cloudflare/vitest-pool-workers'
import { defineConfig } from 'vitest/config'

/** Secrets the Worker tests run with; `npm start` generates real ones into .dev.vars. */
export const testSecrets = {
  ADMIN_TOKEN: 'test-admin-token-0123456789abcdef0123456789abcdef',
  HMAC_SECRET: 'test-hmac-secret-0123456789abcdef0123456789abcdef',
  LOG_SIGNING_KEY:
    'PRIVATE+KEY+whodis.localhost/log+6b1a6b8c+AXkX0o3cPn6w4k2JlHgqM6b7xP1nQe2r3s4t5u6v7w8y',
  SMS_PROVIDER: 'outbox',
}

export default defineConfig({
  test: {
    projects: [
      {
        plugins: [
          cloudflareTest({
            main: './src/index.ts',
            wrangler: { configPath: './wrangler.toml' },
            miniflare: { bindings: testSecrets },
          }),
        ],
        test: { name: 'worker', include: ['test/worker/**/*.test.ts'] },
      },
      {
        test: {
          name: 'node',
          include: ['test/protocol/**/*.test.ts', 'test/node/**/*.test.ts', 'replicas/test/**/*.test.ts'],
          environment: 'node',
          testTimeout: 60_000,
          hookTimeout: 120_000,
        },
      },
    ],
  },
})
