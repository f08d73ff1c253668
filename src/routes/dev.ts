/**
 * Development-only routes. They exist only with SMS_PROVIDER=outbox; in any other
 * configuration they answer 404 exactly like an unknown route, and they are not in the
 * OpenAPI document.
 * @module
 */
import { OpenAPIHono } from '@hono/zod-openapi'
import { outboxStub } from '../adapters/sms/index.ts'
import { sequencer } from '../durable-objects/stubs.ts'
import { readLimits, type AppEnv } from '../env.ts'
import { ApiError } from '../errors.ts'
import { requireAdmin } from '../middleware/auth.ts'
import { parsePhone } from './schemas.ts'

export const dev = new OpenAPIHono<AppEnv>()

dev.use('/dev/*', async function outboxOnly(c, next) {
  if (c.env.SMS_PROVIDER !== 'outbox') throw new ApiError(404, 'not_found', `no route ${c.req.method} ${c.req.path}`)
  await next()
})
dev.use('/dev/*', requireAdmin)

dev.get('/dev/outbox', async (c) => {
  const raw = c.req.query('phone')
  const phone = raw === undefined ? undefined : parsePhone(raw).e164
  return c.json({ messages: await outboxStub(c.env).list(phone) })
})

const MAX_SEED = 1000 // about what fits in the 16 KiB body limit
const SEED_PARALLEL = 256

/**
 * Seeds bindings without SMS, for local demos and benchmarks: `{app, phones:[...]}` binds each
 * number to the app exactly as a successful verification would (each is a logged entry), with
 * up to 256 in flight so the Sequencer's rounds batch them. Answers once all are sequenced.
 */
dev.post('/dev/seed', async (c) => {
  const body = (await c.req.json().catch(() => null)) as { app?: unknown; phones?: unknown } | null
  if (!body || typeof body.app !== 'string' || !Array.isArray(body.phones) || body.phones.length > MAX_SEED) {
    throw new ApiError(400, 'invalid_request', `body must be {app, phones:[...]} with at most ${MAX_SEED} phones`)
  }
  const phones = body.phones.map((p) => parsePhone(p).e164)
  const app = body.app
  const seq = sequencer(c.env)
  const ttlDays = readLimits(c.env).bindingTtlDays
  const started = Date.now()
  let next = 0
  let last = -1
  const worker = async () => {
    while (next < phones.length) {
      const phone = phones[next++]!
      const bound = await seq.bind({ phone, app, publicKey: null, verificationId: `seed-${crypto.randomUUID()}`, now: Date.now(), ttlDays })
      if (!bound.ok) throw new ApiError(400, 'invalid_request', `app ${app} is not registered or is revoked`)
      last = Math.max(last, bound.index)
    }
  }
  await Promise.all(Array.from({ length: Math.min(SEED_PARALLEL, phones.length) }, worker))
  return c.json({ bound: phones.length, lastIndex: last, ms: Date.now() - started })
})
