/**
 * `/.well-known/whodis`: what a mirror pins (the log's verifier key) and where things are.
 * @module
 */
import { createRoute, OpenAPIHono, z } from '@hono/zod-openapi'
import type { AppEnv } from '../env.ts'
import { logVerifierKey } from '../log-key.ts'
import { errors } from './schemas.ts'

export const wellKnown = new OpenAPIHono<AppEnv>()

wellKnown.openapi(
  createRoute({
    method: 'get',
    path: '/.well-known/whodis',
    operationId: 'getDirectoryInfo',
    tags: ['directory'],
    security: [],
    summary: "The directory's log origin and verifier key",
    responses: {
      200: {
        description: 'directory metadata',
        content: {
          'application/json': {
            schema: z.object({ origin: z.string(), logKey: z.string(), api: z.string(), log: z.string() }),
          },
        },
      },
      ...errors('not_configured'),
    },
  }),
  async (c) => {
    const origin = c.env.LOG_ORIGIN!
    const logKey = await logVerifierKey(c.env.LOG_SIGNING_KEY, origin)
    c.header('Cache-Control', 'public, max-age=300')
    return c.json({ origin, logKey, api: '/v1', log: '/log' }, 200)
  },
)
