/**
 * The directory Worker as the benchmarks run it: `src/index.ts` unchanged (its routes, cron and
 * Durable Objects), except that a request carrying {@link WITHOUT_LIMITER} runs with a LIMITER
 * whose every object grants, so that a lookup's cost can be measured with and without its call
 * to the app's Limiter. Never deployed: only `bench/directory.ts` starts it.
 * @module
 */
import directory from '../src/index.ts'
import type { Env } from '../src/env.ts'
import { WITHOUT_LIMITER } from './worker-switches.ts'

export * from '../src/index.ts'

/** A LIMITER namespace whose objects grant every `take`. */
const granting = {
  getByName: () => ({ take: async (limit: number) => ({ ok: true as const, remaining: limit }) }),
} as unknown as Env['LIMITER']

export default {
  ...directory,
  fetch(request, env, ctx) {
    return directory.fetch(request, request.headers.has(WITHOUT_LIMITER) ? { ...env, LIMITER: granting } : env, ctx)
  },
} satisfies ExportedHandler<Env>
