/**
 * The lookup answer, `{phone, apps:[{app, verifiedAt, expiresAt}]}`, built the same way by the
 * directory and by a mirror so that both answer byte for byte alike.
 * @module
 */

/** One binding to render. Times are seconds since the epoch. */
export interface LookupBinding {
  app: string
  verifiedAt: number
  expiresAt: number
  /** With `?proof=1`: the creating entry's index, its bytes (base64) and its receipt. */
  proof?: { index: number; entry: string; receipt: string }
}

/** One binding as the JSON answer carries it. */
export interface LookupEntry {
  app: string
  verifiedAt: string
  expiresAt: string
  index?: number
  entry?: string
  receipt?: string
}

/** The JSON answer of `GET /v1/numbers/:phone`. */
export interface LookupBody {
  phone: string
  apps: LookupEntry[]
}

/** ISO 8601 in whole seconds, e.g. `2026-11-24T21:40:00Z`. */
export function isoSeconds(seconds: number): string {
  return new Date(seconds * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z')
}

/**
 * The answer for `phone` (E.164): bindings unexpired at `nowSeconds`, sorted by app id; null
 * when none is left (the caller answers 404 `number_not_found`).
 */
export function lookupBody(phone: string, bindings: readonly LookupBinding[], nowSeconds: number): LookupBody | null {
  const live = bindings.filter((b) => b.expiresAt > nowSeconds).sort((a, b) => (a.app < b.app ? -1 : a.app > b.app ? 1 : 0))
  if (live.length === 0) return null
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

/** The 404 body for a number with no live binding. */
export const NUMBER_NOT_FOUND = { error: { code: 'number_not_found', message: 'no app is bound to this number' } } as const
