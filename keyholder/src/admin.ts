/**
 * The key holder's operator routes: register an app (its token shown once) and revoke one.
 * @module
 */
import { createRoute, OpenAPIHono, z } from '@hono/zod-openapi'
import { ApiError } from '../../src/errors.ts'
import { AppName, NewAppId } from '../../src/routes/app-schemas.ts'
import { errors } from '../../src/routes/error-responses.ts'
import { validationHook } from '../../src/routes/validation.ts'
import { registerApp, requireAdmin, revokeApp } from './apps.ts'
import type { KeyholderEnv } from './env.ts'

export const admin = new OpenAPIHono<KeyholderEnv>({ defaultHook: validationHook })
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
      201: { description: 'registered', content: { 'application/json': { schema: z.object({ id: NewAppId, name: z.string(), token: z.string() }) } } },
      ...errors('invalid_request', 'malformed_json', 'unauthorized', 'app_exists', 'body_too_large', 'unsupported_media_type', 'not_configured'),
    },
  }),
  async (c) => {
    const { id, name } = c.req.valid('json')
    const token = await registerApp(c.env.APPS, id, name, Date.now())
    if (token === null) throw new ApiError(409, 'app_exists', `an app with id ${id} exists or existed (ids are never reused)`)
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
    summary: "Revoke an app: its token stops working (within KV's propagation, about 60 s, elsewhere)",
    security,
    request: { params: z.object({ id: z.string().openapi({ example: 'appa' }) }) },
    responses: {
      200: { description: 'revoked', content: { 'application/json': { schema: z.object({ id: z.string(), revoked: z.boolean() }) } } },
      ...errors('unauthorized', 'app_not_found', 'not_configured'),
    },
  }),
  async (c) => {
    const { id } = c.req.valid('param')
    if (!(await revokeApp(c.env.APPS, id, Date.now()))) throw new ApiError(404, 'app_not_found', `no app with id ${id}`)
    c.var.log.info('app_revoked', { appId: id })
    return c.json({ id, revoked: true }, 200)
  },
)
