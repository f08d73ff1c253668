/**
 * The key holder's registry of apps, in KV `APPS`: an app's record under `app:<id>` (its name,
 * the SHA-256 of its token, and when it was revoked), and `token:<SHA-256 of the token>` naming
 * the app, so a request finds its app by the hash. A token is valid only while the record it
 * names holds that same hash and is not revoked: revoking is one write of the record, which
 * also keeps the id from being registered again (an app's budget lives under its id).
 *
 * KV is eventually consistent: a revocation takes effect at once where it was made and within
 * about 60 s elsewhere, the directory's trade too (docs/storage.md). Tokens are never stored.
 * @module
 */
import { createMiddleware } from 'hono/factory'
import { digestsEqual, sha256Hex } from '../../src/crypto.ts'
import { ApiError } from '../../src/errors.ts'
import { bearerToken } from '../../src/middleware/bearer.ts'
import { toBase64Url } from '../../src/protocol/bytes.ts'
import type { KeyholderApp, KeyholderEnv } from './env.ts'

/** Prefix of the key holder's app tokens: recognisably not the directory's (`whodis_app_`). */
export const KEYHOLDER_TOKEN_PREFIX = 'whodis_kh_'

/** KV key of an app's record. */
export const appKey = (id: string) => `app:${id}`
/** KV key of a token, by the SHA-256 hex of the token. */
export const tokenKey = (tokenHash: string) => `token:${tokenHash}`

/** An app's record under {@link appKey}. */
interface AppRecord {
  v: 1
  name: string
  tokenHash: string
  /** Epoch ms. */
  createdAt: number
  /** Epoch ms; the token is void from then on and the id is never registered again. */
  revokedAt?: number
}

/**
 * Registers app `id` and returns its token (shown once), or null if the id exists or existed.
 * Two registrations of one id racing in different locations can both write; the token of the
 * record that stays is the valid one, and the other registration is told `app_exists` when
 * its location sees the other record first (reading back its own write).
 */
export async function registerApp(kv: KVNamespace, id: string, name: string, now: number): Promise<string | null> {
  if ((await kv.get(appKey(id))) !== null) return null
  const token = KEYHOLDER_TOKEN_PREFIX + toBase64Url(crypto.getRandomValues(new Uint8Array(32)))
  const tokenHash = sha256Hex(token)
  const record: AppRecord = { v: 1, name, tokenHash, createdAt: now }
  // The token's key first: until the record names its hash it is void, so a failure between
  // the two writes leaves no usable token and no id taken.
  await kv.put(tokenKey(tokenHash), id)
  await kv.put(appKey(id), JSON.stringify(record))
  const stored = await kv.get<AppRecord>(appKey(id), 'json')
  if (!stored || !digestsEqual(stored.tokenHash, tokenHash)) {
    await kv.delete(tokenKey(tokenHash))
    return null
  }
  return token
}

/** Revokes app `id` (its token is void from this write on); false if no such app was ever registered. */
export async function revokeApp(kv: KVNamespace, id: string, now: number): Promise<boolean> {
  const record = await kv.get<AppRecord>(appKey(id), 'json')
  if (!record) return false
  if (record.revokedAt === undefined) await kv.put(appKey(id), JSON.stringify({ ...record, revokedAt: now } satisfies AppRecord))
  await kv.delete(tokenKey(record.tokenHash))
  return true
}

/** The app a token belongs to, or null for an unknown, replaced or revoked token. */
export async function appOfToken(kv: KVNamespace, token: string): Promise<KeyholderApp | null> {
  // Looked up by the token's SHA-256: timing depends only on a hash the caller cannot steer
  // toward a real token's.
  const tokenHash = sha256Hex(token)
  const id = await kv.get(tokenKey(tokenHash))
  if (id === null) return null
  const record = await kv.get<AppRecord>(appKey(id), 'json')
  if (!record || record.revokedAt !== undefined || !digestsEqual(record.tokenHash, tokenHash)) return null
  return { id, name: record.name }
}

/** Requires a registered, unrevoked app's token; sets `c.var.app`. */
export const requireApp = createMiddleware<KeyholderEnv>(async function requireApp(c, next) {
  const app = await appOfToken(c.env.APPS, bearerToken(c.req.header('Authorization')))
  if (!app) throw new ApiError(401, 'unauthorized', 'invalid app token')
  c.set('app', app)
  await next()
})

/** Requires the key holder's ADMIN_TOKEN, compared in constant time. */
export const requireAdmin = createMiddleware<KeyholderEnv>(async function requireAdmin(c, next) {
  const secret = c.env.ADMIN_TOKEN
  if (!secret) throw new ApiError(503, 'not_configured', 'ADMIN_TOKEN is not set (wrangler secret put ADMIN_TOKEN)')
  if (!digestsEqual(sha256Hex(bearerToken(c.req.header('Authorization'))), sha256Hex(secret))) {
    throw new ApiError(401, 'unauthorized', 'invalid admin token')
  }
  await next()
})
