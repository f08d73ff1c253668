/**
 * The start-up check a Worker cannot run at start-up: while LOG_SIGNING_KEY cannot sign for
 * LOG_ORIGIN (missing, malformed, or named otherwise), every route that depends on the log
 * answers `503 not_configured` saying why, before it reads or changes anything.
 * @module
 */
import { createMiddleware } from 'hono/factory'
import type { AppEnv } from '../env.ts'
import { logSigner } from '../log-key.ts'

/** Requires a log signing key named LOG_ORIGIN (see the module comment). */
export const requireLogKey = createMiddleware<AppEnv>(async function requireLogKey(c, next) {
  await logSigner(c.env.LOG_SIGNING_KEY, c.env.LOG_ORIGIN)
  await next()
})
