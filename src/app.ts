/**
 * The Hono app: middleware, the route modules, /openapi.json, and the one error handler.
 * @module
 */
import { OpenAPIHono } from '@hono/zod-openapi'
import { except } from 'hono/combine'
import type { AppEnv } from './env.ts'
import { ApiError, errorResponse, toApiError } from './errors.ts'
import { createLogger } from './log.ts'
import { requireApp } from './middleware/auth.ts'
import { requireLogKey } from './middleware/log-key.ts'
import { bodyGuard, requestContext } from './middleware/request.ts'
import { routeGate } from './middleware/routes.ts'
import { admin } from './routes/admin.ts'
import { renderApiDocs, type ApiDoc } from './routes/api-docs.ts'
import { dev, devRoutesOnly } from './routes/dev.ts'
import { evaluationRoutes } from './routes/evaluate.ts'
import { holder } from './routes/holder.ts'
import { log } from './routes/log.ts'
import { numbers } from './routes/numbers.ts'
import { pageNotFound, pages, asksForHtml } from './routes/pages.ts'
import { verifications } from './routes/verifications.ts'
import { wellKnown } from './routes/well-known.ts'

/**
 * openApiConfig is the top of /openapi.json. The server is the origin that serves the document,
 * so a client generated from a deployment's document calls that deployment.
 */
function openApiConfig(origin: string) {
  return {
    openapi: '3.1.0',
    info: {
      title: 'whodis directory',
      version: '1',
      description: 'Which messaging apps a phone number can be reached on, proven by SMS and logged for transparency.',
      // The project has chosen no license yet (package.json is private); SPDX's form for that.
      license: { name: 'No license granted (UNLICENSED)', identifier: 'LicenseRef-UNLICENSED' },
    },
    servers: [{ url: origin, description: 'this directory' }],
    tags: [
      { name: 'directory', description: "The directory's log origin and verifier key: what apps and mirrors pin." },
      { name: 'admin', description: "The operator's routes: register and revoke apps, report reassigned numbers." },
      { name: 'verifications', description: "An app proves a person's number with a one-time SMS code, which records a binding." },
      { name: 'numbers', description: "Which apps a number can be reached on; an app removes its own binding." },
      { name: 'holder', description: "A number's holder sees every app it is bound to and removes any binding." },
      { name: 'log', description: 'The transparency log (C2SP tlog-tiles): checkpoints, tiles, entry bundles and snapshots.' },
      { name: 'oprf', description: "The directory's share of the OPRF key that turns numbers into labels: its public key, and metered, proven evaluations." },
    ],
  }
}

/** Builds the directory's HTTP app. */
export function createApp() {
  const app = new OpenAPIHono<AppEnv>()
  app.use('*', requestContext)
  app.use('/dev/*', devRoutesOnly)
  // 404 and 405 come first: no other middleware runs for a request no route takes.
  app.use('*', routeGate(() => app.routes))
  // Everything but the API's description depends on the log and its key.
  app.use('*', except(['/openapi.json', '/docs'], requireLogKey))
  // The self-service page takes HTML forms and guards its own bodies (src/routes/pages.ts).
  app.use('*', except(['/', '/me', '/me/*'], bodyGuard))

  app.route('/', wellKnown)
  app.route('/', admin)
  app.route('/', verifications)
  app.route('/', numbers)
  app.route('/', holder)
  app.route('/', pages)
  app.route('/', log)
  app.route('/', evaluationRoutes(requireApp))
  app.route('/', dev)

  app.openAPIRegistry.registerComponent('securitySchemes', 'appToken', {
    type: 'http',
    scheme: 'bearer',
    bearerFormat: 'whodis_app_ and 43 base64url characters',
    description: "An app's token, from POST /v1/admin/apps (shown once).",
  })
  app.openAPIRegistry.registerComponent('securitySchemes', 'adminToken', {
    type: 'http',
    scheme: 'bearer',
    description: "The operator's ADMIN_TOKEN secret.",
  })
  app.openAPIRegistry.registerComponent('securitySchemes', 'holderSession', {
    type: 'http',
    scheme: 'bearer',
    bearerFormat: 'whodis_holder_ and 43 base64url characters',
    description: 'A holder session token, from POST /v1/holder/verifications/{id}/check (valid for 30 minutes).',
  })
  app.doc31('/openapi.json', (c) => openApiConfig(new URL(c.req.url).origin))
  app.get('/docs', (c) => c.html(renderApiDocs(app.getOpenAPI31Document(openApiConfig(new URL(c.req.url).origin)) as ApiDoc)))

  app.notFound((c) => {
    const err = new ApiError(404, 'not_found', `no route ${c.req.method} ${c.req.path}`)
    return asksForHtml(c.req.header('Accept')) ? pageNotFound(c, err) : errorResponse(c, err)
  })
  app.onError((err, c) => {
    const { apiError, unexpected } = toApiError(err)
    const log = c.get('log') ?? createLogger()
    if (unexpected) {
      log.error('unhandled_error', { route: c.req.routePath, error: String(err), stack: (err as Error)?.stack })
    } else if (apiError.status >= 500) {
      log.error('request_failed', { route: c.req.routePath, code: apiError.code, message: apiError.message })
    }
    return errorResponse(c, apiError)
  })
  return app
}
