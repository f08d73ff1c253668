/**
 * Operator routes: register and revoke apps, apply reassigned-number reports.
 * @module
 */
import { createRoute, OpenAPIHono, z } from '@hono/zod-openapi'
import { newAppToken, sha256Hex } from '../crypto.ts'
import { reassignAll, sequencer } from '../directory.ts'
import type { AppEnv } from '../env.ts'
import { ApiError, orRefuse } from '../errors.ts'
import { requireAdmin } from '../middleware/auth.ts'
import { AppIdParam, AppName, errors, NewAppId, parsePhone, Phone } from './schemas.ts'
import { validationHook } from './validation.ts'

export const admin = new OpenAPIHono<AppEnv>({ defaultHook: validationHook })
admin.use('/v1/admin/*', requireAdmin)

const security = [{ adminToken: [] }]

admin.openapi(
  createRoute({
    method: 'post',
    path: '/v1/admin/apps',
    operationId: 'createApp',
    tags: ['admin'],
    summary: 'Register an app; its token is shown once',
    security,
    request: {
      body: {
        required: true,
        content: {
          'application/json': {
            schema: z.object({
              id: NewAppId,
              name: AppName,
            }),
          },
        },
      },
    },
    responses: {
      201: {
        description: 'registered',
        content: { 'application/json': { schema: z.object({ id: NewAppId, name: z.string(), token: z.string() }) } },
      },
      ...errors('invalid_request', 'malformed_json', 'unauthorized', 'app_exists', 'registry_full', 'body_too_large', 'unsupported_media_type', 'log_unavailable', 'not_configured'),
    },
  }),
  async (c) => {
    const { id, name } = c.req.valid('json')
    const token = newAppToken()
    orRefuse(await sequencer(c.env).registerApp(id, name, sha256Hex(token)))
    c.var.log.info('app_created', { appId: id })
    return c.json({ id, name, token }, 201)
  },
)

admin.openapi(
  createRoute({
    method: 'delete',
    path: '/v1/admin/apps/{id}',
    operationId: 'revokeApp',
    tags: ['admin'],
    summary: 'Revoke an app and remove its bindings',
    security,
    request: { params: z.object({ id: AppIdParam }) },
    responses: {
      200: {
        description: 'revoked',
        content: {
          'application/json': { schema: z.object({ id: z.string(), revoked: z.boolean(), bindingsRemoved: z.number() }) },
        },
      },
      ...errors('invalid_request', 'unauthorized', 'app_not_found', 'log_unavailable', 'not_configured'),
    },
  }),
  async (c) => {
    const { id } = c.req.valid('param')
    const result = orRefuse(await sequencer(c.env).revokeApp(id))
    c.var.log.info('app_revoked', { appId: id, bindingsRemoved: result.removed })
    return c.json({ id, revoked: true, bindingsRemoved: result.removed }, 200)
  },
)

const DisconnectedAt = z
  .union([z.iso.date(), z.iso.datetime({ offset: true })])
  .openapi({ example: '2026-10-01', description: 'date (start of that day, UTC) or date-time' })

admin.openapi(
  createRoute({
    method: 'post',
    path: '/v1/admin/reassigned',
    operationId: 'reportReassignedNumbers',
    tags: ['admin'],
    summary: 'Remove bindings of reassigned numbers verified before their disconnection',
    security,
    request: {
      body: {
        required: true,
        content: {
          'application/json': {
            schema: z.object({
              numbers: z.array(z.object({ phone: Phone, disconnectedAt: DisconnectedAt })).min(1).max(500),
            }),
          },
        },
      },
    },
    responses: {
      200: { description: 'applied', content: { 'application/json': { schema: z.object({ removed: z.number() }) } } },
      ...errors('invalid_request', 'malformed_json', 'invalid_phone', 'unauthorized', 'body_too_large', 'unsupported_media_type', 'log_unavailable', 'not_configured'),
    },
  }),
  async (c) => {
    const { numbers } = c.req.valid('json')
    // Check every report before applying any: the batch applies whole or not at all.
    const reports = numbers.map(({ phone, disconnectedAt }, i) => {
      try {
        return { phone: parsePhone(phone).e164, disconnectedAt: Date.parse(disconnectedAt) }
      } catch (err) {
        if (err instanceof ApiError) throw err.withMessage(`numbers[${i}]: ${err.message}`)
        throw err
      }
    })
    const { removed } = orRefuse(await reassignAll(c.env, reports, Date.now()))
    c.var.log.info('reassigned_applied', { reports: reports.length, removed })
    return c.json({ removed }, 200)
  },
)
