/**
 * The error responses routes declare in /openapi.json: the one error body, and each route's
 * codes from ERRORS grouped by status. Apart from src/routes/schemas.ts so that a Worker with
 * few routes (the key holder) declares its errors without the directory's phone schemas.
 * @module
 */
import { z } from '@hono/zod-openapi'
import { ERRORS, type ErrorCode } from '../errors.ts'

export const ErrorBody = z
  .object({
    error: z.object({
      code: z.string().openapi({ description: 'a stable snake_case code: the table at /docs#errors', example: 'invalid_request' }),
      message: z.string().openapi({ description: 'what went wrong, for people', example: 'phone: expected string' }),
    }),
  })
  .openapi('Error')

/** The body of `422 wrong_code`: the error and the attempts left before the code is void. */
export const WrongCodeBody = z
  .object({ error: ErrorBody.shape.error, attemptsLeft: z.number().int().min(0).max(4).openapi({ example: 4 }) })
  .openapi('WrongCodeError')

const retryAfter = {
  'Retry-After': { description: 'seconds to wait before retrying', schema: { type: 'integer' as const, minimum: 1 } },
}

/**
 * The error responses of a route, for `responses` of createRoute: one per status of `codes`, each
 * with its codes from {@link ERRORS} as named examples (what /docs lists per route), and `4XX` for
 * any other client error, in the same shape.
 */
export function errors(...listed: ErrorCode[]) {
  // Every operation can answer not_configured: the log-key check runs before each (src/middleware/log-key.ts).
  const codes = listed.includes('not_configured') ? listed : [...listed, 'not_configured' as const]
  const byStatus = new Map<number, ErrorCode[]>()
  for (const code of codes) byStatus.set(ERRORS[code].status, [...(byStatus.get(ERRORS[code].status) ?? []), code])
  const responses = [...byStatus].map(([status, list]) => {
    const examples = Object.fromEntries(
      list.map((code) => {
        const value = { error: { code, message: ERRORS[code].means }, ...(code === 'wrong_code' ? { attemptsLeft: 4 } : {}) }
        return [code, { summary: ERRORS[code].means, value }]
      }),
    )
    const response = {
      description: list.join(', '),
      ...(list.some((code) => 'retryAfter' in ERRORS[code]) ? { headers: retryAfter } : {}),
      content: { 'application/json': { schema: list.includes('wrong_code') ? WrongCodeBody : ErrorBody, examples } },
    }
    return [String(status), response] as const
  })
  return {
    ...Object.fromEntries(responses),
    '4XX': { description: 'any other client error', content: { 'application/json': { schema: ErrorBody } } },
  }
}
