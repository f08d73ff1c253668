/**
 * Lookups (answered from the KV projection at the edge) and removal of an app's own binding.
 * @module
 */
import { createRoute, OpenAPIHono, z } from '@hono/zod-openapi'
import { getNumber } from '../adapters/directory-kv.ts'
import { receiptsAt, shardFor } from '../directory.ts'
import { takeLimit } from '../durable-objects/stubs.ts'
import { readLimits, type AppEnv } from '../env.ts'
import { ApiError, orRefuse } from '../errors.ts'
import { toBase64 } from '../protocol/bytes.ts'
import { requireApp } from '../middleware/auth.ts'
import { isRefusal } from '../core/refusals.ts'
import { lookupBody, NUMBER_NOT_FOUND } from '../protocol/lookup.ts'
import { AppId, BindingEntry, errors, parsePhone, ProofFields } from './schemas.ts'
import { validationHook } from './validation.ts'

export const numbers = new OpenAPIHono<AppEnv>({ defaultHook: validationHook })
numbers.use('/v1/numbers/*', requireApp)

const security = [{ appToken: [] }]

numbers.openapi(
  createRoute({
    method: 'get',
    path: '/v1/numbers/{phone}',
    operationId: 'lookupNumber',
    tags: ['numbers'],
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
      ...errors('invalid_request', 'invalid_phone', 'unauthorized', 'number_not_found', 'rate_limited', 'not_configured'),
    },
  }),
  async (c) => {
    const phone = parsePhone(c.req.valid('param').phone)
    const app = c.var.app
    await takeLimit(c.env, `lookup:${app.id}`, readLimits(c.env).lookupsPerAppMinute, 60_000, 'lookup quota exceeded')
    const now = Date.now()
    const apps = await getNumber(c.env.DIRECTORY, phone.e164, now)
    const receipts = c.req.valid('query').proof === '1' && apps.length > 0 ? await receiptsAt(c.env, apps.map((a) => a.index)) : null
    const body = lookupBody(
      phone.e164,
      apps.map((a, i) => ({
        app: a.app,
        verifiedAt: a.verifiedAt / 1000,
        expiresAt: a.expiresAt / 1000,
        ...(receipts ? { proof: { index: a.index, entry: toBase64(a.entry), receipt: receipts[i]! } } : {}),
      })),
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
    operationId: 'removeBinding',
    tags: ['numbers'],
    summary: "Remove this app's own binding of a number",
    security,
    request: { params: z.object({ phone: z.string(), app: AppId }) },
    responses: { 204: { description: 'removed' }, ...errors('invalid_request', 'invalid_phone', 'unauthorized', 'forbidden', 'binding_not_found', 'log_unavailable') },
  }),
  async (c) => {
    const params = c.req.valid('param')
    const phone = parsePhone(params.phone)
    if (params.app !== c.var.app.id) throw new ApiError(403, 'forbidden', 'an app may remove only its own bindings')
    const { rpc, shard, subject } = shardFor(c.env, phone.e164)
    const removed = await rpc.unbind(shard, subject, params.app, 'app', Date.now())
    if (isRefusal(removed) && removed.code === 'binding_not_found') throw new ApiError(404, 'binding_not_found', 'this number is not bound to this app')
    orRefuse(removed)
    return c.body(null, 204)
  },
)
