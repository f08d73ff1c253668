/**
 * Wire schemas shared by the route modules, and the helpers that turn raw input into checked
 * values with the right error code.
 * @module
 */
import { z } from '@hono/zod-openapi'
import { ApiError } from '../errors.ts'
import { fromBase64, toBase64Url } from '../protocol/bytes.ts'
import { MAX_LOOKUPS } from '../protocol/lookup.ts'
import { appIdFromPathSegment } from '../protocol/entry.ts'
import { AppId } from './app-schemas.ts'
import { InvalidPhoneError, normalizePhone, type PhoneNumber } from '../protocol/phone.ts'

export { APP_ID } from '../protocol/entry.ts'
export { ErrorBody, errors, WrongCodeBody } from './error-responses.ts'
export { AppId, AppName, NewAppId } from './app-schemas.ts'

/** An app id as a path segment: `..`, which a URL cannot carry, is written `%252E%252E` (appIdPathSegment). */
export const AppIdParam = z
  .string()
  .openapi({ example: 'appa', description: 'the app id; `..` (which URLs rewrite) is written %252E%252E' })
  .transform(appIdFromPathSegment)
  .pipe(AppId)
export const Phone = z.string().max(64).openapi({ example: '+1 (650) 555-0011', description: 'as typed; normalised to E.164' })
export const Timestamp = z.string().openapi({ example: '2026-11-24T21:40:00Z', format: 'date-time' })

export const BindingEntry = z
  .object({ app: AppId, verifiedAt: Timestamp, expiresAt: Timestamp })
  .openapi('BindingEntry')

/** What a proof adds to a binding: the entry that made it and its receipt. */
export const ProofFields = z.object({
  index: z.number().openapi({ description: 'log index of the add or renew entry that made the binding' }),
  entry: z.string().openapi({ description: 'that log entry, base64' }),
  receipt: z
    .string()
    .openapi({
      description:
        'C2SP tlog-proof of the entry against the latest checkpoint: it proves the binding was added to the log, not that it still stands',
    }),
})

/** One number's answer: its unexpired bindings, each with its proof fields when asked. */
export const LookupAnswer = z
  .object({
    phone: z.string().openapi({ example: '+16505550011', description: 'E.164' }),
    apps: z.array(BindingEntry.extend(ProofFields.partial().shape).openapi('LookupBinding')),
  })
  .openapi('Lookup')

/** The body of `POST /v1/lookups`. */
export const LookupsRequest = z
  .object({
    phones: z
      .array(Phone)
      .min(1)
      .max(MAX_LOOKUPS)
      .openapi({ description: `1 to ${MAX_LOOKUPS} numbers as typed; each counts as one lookup against the app's quota` }),
    proof: z.boolean().optional().openapi({ description: "true: each binding carries its log index, entry and receipt (as GET ?proof=1)" }),
  })
  .openapi('LookupsRequest')

/** The answer of `POST /v1/lookups`: `results[i]` answers `phones[i]`. */
export const LookupsAnswer = z
  .object({
    results: z.array(LookupAnswer).openapi({
      description: 'one result per number asked, in the order asked (a repeated number is answered each time); a number with no binding has `apps: []`',
    }),
  })
  .openapi('Lookups')

/** An app's registration: its app-register log entry (which names its number in entries) and a receipt for it. */
export const AppRegistration = z
  .object({
    app: AppId,
    index: z.number().openapi({ description: 'log index of the app-register entry' }),
    entry: z.string().openapi({ description: 'that entry, base64: it ties the app id to the app number (u16) binding entries carry' }),
    receipt: z.string().openapi({ description: 'C2SP tlog-proof of the entry against the latest checkpoint' }),
  })
  .openapi('AppRegistration')

export const Binding = z
  .object({
    phone: z.string().openapi({ example: '+16505550011' }),
    app: AppId,
    verifiedAt: Timestamp,
    expiresAt: Timestamp,
    publicKey: z.string().optional().openapi({ description: "the person's own key in the app, as POST /v1/verifications took it, in unpadded base64url" }),
  })
  .openapi('Binding')

/** Normalises a phone or fails with `400 invalid_phone`. */
export function parsePhone(input: unknown): PhoneNumber {
  try {
    return normalizePhone(input)
  } catch (err) {
    if (err instanceof InvalidPhoneError) throw new ApiError(400, 'invalid_phone', err.message)
    throw err
  }
}

/** A user public key: base64 or base64url of 32 to 1,024 bytes, returned as unpadded base64url. */
export function parsePublicKey(input: string | undefined): string | null {
  if (input === undefined) return null
  let bytes: Uint8Array
  try {
    bytes = fromBase64(input)
  } catch {
    throw new ApiError(400, 'invalid_public_key', 'publicKey must be base64 or base64url')
  }
  if (bytes.length < 32 || bytes.length > 1024) {
    throw new ApiError(400, 'invalid_public_key', 'publicKey must decode to between 32 and 1024 bytes')
  }
  return toBase64Url(bytes)
}

/** ISO 8601 in whole seconds, e.g. `2026-11-24T21:40:00Z`. */
export function isoSeconds(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z')
}
