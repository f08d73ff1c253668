/**
 * Bearer-token authentication. Tokens are looked up by their SHA-256 and compared in constant
 * time; the raw token is never stored or logged.
 * @module
 */
import { createMiddleware } from 'hono/factory'
import { getTokenApp } from '../adapters/directory-kv.ts'
import { readHolderSession } from '../adapters/holder-sessions.ts'
import { digestsEqual, sha256Hex } from '../crypto.ts'
import { requireSecret, type AppEnv } from '../env.ts'
import { ApiError } from '../errors.ts'
import { bearerToken as bearer } from './bearer.ts'

/** Requires the operator's ADMIN_TOKEN. */
export const requireAdmin = createMiddleware<AppEnv>(async function requireAdmin(c, next) {
  const expected = sha256Hex(requireSecret(c.env, 'ADMIN_TOKEN'))
  if (!digestsEqual(sha256Hex(bearer(c.req.header('Authorization'))), expected)) {
    throw new ApiError(401, 'unauthorized', 'invalid admin token')
  }
  await next()
})

/** Requires a registered, unrevoked app's token; sets `c.var.app`. */
export const requireApp = createMiddleware<AppEnv>(async function requireApp(c, next) {
  const token = bearer(c.req.header('Authorization'))
  const hash = sha256Hex(token)
  // Looked up by the token's SHA-256: timing depends only on a hash the caller cannot steer
  // toward a real token's, so no byte of a stored token can be learned from it.
  const app = await getTokenApp(c.env.DIRECTORY, hash)
  if (!app) throw new ApiError(401, 'unauthorized', 'invalid app token')
  c.set('app', app)
  await next()
})

/** Requires a live holder session token (from POST /v1/holder/verifications/:id/check); sets `c.var.holder`. */
export const requireHolder = createMiddleware<AppEnv>(async function requireHolder(c, next) {
  const holder = await readHolderSession(c.env.DIRECTORY, bearer(c.req.header('Authorization')), Date.now())
  if (!holder) throw new ApiError(401, 'unauthorized', 'invalid or expired holder session; verify the number again')
  c.set('holder', holder)
  await next()
})
