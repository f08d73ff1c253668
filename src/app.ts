/**
 * The Hono app: middleware, the route modules, /openapi.json, and the one error handler.
 * @module
 */
import { OpenAPIHono } from '@hono/zod-openapi'
import { except } from 'hono/combine'
import type { AppEnv } from './env.ts'
import { ApiError, errorResponse, toApiError } from './errors.ts'
import { createLogger } from './log.ts'
import { requireLogKey } from './middleware/log-key.ts'
import { bodyGuard, requestContext } from './middleware/request.ts'
import { routeGate } from './middleware/routes.ts'
import { admin } from './routes/admin.ts'
import { renderApiDocs } from './routes/api-docs.ts'
import { dev, devRoutesOnly } from './routes/dev.ts'
import { holder } from './routes/holder.ts'
import { log } from './routes/log.ts'
import { numbers } from './routes/numbers.ts'
import { pageNotFound, pages, asksForHtml } from './routes/pages.ts'
import { verifications } from './routes/verifications.ts'
import { wellKnown } from './routes/well-known.ts'

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
  app.route('/', dev)

  app.openAPIRegistry.registerComponent('securitySchemes', 'appToken', {
    type: 'http',
    scheme: 'bearer',
    description: "an app's token from POST /v1/admin/apps",
  })
  app.openAPIRegistry.registerComponent('securitySchemes', 'adminToken', {
    type: 'http',
    scheme: 'bearer',
    description: "the operator's ADMIN_TOKEN",
  })
  app.openAPIRegistry.registerComponent('securitySchemes', 'holderSession', {
    type: 'http',
    scheme: 'bearer',
    description: 'a holder session token from POST /v1/holder/verifications/{id}/check (30 minutes)',
  })
  const docConfig = {
    openapi: '3.1.0',
    info: {
      title: 'whodis directory',
      version: '1',
      description: 'Which messaging apps a phone number can be reached on, proven by SMS and logged for transparency.',
    },
  }
  app.doc31('/openapi.json', docConfig)
  app.get('/docs', (c) => c.html(renderApiDocs(app.getOpenAPI31Document(docConfig) as Parameters<typeof renderApiDocs>[0])))

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
