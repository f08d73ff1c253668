/**
 * Development-only routes. They exist only with SMS_PROVIDER=outbox; in any other
 * configuration they answer 404 exactly like an unknown route, and they are not in the
 * OpenAPI document.
 * @module
 */
import { OpenAPIHono } from '@hono/zod-openapi'
import { createMiddleware } from 'hono/factory'
import { outboxStub } from '../adapters/sms/index.ts'
import { bindAll, sequencer } from '../directory.ts'
import { readLimits, type AppEnv } from '../env.ts'
import { ApiError, orRefuse } from '../errors.ts'
import { requireAdmin } from '../middleware/auth.ts'
import { parsePhone } from './schemas.ts'

export const dev = new OpenAPIHono<AppEnv>()

/**
 * Makes the `/dev/` routes exist only with the outbox: mounted by the app ahead of routing, so
 * that anywhere else a request for them is answered as for a path no route has.
 */
export const devRoutesOnly = createMiddleware<AppEnv>(async function devRoutesOnly(c, next) {
  if (c.env.SMS_PROVIDER !== 'outbox') return c.notFound()
  await next()
})
dev.use('/dev/*', requireAdmin)

dev.get('/dev/outbox', async (c) => {
  const raw = c.req.query('phone')
  const phone = raw === undefined ? undefined : parsePhone(raw).e164
  return c.json({ messages: await outboxStub(c.env).list(phone) })
})

const MAX_SEED = 1000 // about what fits in the 16 KiB body limit

/**
 * Seeds bindings without SMS, for local demos and benchmarks: `{app, phones:[...], batch?}`
 * binds each number to the app exactly as a successful verification would (each is a logged
 * entry with its credential and receipt), all in one Sequencer call, and answers once all are
 * sequenced. With a `batch` id the verifications are named after it, so a retried request
 * binds nothing twice (binding is idempotent per verification).
 */
dev.post('/dev/seed', async (c) => {
  const body = (await c.req.json().catch(() => null)) as { app?: unknown; phones?: unknown; batch?: unknown } | null
  if (
    !body ||
    typeof body.app !== 'string' ||
    !Array.isArray(body.phones) ||
    body.phones.length > MAX_SEED ||
    (body.batch !== undefined && (typeof body.batch !== 'string' || !/^[A-Za-z0-9_-]{1,64}$/.test(body.batch)))
  ) {
    throw new ApiError(400, 'invalid_request', `body must be {app, phones:[...], batch?} with at most ${MAX_SEED} phones and a batch id of at most 64 of [A-Za-z0-9_-]`)
  }
  const phones = body.phones.map((p) => parsePhone(p).e164)
  const app = body.app
  const batch = body.batch ?? crypto.randomUUID()
  const ttlDays = readLimits(c.env).bindingTtlDays
  const now = Date.now()
  const registered = (await sequencer(c.env).apps()).find((a) => a.id === app && a.status === 'active')
  if (!registered) throw new ApiError(400, 'invalid_request', `app ${app} is not registered or is revoked`)
  const bound = await bindAll(
    c.env,
    phones.map((phone, i) => ({ phone, app: registered.num, appId: app, publicKey: null, verificationId: `seed-${batch}-${i}`, now, ttlDays })),
  )
  let last = -1
  for (const b of bound) last = Math.max(last, orRefuse(b).index)
  return c.json({ bound: phones.length, lastIndex: last, ms: Date.now() - now })
})
