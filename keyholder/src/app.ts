/**
 * The key holder's Hono app: the directory's request middleware and error handling, its own
 * app registry and admin routes, and the evaluation routes both operators serve.
 * @module
 */
import { OpenAPIHono } from '@hono/zod-openapi'
import { ApiError, errorResponse, toApiError } from '../../src/errors.ts'
import { createLogger } from '../../src/log.ts'
import { bodyGuard, requestContext } from '../../src/middleware/request.ts'
import { routeGate } from '../../src/middleware/routes.ts'
import { evaluationRoutes } from '../../src/routes/evaluate.ts'
import { admin } from './admin.ts'
import { requireApp } from './apps.ts'
import type { KeyholderEnv } from './env.ts'

function openApiConfig(origin: string) {
  return {
    openapi: '3.1.0',
    info: {
      title: 'whodis key holder',
      version: '1',
      description:
        "The second share of the OPRF key that turns phone numbers into whodis labels: metered, proven evaluations of apps' blinded elements. It stores no number and no element.",
      license: { name: 'No license granted (UNLICENSED)', identifier: 'LicenseRef-UNLICENSED' },
    },
    servers: [{ url: origin, description: 'this key holder' }],
    tags: [
      { name: 'admin', description: "The key holder's operator: register and revoke apps." },
      { name: 'oprf', description: "The key holder's share of the OPRF key: its public key, and metered, proven evaluations." },
    ],
  }
}

/** Builds the key holder's HTTP app. */
export function createKeyholderApp() {
  const app = new OpenAPIHono<KeyholderEnv>()
  app.use('*', requestContext)
  // 404 and 405 first, as in the directory.
  app.use('*', routeGate(() => app.routes))
  app.use('*', bodyGuard)

  app.route('/', admin)
  app.route('/', evaluationRoutes(requireApp))

  app.openAPIRegistry.registerComponent('securitySchemes', 'appToken', {
    type: 'http',
    scheme: 'bearer',
    bearerFormat: 'whodis_kh_ and 43 base64url characters',
    description: "An app's key-holder token, from POST /v1/admin/apps (shown once).",
  })
  app.openAPIRegistry.registerComponent('securitySchemes', 'adminToken', {
    type: 'http',
    scheme: 'bearer',
    description: "The key holder's ADMIN_TOKEN secret.",
  })
  app.doc31('/openapi.json', (c) => openApiConfig(new URL(c.req.url).origin))

  app.notFound((c) => errorResponse(c, new ApiError(404, 'not_found', `no route ${c.req.method} ${c.req.path}`)))
  app.onError((err, c) => {
    const { apiError, unexpected } = toApiError(err)
    const log = c.get('log') ?? createLogger()
    if (unexpected) log.error('unhandled_error', { route: c.req.routePath, error: String(err), stack: (err as Error)?.stack })
    else if (apiError.status >= 500) log.error('request_failed', { route: c.req.routePath, code: apiError.code, message: apiError.message })
    return errorResponse(c, apiError)
  })
  return app
}
