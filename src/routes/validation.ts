/**
 * The one validation hook: a zod failure becomes `400 invalid_request` naming the field.
 * @module
 */
import type { Hook } from '@hono/zod-openapi'
import { ApiError } from '../errors.ts'

export const validationHook: Hook<unknown, any, any, unknown> = (result) => {
  if (result.success) return
  const issue = result.error.issues[0]
  const where = issue?.path.length ? `${issue.path.join('.')}: ` : ''
  throw new ApiError(400, 'invalid_request', `${where}${issue?.message ?? 'invalid request'}`)
}
