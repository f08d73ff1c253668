/**
 * One error type for every failure a caller should see, and the one handler that renders it as
 * `{"error":{"code","message"}}`.
 * @module
 */
import type { Context } from 'hono'
import { HTTPException } from 'hono/http-exception'
import type { ContentfulStatusCode } from 'hono/utils/http-status'
import { ConfigError, isRefusal, type Refusal, type RefusalCode } from './core/refusals.ts'

/** An error with an HTTP status and a stable snake_case code. */
export class ApiError extends Error {
  override readonly name = 'ApiError'
  constructor(
    readonly status: ContentfulStatusCode,
    readonly code: string,
    message: string,
    /** Extra top-level fields of the body (e.g. `attemptsLeft`). */
    readonly extra: Record<string, unknown> = {},
    /** Seconds the caller should wait; sent as `Retry-After`. */
    readonly retryAfter?: number,
  ) {
    super(message)
  }
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

const CODES_BY_STATUS: Record<number, string> = {
  400: 'bad_request',
  401: 'unauthorized',
  403: 'forbidden',
  404: 'not_found',
  405: 'method_not_allowed',
  413: 'body_too_large',
  415: 'unsupported_media_type',
  429: 'rate_limited',
}

/** How each of the core's refusals answers over HTTP: status and the public error code. */
const REFUSALS: Record<RefusalCode, [ContentfulStatusCode, string]> = {
  app_exists: [409, 'app_exists'],
  app_not_found: [404, 'app_not_found'],
  app_revoked: [401, 'unauthorized'],
  registry_full: [409, 'registry_full'],
  binding_not_found: [404, 'binding_not_found'],
  binding_removed: [410, 'binding_removed'],
  log_unavailable: [503, 'log_unavailable'],
  not_configured: [503, 'not_configured'],
}

/** The HTTP error of a refusal. */
export function refusalError(r: Refusal): ApiError {
  const [status, code] = REFUSALS[r.code]
  return new ApiError(status, code, r.message, {}, r.retryAfter)
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
    const status = err.status as ContentfulStatusCode
    return {
      apiError: new ApiError(status, CODES_BY_STATUS[status] ?? 'http_error', err.message || 'request failed'),
      unexpected: status >= 500,
    }
  }
  if (err instanceof ConfigError) return { apiError: new ApiError(503, 'not_configured', err.message), unexpected: true }
  return { apiError: new ApiError(500, 'internal_error', 'internal error'), unexpected: true }
}
