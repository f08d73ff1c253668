/**
 * How the Worker reaches its Durable Objects.
 * @module
 */
import { phoneTag } from '../crypto.ts'
import type { Env } from '../env.ts'
import { rateLimited } from '../errors.ts'

/** The one Sequencer of this log. */
export function sequencer(env: Env) {
  return env.SEQUENCER.getByName('log')
}

/** The challenge object of a number, named by a keyed tag so object names do not reveal numbers. */
export function phoneChallenge(env: Env, secret: string, e164: string) {
  return env.PHONE_CHALLENGE.getByName(phoneTag(secret, e164))
}

/** Takes one unit of limit `key`, or throws `429 rate_limited` with Retry-After. */
export async function takeLimit(env: Env, key: string, limit: number, windowMs: number, what: string): Promise<void> {
  const result = await env.LIMITER.getByName(key).take(limit, windowMs, Date.now())
  if (!result.ok) throw rateLimited(`${what} (${limit} per ${windowMs / 1000} s)`, result.retryAfterMs)
}
