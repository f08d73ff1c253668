/**
 * The lookup answers, built the same way by the directory and by a mirror so that both answer
 * byte for byte alike: one number's `{phone, apps:[{app, verifiedAt, expiresAt}]}`
 * (`GET /v1/numbers/:phone`), and a batch's `{results:[...]}` of those, one per number asked
 * (`POST /v1/lookups`).
 * @module
 */

/** One binding to render. Times are seconds since the epoch. */
export interface LookupBinding {
  app: string
  verifiedAt: number
  expiresAt: number
  /** With a proof: the creating entry's index, its bytes (base64) and its receipt. */
  proof?: { index: number; entry: string; receipt: string }
}

/** One binding as the JSON answer carries it. */
export interface LookupEntry {
  app: string
  verifiedAt: string
  expiresAt: string
  /** With a proof: log index of the add or renew entry that made the binding. */
  index?: number
  /** With a proof: that entry's bytes, base64. */
  entry?: string
  /** With a proof: C2SP tlog-proof of that entry under a checkpoint signed by the log key. */
  receipt?: string
}

/** One number's answer: the JSON of `GET /v1/numbers/:phone`, and each result of `POST /v1/lookups`. */
export interface LookupBody {
  /** E.164. */
  phone: string
  /** Unexpired bindings sorted by app id; empty in a batch result for a number with none. */
  apps: LookupEntry[]
}

/** The JSON answer of `POST /v1/lookups`: `results[i]` answers `phones[i]`. */
export interface LookupsBody {
  results: LookupBody[]
}

/** Most numbers one `POST /v1/lookups` may ask about. */
export const MAX_LOOKUPS = 1000

/** ISO 8601 in whole seconds, e.g. `2026-11-24T21:40:00Z`. */
export function isoSeconds(seconds: number): string {
  return new Date(seconds * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z')
}

/** The answer for `phone` (E.164): bindings unexpired at `nowSeconds`, sorted by app id; `apps` may be empty. */
export function lookupResult(phone: string, bindings: readonly LookupBinding[], nowSeconds: number): LookupBody {
  const live = bindings.filter((b) => b.expiresAt > nowSeconds).sort((a, b) => (a.app < b.app ? -1 : a.app > b.app ? 1 : 0))
  return {
    phone,
    apps: live.map((b) => ({
      app: b.app,
      verifiedAt: isoSeconds(b.verifiedAt),
      expiresAt: isoSeconds(b.expiresAt),
      ...(b.proof ? { index: b.proof.index, entry: b.proof.entry, receipt: b.proof.receipt } : {}),
    })),
  }
}

/**
 * {@link lookupResult}, or null when no binding is left (the caller of `GET /v1/numbers/:phone`
 * answers 404 `number_not_found`).
 */
export function lookupBody(phone: string, bindings: readonly LookupBinding[], nowSeconds: number): LookupBody | null {
  const body = lookupResult(phone, bindings, nowSeconds)
  return body.apps.length > 0 ? body : null
}

/** The answer of `POST /v1/lookups` from one result per number asked, in the order asked. */
export function lookupsBody(results: LookupBody[]): LookupsBody {
  return { results }
}

/** The 404 body for a number with no live binding. */
export const NUMBER_NOT_FOUND = { error: { code: 'number_not_found', message: 'no app is bound to this number' } } as const

/** Where `POST /v1/lookups` found fault with its request: the error code and message both servers answer. */
export class LookupsRequestError extends Error {
  override readonly name = 'LookupsRequestError'
  constructor(
    readonly code: 'invalid_request' | 'invalid_phone',
    message: string,
  ) {
    super(message)
  }
}

/**
 * The numbers of a `POST /v1/lookups` body `{phones: [...], proof?: boolean}`, each normalised
 * with `normalize` (which throws for a non-number), and its proof flag. Throws
 * {@link LookupsRequestError} naming the field, e.g. `phones[3]: ...`.
 */
export function parseLookupsRequest(body: unknown, normalize: (phone: string) => string): { phones: string[]; proof: boolean } {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new LookupsRequestError('invalid_request', 'the body must be a JSON object')
  const { phones, proof } = body as { phones?: unknown; proof?: unknown }
  if (!Array.isArray(phones)) throw new LookupsRequestError('invalid_request', 'phones: expected an array of phone numbers')
  if (phones.length === 0) throw new LookupsRequestError('invalid_request', 'phones: at least one phone number')
  if (phones.length > MAX_LOOKUPS) throw new LookupsRequestError('invalid_request', `phones: at most ${MAX_LOOKUPS} phone numbers per request`)
  if (proof !== undefined && typeof proof !== 'boolean') throw new LookupsRequestError('invalid_request', 'proof: expected a boolean')
  const out = phones.map((phone, i) => {
    if (typeof phone !== 'string' || phone.length > 64) throw new LookupsRequestError('invalid_request', `phones[${i}]: expected a string of at most 64 characters`)
    try {
      return normalize(phone)
    } catch (err) {
      throw new LookupsRequestError('invalid_phone', `phones[${i}]: ${(err as Error).message}`)
    }
  })
  return { phones: out, proof: proof === true }
}
