/**
 * App ids and names as requests carry them: shared by the directory and the key holder, so that
 * an app registers one id and one name with both operators (no phone library in here: the key
 * holder's bundle has none).
 * @module
 */
import { z } from '@hono/zod-openapi'
import { APP_ID, NEW_APP_ID } from '../protocol/entry.ts'

/** Any app id a log may hold (answers, and the app named in a request). */
export const AppId = z.string().regex(APP_ID).openapi({ example: 'appa' })

/** The id of an app being registered: also addressable in every path (not `..`, see NEW_APP_ID). */
export const NewAppId = z
  .string()
  .regex(APP_ID, 'an app id is 2 to 64 of a-z, 0-9, "." and "-"')
  .regex(NEW_APP_ID, 'an app id cannot be "..": URLs rewrite it (a dot segment), so no route could name the app')
  .openapi({ example: 'appa', pattern: NEW_APP_ID.source })

/** An app's display name, what the SMS and the holder's page show. */
export const AppName = z
  .string()
  .trim()
  .min(1)
  .max(64)
  .regex(/^[^\p{C}]+$/u, 'name must not contain control characters')
  // zod writes this pattern with its flags appended (`/u`), which no schema validator reads.
  .openapi({ example: 'App A', pattern: '^[^\\p{C}]+$' })
