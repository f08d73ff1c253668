/**
 * Development-only routes. They exist only with SMS_PROVIDER=outbox; in any other
 * configuration they answer 404 exactly like an unknown route, and they are not in the
 * OpenAPI document.
 * @module
 */
import { OpenAPIHono } from '@hono/zod-openapi'
import { outboxStub } from '../adapters/sms/index.ts'
import type { AppEnv } from '../env.ts'
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
