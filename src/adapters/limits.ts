/**
 * Limits: the one port for "take one from limit K" ({@link Limit}), and its two adapters. A
 * caller names the limit (how many per window) and the key whose budget it draws on (an app, a
 * country, a client); the adapter decides where the count lives.
 *
 * - {@link exactLimit}: the Limiter Durable Object, one object per key; exact and sliding. For
 *   caps that cost money or must hold to the event.
 * - {@link edgeLimit}: the platform's rate-limit binding (Workers Rate Limiting), counted per
 *   location and approximately, with its limit and period set in wrangler.toml. A flood shield
 *   that turns floods away before they reach a Durable Object; never the only cap on anything
 *   that costs money.
 * @module
 */
import type { Limiter } from '../durable-objects/limiter.ts'
import { rateLimited } from '../errors.ts'

/** A take: counted, or refused with how long until the key's own budget frees one. */
export type Taken = { ok: true } | { ok: false; retryAfterMs: number }

/** At most `max` events per key in any `windowMs`. */
export interface Limit {
  readonly max: number
  readonly windowMs: number
  /** Counts `cost` events (default one) for `key` at `now`, all or none, unless its budget is spent. */
  take(key: string, now: number, cost?: number): Promise<Taken>
}

/** An exact sliding limit kept by the Limiter object named `key`. */
export function exactLimit(limiters: DurableObjectNamespace<Limiter>, max: number, windowMs: number): Limit {
  return {
    max,
    windowMs,
    async take(key, now, cost = 1) {
      const result = await limiters.getByName(key).take(max, windowMs, now, cost)
      return result.ok ? { ok: true } : { ok: false, retryAfterMs: result.retryAfterMs }
    },
  }
}

/**
 * A limit kept by a rate-limit binding; `max` and `windowMs` must be the binding's `simple`
 * limit and period in wrangler.toml. The binding does not say when a refused key frees up, so
 * a refusal asks the caller to wait one whole period, which always suffices. It counts calls,
 * not their cost: a shield against floods of requests.
 */
export function edgeLimit(binding: RateLimit, max: number, windowMs: number): Limit {
  return {
    max,
    windowMs,
    async take(key) {
      const { success } = await binding.limit({ key })
      return success ? { ok: true } : { ok: false, retryAfterMs: windowMs }
    },
  }
}

/**
 * Takes one from `limit` for `key`, or throws `429 rate_limited` saying `what`. A budget that
 * other callers draw on too (`shared`) refuses with the whole window as Retry-After: the time
 * its oldest event leaves would tell this caller when someone else was served.
 */
export async function takeOrRefuse(limit: Limit, key: string, now: number, what: string, shared = false, cost = 1): Promise<void> {
  const taken = await limit.take(key, now, cost)
  if (taken.ok) return
  throw rateLimited(`${what} (${limit.max} per ${limit.windowMs / 1000} s)`, shared ? limit.windowMs : taken.retryAfterMs)
}
