/**
 * One error type for every failure a caller should see, the one table of its codes and
 * statuses, and the one handler's mapping of anything thrown to `{"error":{"code","message"}}`.
 * @module
 */
import type { Context } from 'hono'
import { HTTPException } from 'hono/http-exception'
import type { ContentfulStatusCode } from 'hono/utils/http-status'
import { ConfigError, isRefusal, type Refusal, type RefusalCode } from './core/refusals.ts'

/**
 * ERRORS is every error code the directory answers, with its one status, what it means and
 * whether it carries `Retry-After`. An {@link ApiError} can only be built with a code from here
 * and that code's status (the compiler checks both), /openapi.json declares each route's codes
 * from here, /docs renders this table, and a test holds README's list of errors to it.
 */
export const ERRORS = {
  invalid_request: { status: 400, means: 'a field is missing or malformed (the message names it)' },
  malformed_json: { status: 400, means: 'the body is not valid JSON' },
  invalid_phone: { status: 400, means: 'not a phone number (type it with + and the country code)' },
  invalid_public_key: { status: 400, means: 'publicKey is not base64 or base64url of 32 to 1,024 bytes' },
  invalid_element: { status: 400, means: 'an OPRF element is not the base64url of a ristretto255 element other than the identity (the message names which)' },
  unauthorized: { status: 401, means: 'no token, or not a valid app, admin or holder-session token (a revoked app’s included)' },
  forbidden: { status: 403, means: 'an app may act only for itself (e.g. remove only its own bindings)' },
  invalid_csrf: { status: 403, means: 'the self-service page: a form that has expired or did not come from the page' },
  not_found: { status: 404, means: 'no such route, page or tile' },
  app_not_found: { status: 404, means: 'no app with this id' },
  number_not_found: { status: 404, means: 'no app is bound to this number' },
  binding_not_found: { status: 404, means: 'this number is not bound to this app' },
  verification_not_found: { status: 404, means: 'no such verification (or it is another app’s)' },
  snapshot_not_found: { status: 404, means: 'no snapshot at this size (only the last few are kept)' },
  method_not_allowed: { status: 405, means: 'the route exists but not for this method; Allow lists the methods it takes' },
  app_exists: { status: 409, means: 'an app with this id exists or existed (ids are never reused)' },
  registry_full: { status: 409, means: 'the log has registered its 65,535 apps' },
  verification_expired: { status: 410, means: 'the code is older than 10 minutes: start a new verification' },
  verification_exhausted: { status: 410, means: 'five wrong codes: start a new verification' },
  verification_used: { status: 410, means: 'a holder code that already opened a session: start a new verification' },
  binding_removed: { status: 410, means: 'a code checked again after the binding it recorded was removed: start a new verification' },
  body_too_large: { status: 413, means: 'the body is larger than 16 KiB (POST /v1/lookups: 80 KiB; POST /v1/evaluate: 64 KiB)' },
  unsupported_media_type: { status: 415, means: 'the body is not Content-Type: application/json (the page: a URL-encoded form)' },
  wrong_code: { status: 422, means: 'wrong code; the body carries attemptsLeft' },
  sms_undeliverable: { status: 422, means: 'the SMS provider cannot deliver to this number' },
  rate_limited: { status: 429, means: 'a send or lookup limit is reached; wait Retry-After seconds', retryAfter: true },
  evaluations_exhausted: { status: 429, means: 'the app’s OPRF evaluation budget cannot cover this batch; wait Retry-After seconds', retryAfter: true },
  internal_error: { status: 500, means: 'a bug in the directory (logged)' },
  sms_provider_error: { status: 502, means: 'the SMS provider refused the request' },
  log_unavailable: { status: 503, means: 'the change is recorded but not yet in the published log; retry after Retry-After seconds', retryAfter: true },
  not_configured: { status: 503, means: 'the operator has not configured a secret or setting this request needs' },
  sms_unavailable: { status: 503, means: 'the SMS provider is unavailable; retry after Retry-After seconds', retryAfter: true },
} as const satisfies Record<string, { status: ContentfulStatusCode; means: string; retryAfter?: true }>

/** A code of {@link ERRORS}. */
export type ErrorCode = keyof typeof ERRORS

