/**
 * Per-request context (request id, structured logger, one log line per request) and the body
 * guards (16 KiB limit; JSON for the API, URL-encoded forms for the self-service page). The
 * directory and the key holder both run them.
 * @module
 */
import { bodyLimit } from 'hono/body-limit'
import { createMiddleware } from 'hono/factory'
import { ApiError } from '../errors.ts'
import { createLogger, type Logger } from '../log.ts'

/** What these middlewares read and set: any Worker's app whose requests may carry an authenticated app. */
export interface RequestEnv {
  Variables: { requestId: string; log: Logger; app: { id: string } }
}

/** Largest request body accepted. */
export const MAX_BODY_BYTES = 16 * 1024
/** Largest body of `POST /v1/lookups`: a batch of 1,000 numbers as typed (64 characters each at most). */
export const MAX_LOOKUPS_BODY_BYTES = 80 * 1024
/**
 * Largest body of `POST /v1/evaluate`: 1,000 elements of 43 base64url characters are 46,016
 * bytes of compact JSON; 64 KiB leaves room for a client that indents.
 */
export const MAX_EVALUATE_BODY_BYTES = 64 * 1024

/** Gives each request an id and logger, and logs method, route pattern (never the raw path: it can hold a number), status and duration. */
export const requestContext = createMiddleware<RequestEnv>(async function requestContext(c, next) {
  const requestId = crypto.randomUUID()
  const log = createLogger({ requestId })
  c.set('requestId', requestId)
  c.set('log', log)
  const started = Date.now()
  await next()
  c.header('X-Request-Id', requestId)
  log.info('request', {
    method: c.req.method,
    route: c.req.routePath,
    status: c.res.status,
    ms: Date.now() - started,
    app: c.get('app')?.id,
  })
})

const limitOf = (maxSize: number) =>
  bodyLimit({
    maxSize,
    onError: () => {
      throw new ApiError(413, 'body_too_large', `request body is larger than ${maxSize} bytes`)
    },
  })
const limit = limitOf(MAX_BODY_BYTES)
/** The routes whose batches need a larger body, and their limits. */
const largerLimits: Record<string, ReturnType<typeof limitOf>> = {
  '/v1/lookups': limitOf(MAX_LOOKUPS_BODY_BYTES),
  '/v1/evaluate': limitOf(MAX_EVALUATE_BODY_BYTES),
}

/** Rejects bodies over {@link MAX_BODY_BYTES} (or a batch route's larger limit) and bodies that are not JSON. */
export const bodyGuard = createMiddleware<RequestEnv>(async function bodyGuard(c, next) {
  if (c.req.method === 'GET' || c.req.method === 'HEAD' || c.req.method === 'DELETE') return next()
  const type = c.req.header('Content-Type')?.split(';')[0]?.trim().toLowerCase()
  if (type !== 'application/json') {
    throw new ApiError(415, 'unsupported_media_type', 'send the request body as Content-Type: application/json')
  }
  return (largerLimits[c.req.path] ?? limit)(c, next)
})

/** Rejects bodies over {@link MAX_BODY_BYTES} and bodies that are not URL-encoded HTML forms. */
export const formGuard = createMiddleware<RequestEnv>(async function formGuard(c, next) {
  if (c.req.method === 'GET' || c.req.method === 'HEAD') return next()
  const type = c.req.header('Content-Type')?.split(';')[0]?.trim().toLowerCase()
  if (type !== 'application/x-www-form-urlencoded') {
    throw new ApiError(415, 'unsupported_media_type', 'send the form as Content-Type: application/x-www-form-urlencoded')
  }
  return limit(c, next)
})
