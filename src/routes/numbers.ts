/**
 * Lookups (answered from the KV projection at the edge) and removal of an app's own binding.
 * @module
 */
import { createRoute, OpenAPIHono, z } from '@hono/zod-openapi'
import { getNumber } from '../adapters/directory-kv.ts'
import { sequencer, takeLimit } from '../durable-objects/stubs.ts'
import { readLimits, type AppEnv } from '../env.ts'
import { ApiError } from '../errors.ts'
import { requireApp } from '../middleware/auth.ts'
import { AppId, BindingEntry, errors, isoSeconds, parsePhone, ProofFields } from './schemas.ts'
import { validationHook } from './validation.ts'

export const numbers = new OpenAPIHono<AppEnv>({ defaultHook: validationHook })
numbers.use('/v1/numbers/*', requireApp)

const security = [{ appToken: [] }]

numbers.openapi(
  createRoute({
    method: 'get',
    path: '/v1/numbers/{phone}',
    summary: 'Which apps a number can be reached on',
    security,
    request: {
      params: z.object({ phone: z.string().openapi({ example: '+16505550011' }) }),
      query: z.object({
        proof: z
          .enum(['0', '1'])
          .optional()
          .openapi({ description: '1: each binding carries its log index, entry and receipt (C2SP tlog-proof)' }),
      }),
    },
    responses: {
      200: {
        description: 'the unexpired bindings, sorted by app',
        content: {
          'application/json': {
            schema: z.object({ phone: z.string(), apps: z.array(BindingEntry.extend(ProofFields.partial().shape)) }).openapi('Lookup'),
          },
        },
      },
      ...errors(400, 401, 404, 429),
    },
  }),
  async (c) => {
    const phone = parsePhone(c.req.valid('param').phone)
    const app = c.var.app
    await takeLimit(c.env, `lookup:${app.id}`, readLimits(c.env).lookupsPerAppMinute, 60_000, 'lookup quota exceeded')
    const apps = await getNumber(c.env.DIRECTORY, phone.e164, Date.now())
    if (apps.length === 0) throw new ApiError(404, 'number_not_found', 'no app is bound to this number')
    const entries = apps.map((a) => ({ app: a.app, verifiedAt: isoSeconds(a.verifiedAt), expiresAt: isoSeconds(a.expiresAt) }))
    if (c.req.valid('query').proof !== '1') return c.json({ phone: phone.e164, apps: entries }, 200)
    const receipts = new Map((await sequencer(c.env).receipts(apps.map((a) => a.index))).map((r) => [r.index, r]))
    return c.json(
      {
        phone: phone.e164,
        apps: entries.map((e, i) => {
          const r = receipts.get(apps[i]!.index)
          return r ? { ...e, index: r.index, entry: r.entry, receipt: r.receipt } : e
        }),
      },
      200,
    )
  },
)

numbers.openapi(
  createRoute({
    method: 'delete',
    path: '/v1/numbers/{phone}/apps/{app}',
    summary: "Remove this app's own binding of a number",
    security,
    request: { params: z.object({ phone: z.string(), app: AppId }) },
    responses: { 204: { description: 'removed' }, ...errors(400, 401, 403, 404) },
  }),
  async (c) => {
    const params = c.req.valid('param')
    const phone = parsePhone(params.phone)
    if (params.app !== c.var.app.id) throw new ApiError(403, 'forbidden', 'an app may remove only its own bindings')
    const removed = await sequencer(c.env).unbind(phone.e164, params.app, 'app', Date.now())
    if (!removed) throw new ApiError(404, 'binding_not_found', 'this number is not bound to this app')
    return c.body(null, 204)
  },
)