/** The arguments of {@link ApiError}: a code and its own status from {@link ERRORS}, never another. */
type ApiErrorArgs = {
  [C in ErrorCode]: [
    status: (typeof ERRORS)[C]['status'],
    code: C,
    message: string,
    /** Extra top-level fields of the body (e.g. `attemptsLeft`). */
    extra?: Record<string, unknown>,
    /** Seconds the caller should wait; sent as `Retry-After`. */
    retryAfter?: number,
  ]
}[ErrorCode]

/** An error with an HTTP status and a stable snake_case code from {@link ERRORS}. */
export class ApiError extends Error {
  override readonly name = 'ApiError'
  readonly status: ContentfulStatusCode
  readonly code: ErrorCode
  /** Extra top-level fields of the body (e.g. `attemptsLeft`). */
  readonly extra: Record<string, unknown>
  /** Seconds the caller should wait; sent as `Retry-After`. */
  readonly retryAfter?: number

  constructor(...[status, code, message, extra = {}, retryAfter]: ApiErrorArgs) {
    super(message)
    this.status = status
    this.code = code
    this.extra = extra
    if (retryAfter !== undefined) this.retryAfter = retryAfter
  }

  /** The same error (status, code, fields) with another message, e.g. one that says where in a batch it was. */
  withMessage(message: string): ApiError {
    return new ApiError(...([this.status, this.code, message, this.extra, this.retryAfter] as ApiErrorArgs))
  }
}

/** The error of `code` with its status from {@link ERRORS}, for codes only known at run time. */
function errorOf(code: ErrorCode, message: string, retryAfter?: number): ApiError {
  return new ApiError(...([ERRORS[code].status, code, message, {}, retryAfter] as ApiErrorArgs))
}

/** `429 rate_limited` with `Retry-After` rounded up to whole seconds (at least 1). */
export function rateLimited(message: string, retryAfterMs: number): ApiError {
  return new ApiError(429, 'rate_limited', message, {}, Math.max(1, Math.ceil(retryAfterMs / 1000)))
}

/** The JSON error response for `err`. */
export function errorResponse(c: Context, err: ApiError): Response {
  const body = { error: { code: err.code, message: err.message }, ...err.extra }
  const res = c.json(body, err.status)
  if (err.retryAfter !== undefined) res.headers.set('Retry-After', String(err.retryAfter))
  return res
}

/** The code of an HTTPException (thrown by Hono's own middleware) by its status. */
const CODES_BY_STATUS: Partial<Record<number, ErrorCode>> = {
  400: 'invalid_request',
  401: 'unauthorized',
  403: 'forbidden',
  404: 'not_found',
  413: 'body_too_large',
  415: 'unsupported_media_type',
  429: 'rate_limited',
}

/** The error code each of the core's refusals answers with (its status is the code's, above). */
const REFUSALS: Record<RefusalCode, ErrorCode> = {
  app_exists: 'app_exists',
  app_not_found: 'app_not_found',
  app_revoked: 'unauthorized',
  registry_full: 'registry_full',
  binding_not_found: 'binding_not_found',
  binding_removed: 'binding_removed',
  log_unavailable: 'log_unavailable',
  not_configured: 'not_configured',
}

/** The HTTP error of a refusal. */
export function refusalError(r: Refusal): ApiError {
  return errorOf(REFUSALS[r.code], r.message, r.retryAfter)
}

/** `result` unless it is a refusal, which is thrown as its HTTP error. */
export function orRefuse<T>(result: T | Refusal): T {
  if (isRefusal(result)) throw refusalError(result)
  return result
}

/** Maps any thrown value to an {@link ApiError}; unknown errors become `500 internal_error`. */
export function toApiError(err: unknown): { apiError: ApiError; unexpected: boolean } {
  if (err instanceof ApiError) return { apiError: err, unexpected: false }
  if (err instanceof HTTPException) {
    if (err.status === 400 && /malformed json/i.test(err.message)) {
      return { apiError: new ApiError(400, 'malformed_json', 'request body is not valid JSON'), unexpected: false }
    }
    const code = CODES_BY_STATUS[err.status]
    if (code) return { apiError: errorOf(code, err.message || 'request failed'), unexpected: false }
  }
  if (err instanceof ConfigError) return { apiError: new ApiError(503, 'not_configured', err.message), unexpected: true }
  return { apiError: new ApiError(500, 'internal_error', 'internal error'), unexpected: true }
}
