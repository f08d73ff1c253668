/**
 * The holder API: the JSON twin of the self-service page. A person (or an app acting as their
 * client, e.g. through the SDK) proves a number with an SMS code sent on the operator's own
 * behalf, gets a 30-minute holder session token, lists the number's bindings and log entries,
 * removes any binding and ends the session.
 * @module
 */
import { createRoute, OpenAPIHono, z } from '@hono/zod-openapi'
import { deleteHolderSession } from '../adapters/holder-sessions.ts'
import type { AppEnv } from '../env.ts'
import { requireHolder } from '../middleware/auth.ts'
import { checkHolderCode, holderOverview, removeHolderBinding, startHolderVerification } from './holder-flow.ts'
import { AppId, AppIdParam, BindingEntry, errors, isoSeconds, Phone, Timestamp } from './schemas.ts'
import { validationHook } from './validation.ts'

export const holder = new OpenAPIHono<AppEnv>({ defaultHook: validationHook })
holder.use('/v1/holder/bindings', requireHolder)
holder.use('/v1/holder/bindings/*', requireHolder)
holder.use('/v1/holder/session', requireHolder)

const security = [{ holderSession: [] }]

holder.openapi(
  createRoute({
    method: 'post',
    path: '/v1/holder/verifications',
    operationId: 'startHolderVerification',
    tags: ['holder'],
    security: [],
    summary: "Send a one-time code to a number on its holder's own behalf",
    description:
      "No token: anyone may ask for a code, which only the number can read. Limited per client address (a flood shield and SMS_HOLDER_PER_CLIENT_HOUR), in all (SMS_HOLDER_PER_MINUTE) and per number (SMS_HOLDER_PER_NUMBER_HOUR, SMS_HOLDER_PER_NUMBER_DAY: the number's holder budget, apart from the codes apps send). Every window slides; a 429's Retry-After derives only from the caller's own budget, or is the whole window when the budget is shared.",
    request: {
      body: { required: true, content: { 'application/json': { schema: z.object({ phone: Phone }) } } },
    },
    responses: {
      201: {
        description: 'code sent ("whodis code: NNNNNN")',
        content: { 'application/json': { schema: z.object({ id: z.string(), expiresAt: Timestamp }) } },
      },
      ...errors(
        'invalid_request',
        'malformed_json',
        'invalid_phone',
        'body_too_large',
        'unsupported_media_type',
        'sms_undeliverable',
        'rate_limited',
        'sms_provider_error',
        'sms_unavailable',
        'not_configured',
      ),
    },
  }),
  async (c) => {
    const started = await startHolderVerification(c.env, c.req.valid('json').phone, c.req.header('CF-Connecting-IP'), c.var.log)
    return c.json({ id: started.id, expiresAt: isoSeconds(started.expiresAt) }, 201)
  },
)

holder.openapi(
  createRoute({
    method: 'post',
    path: '/v1/holder/verifications/{id}/check',
    operationId: 'checkHolderVerification',
    tags: ['holder'],
    security: [],
    summary: 'Check a holder code; a right one opens a 30-minute holder session',
    request: {
      params: z.object({ id: z.string() }),
      body: {
        required: true,
        content: {
          'application/json': { schema: z.object({ code: z.string().regex(/^[0-9]{6}$/, 'code must be 6 digits') }) },
        },
      },
    },
    responses: {
      200: {
        description: 'verified: a holder session token (shown once; send it as Authorization: Bearer)',
        content: {
          'application/json': {
            schema: z.object({ token: z.string(), phone: z.string().openapi({ example: '+16505550011' }), expiresAt: Timestamp }),
          },
        },
      },
      ...errors(
        'invalid_request',
        'malformed_json',
        'verification_not_found',
        'verification_expired',
        'verification_exhausted',
        'verification_used',
        'body_too_large',
        'unsupported_media_type',
        'wrong_code',
        'not_configured',
      ),
    },
  }),
  async (c) => {
    const session = await checkHolderCode(c.env, c.req.valid('param').id, c.req.valid('json').code, c.var.log)
    return c.json({ token: session.token, phone: session.phone, expiresAt: isoSeconds(session.expiresAt) }, 200)
  },
)

const HolderEntry = z
  .object({
    index: z.number().openapi({ description: 'log index' }),
    op: z.enum(['add', 'renew', 'remove', 'expire']),
    app: AppId,
    at: Timestamp,
    reason: z
      .enum(['app', 'holder', 'reassigned', 'app_revoked'])
      .nullable()
      .openapi({ description: 'why a binding was removed: by its app, by the holder, number reassigned, app revoked' }),
  })
  .openapi('HolderEntry')

holder.openapi(
  createRoute({
    method: 'get',
    path: '/v1/holder/bindings',
    operationId: 'listHolderBindings',
    tags: ['holder'],
    summary: "The holder's number: every app it is bound to and the log entries that touch it",
    security,
    responses: {
      200: {
        description: 'bindings sorted by app; entries newest first (at most 100)',
        content: {
          'application/json': {
            schema: z.object({
              phone: z.string(),
              apps: z.array(BindingEntry),
              entries: z.array(HolderEntry),
              more: z.boolean().openapi({ description: 'older entries exist beyond those listed' }),
            }),
          },
        },
      },
      ...errors('unauthorized'),
    },
  }),
  async (c) => {
    const view = await holderOverview(c.env, c.var.holder.phone)
    return c.json(
      {
        phone: view.phone,
        apps: view.bindings.map((b) => ({ app: b.app, verifiedAt: isoSeconds(b.verifiedAt), expiresAt: isoSeconds(b.expiresAt) })),
        entries: view.entries.map((e) => ({
          index: e.index,
          op: e.op as 'add' | 'renew' | 'remove' | 'expire',
          app: e.app,
          at: isoSeconds(e.at),
          reason: e.reason,
        })),
        more: view.more,
      },
      200,
    )
  },
)

holder.openapi(
  createRoute({
    method: 'delete',
    path: '/v1/holder/bindings/{app}',
    operationId: 'removeHolderBinding',
    tags: ['holder'],
    summary: "Remove any app's binding of the holder's number (logged with reason holder)",
    security,
    request: { params: z.object({ app: AppIdParam }) },
    responses: { 204: { description: 'removed' }, ...errors('invalid_request', 'unauthorized', 'binding_not_found', 'log_unavailable') },
  }),
  async (c) => {
    await removeHolderBinding(c.env, c.var.holder.phone, c.req.valid('param').app, c.var.log)
    return c.body(null, 204)
  },
)

holder.openapi(
  createRoute({
    method: 'delete',
    path: '/v1/holder/session',
    operationId: 'endHolderSession',
    tags: ['holder'],
    summary: 'End the holder session',
    security,
    responses: { 204: { description: 'ended' }, ...errors('unauthorized') },
  }),
  async (c) => {
    await deleteHolderSession(c.env.DIRECTORY, c.var.holder.tokenHash)
    return c.body(null, 204)
  },
)
