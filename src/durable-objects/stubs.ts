/**
 * How the Worker reaches its per-number and per-limit Durable Objects (the write path's are in
 * src/directory.ts).
 * @module
 */
import { exactLimit, takeOrRefuse } from '../adapters/limits.ts'
import { phoneTag } from '../crypto.ts'
import type { Env } from '../env.ts'
import { ApiError } from '../errors.ts'

/** The challenge object of a number, named by a keyed tag so object names do not reveal numbers. */
export function phoneChallenge(env: Env, secret: string, e164: string) {
  return env.PHONE_CHALLENGE.getByName(phoneTag(secret, e164))
}

/**
 * Takes `cost` units (default one) of the exact limit `key` (`limit` per sliding `windowMs`),
 * all or none, or throws `429 rate_limited` with Retry-After.
 */
export async function takeLimit(env: Env, key: string, limit: number, windowMs: number, what: string, now = Date.now(), cost = 1): Promise<void> {
  await takeOrRefuse(exactLimit(env.LIMITER, limit, windowMs), key, now, what, false, cost)
}

/** Challenge ids: the challenge object's id (64 hex) and 128 random bits (32 hex). */
export const CHALLENGE_ID = /^[0-9a-f]{96}$/

/**
 * Judges `mac` (the code's MAC) against challenge `id` on behalf of `owner` (an app id, or the
 * operator's holder id); returns the proven number and key, or throws the matching ApiError:
 * 404 unknown (or another owner's), 410 expired, exhausted or (with `singleUse`) already used,
 * 422 wrong with attempts left.
 */
export async function checkChallenge(
  env: Env,
  id: string,
  owner: string,
  mac: (id: string) => string,
  now: number,
  singleUse = false,
): Promise<{ phone: string; publicKey: string | null }> {
  const notFound = new ApiError(404, 'verification_not_found', 'no such verification')
  if (!CHALLENGE_ID.test(id)) throw notFound
  let objectId: DurableObjectId
  try {
    objectId = env.PHONE_CHALLENGE.idFromString(id.slice(0, 64))
  } catch {
    throw notFound
  }
  const result = await env.PHONE_CHALLENGE.get(objectId).check(id, owner, mac(id), now, singleUse)
  switch (result.status) {
    case 'not_found':
      throw notFound
    case 'expired':
      throw new ApiError(410, 'verification_expired', 'this code has expired; start a new verification')
    case 'exhausted':
      throw new ApiError(410, 'verification_exhausted', 'too many wrong codes; start a new verification')
    case 'spent':
      throw new ApiError(410, 'verification_used', 'this code has already been used; start a new verification')
    case 'wrong':
      throw new ApiError(422, 'wrong_code', 'wrong code', { attemptsLeft: result.attemptsLeft })
  }
  return { phone: result.phone, publicKey: result.publicKey }
}
