/**
 * Typed refusals: how the core says no. Every command returns either its result or a
 * {@link Refusal}; nothing below the routes builds an HTTP error, and the one table from codes
 * to HTTP statuses lives at the route layer (src/errors.ts).
 * @module
 */

/** Every reason the core can refuse a command. */
export type RefusalCode =
  | 'app_exists'
  | 'app_not_found'
  | 'app_revoked'
  | 'registry_full'
  | 'binding_not_found'
  | 'binding_removed'
  | 'log_unavailable'
  | 'not_configured'

/** A command the core refused, and why, in a sentence a caller can show. */
export interface Refusal {
  ok: false
  code: RefusalCode
  message: string
  /** Seconds after which a retry may succeed (`log_unavailable`). */
  retryAfter?: number
}

/** A refusal. */
export function refuse(code: RefusalCode, message: string, retryAfter?: number): Refusal {
  return retryAfter === undefined ? { ok: false, code, message } : { ok: false, code, message, retryAfter }
}

/** True when `value` is a {@link Refusal}. */
export function isRefusal(value: unknown): value is Refusal {
  return typeof value === 'object' && value !== null && (value as Refusal).ok === false && typeof (value as Refusal).code === 'string'
}

/** A setting the core cannot work without is missing or malformed (a `not_configured` refusal). */
export class ConfigError extends Error {
  override readonly name = 'ConfigError'
}

/** How long a caller should wait after `log_unavailable` before retrying. */
export const LOG_RETRY_SECONDS = 5

/** The refusal for a change that is recorded but not yet in a signed checkpoint. */
export function logUnavailable(): Refusal {
  return refuse('log_unavailable', 'the change is recorded but not yet in the published log; retry shortly', LOG_RETRY_SECONDS)
}
