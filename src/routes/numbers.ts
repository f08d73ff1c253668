/**
 * Lookups (answered from the KV projection at the edge), one number by URL or a batch by body
 * (`POST /v1/lookups`, which keeps numbers out of URLs and so out of request logs); the app
 * registrations that let a client check a proof's app; and removal of an app's own binding.
 * Receipts come from the tiles in R2: no lookup calls the writer.
 * @module
 */
import { createRoute, OpenAPIHono, z } from '@hono/zod-openapi'
import { getNumber, getNumbers, type ProjectedLookup } from '../adapters/directory-kv.ts'
import { isRefusal } from '../core/refusals.ts'
import { receiptsAt, sequencer, shardFor } from '../directory.ts'
import { takeLimit } from '../durable-objects/stubs.ts'
import { readLimits, type AppEnv, type Env } from '../env.ts'
import { ApiError, orRefuse } from '../errors.ts'
import { requireApp } from '../middleware/auth.ts'
import { toBase64 } from '../protocol/bytes.ts'
import { lookupBody, lookupResult, lookupsBody, LookupsRequestError, NUMBER_NOT_FOUND, parseLookupsRequest, type LookupBinding } from '../protocol/lookup.ts'
import { normalizePhone } from '../protocol/phone.ts'
import { AppId, AppIdParam, AppRegistration, errors, LookupAnswer, LookupsAnswer, LookupsRequest, parsePhone } from './schemas.ts'
import { validationHook } from './validation.ts'

export const numbers = new OpenAPIHono<AppEnv>({ defaultHook: validationHook })
numbers.use('/v1/numbers/*', requireApp)
numbers.use('/v1/lookups', requireApp)
numbers.use('/v1/apps/*', requireApp)

const security = [{ appToken: [] }]

/** Takes `count` lookups from the app's per-minute quota, all or none. */
function takeLookups(env: Env, app: string, count: number): Promise<void> {
  return takeLimit(env, `lookup:${app}`, readLimits(env).lookupsPerAppMinute, 60_000, 'lookup quota exceeded', Date.now(), count)
}

/** Receipts for the bindings' entries, all against one checkpoint, by index. */
async function receiptsFor(env: Env, bindings: readonly ProjectedLookup[]): Promise<Map<number, string>> {
  if (bindings.length === 0) return new Map()
  const indexes = [...new Set(bindings.map((b) => b.index))]
  const receipts = await receiptsAt(env, indexes)
  return new Map(indexes.map((index, i) => [index, receipts[i]!]))
}

/** The projection's bindings as the shared answer builder takes them (seconds, with a proof when there is one). */
function toLookupBindings(bindings: readonly ProjectedLookup[], receipts: Map<number, string> | null): LookupBinding[] {
  return bindings.map((a) => {
    const receipt = receipts?.get(a.index)
    return {
      app: a.app,
      verifiedAt: a.verifiedAt / 1000,
      expiresAt: a.expiresAt / 1000,
      ...(receipt ? { proof: { index: a.index, entry: toBase64(a.entry), receipt } } : {}),
    }
  })
}

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
      200: { description: 'the unexpired bindings, sorted by app', content: { 'application/json': { schema: LookupAnswer } } },
      ...errors('invalid_request', 'invalid_phone', 'unauthorized', 'number_not_found', 'rate_limited', 'not_configured'),
    },
  }),
  async (c) => {
    const phone = parsePhone(c.req.valid('param').phone)
    await takeLookups(c.env, c.var.app.id, 1)
    const now = Date.now()
    const apps = await getNumber(c.env.DIRECTORY, phone.e164, now)
    const receipts = c.req.valid('query').proof === '1' ? await receiptsFor(c.env, apps) : null
    const body = lookupBody(phone.e164, toLookupBindings(apps, receipts), now / 1000)
    if (!body) throw new ApiError(404, NUMBER_NOT_FOUND.error.code, NUMBER_NOT_FOUND.error.message)
    return c.json(body, 200)
  },
)

numbers.openapi(
  createRoute({
    method: 'post',
    path: '/v1/lookups',
    operationId: 'lookupNumbers',
    tags: ['numbers'],
    summary: 'Which apps each of many numbers can be reached on (contact discovery; no number in the URL)',
    description:
      'One result per number asked, in the order asked, each with its unexpired bindings or none (`apps: []`, never a 404). ' +
      "A batch of n numbers costs n lookups of the app's quota, taken all or none. With `proof: true` every binding carries " +
      'the fields of `GET /v1/numbers/{phone}?proof=1`, all against one checkpoint.',
    security,
    request: { body: { required: true, content: { 'application/json': { schema: LookupsRequest } } } },
    responses: {
      200: { description: 'one result per number asked, in order', content: { 'application/json': { schema: LookupsAnswer } } },
      ...errors('invalid_request', 'malformed_json', 'invalid_phone', 'unauthorized', 'body_too_large', 'unsupported_media_type', 'rate_limited', 'not_configured'),
    },
  }),
  async (c) => {
    let request
    try {
      request = parseLookupsRequest(c.req.valid('json'), (phone) => normalizePhone(phone).e164)
    } catch (err) {
      if (err instanceof LookupsRequestError) throw new ApiError(400, err.code, err.message)
      throw err
    }
    await takeLookups(c.env, c.var.app.id, request.phones.length)
    const now = Date.now()
    const found = await getNumbers(c.env.DIRECTORY, request.phones, now)
    const receipts = request.proof ? await receiptsFor(c.env, [...found.values()].flat()) : null
    const results = request.phones.map((phone) => lookupResult(phone, toLookupBindings(found.get(phone)!, receipts), now / 1000))
    return c.json(lookupsBody(results), 200)
  },
)

numbers.openapi(
  createRoute({
    method: 'get',
    path: '/v1/apps/{id}',
    operationId: 'getAppRegistration',
    tags: ['numbers'],
    summary: "An app's registration: its app-register log entry and a receipt",
    description:
      'Binding entries name an app by its number (u16); answers name it by id. The app-register entry ties the two, and its ' +
      'receipt proves the log holds it, so a client checks which app a proof is about without trusting the server (the SDK ' +
      'fetches each app once and keeps it). Costs one lookup of the quota.',
    security,
    request: { params: z.object({ id: AppId }) },
    responses: {
      200: { description: 'the registration', content: { 'application/json': { schema: AppRegistration } } },
      ...errors('invalid_request', 'unauthorized', 'app_not_found', 'rate_limited', 'log_unavailable', 'not_configured'),
    },
  }),
  async (c) => {
    const { id } = c.req.valid('param')
    await takeLookups(c.env, c.var.app.id, 1)
    const registration = orRefuse(await sequencer(c.env).appRegistration(id))
    return c.json({ app: id, index: registration.index, entry: registration.entry, receipt: registration.receipt }, 200)
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
    request: { params: z.object({ phone: z.string(), app: AppIdParam }) },
    responses: { 204: { description: 'removed' }, ...errors('invalid_request', 'invalid_phone', 'unauthorized', 'forbidden', 'binding_not_found', 'log_unavailable', 'not_configured') },
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
