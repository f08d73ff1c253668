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
import { lookupBody, NUMBER_NOT_FOUND } from '../protocol/lookup.ts'
import { AppIdParam, BindingEntry, errors, parsePhone, ProofFields } from './schemas.ts'
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
    const now = Date.now()
    const apps = await getNumber(c.env.DIRECTORY, phone.e164, now)
    const receipts =
      c.req.valid('query').proof === '1' && apps.length > 0
        ? new Map((await sequencer(c.env).receipts(apps.map((a) => a.index))).map((r) => [r.index, r]))
        : null
    const body = lookupBody(
      phone.e164,
      apps.map((a) => {
        const proof = receipts?.get(a.index)
        return { app: a.app, verifiedAt: a.verifiedAt / 1000, expiresAt: a.expiresAt / 1000, ...(proof ? { proof } : {}) }
      }),
      now / 1000,
    )
    if (!body) throw new ApiError(404, NUMBER_NOT_FOUND.error.code, NUMBER_NOT_FOUND.error.message)
    return c.json(body, 200)
  },
)

numbers.openapi(
  createRoute({
    method: 'delete',
    path: '/v1/numbers/{phone}/apps/{app}',
    summary: "Remove this app's own binding of a number",
    security,
    request: { params: z.object({ phone: z.string(), app: AppIdParam }) },
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
