/**
 * The KV projection: what lookups and token checks read at the edge. Only the Sequencer writes
 * it. KV is eventually consistent (a write can take about 60 s to reach other locations), so
 * nothing here is ever read back as the source of truth: the Sequencer's own storage is.
 * @module
 */

/** One binding as the projection stores it (times in epoch milliseconds, whole seconds). */
export interface ProjectedBinding {
  app: string
  verifiedAt: number
  expiresAt: number
  /** Log index of the entry that added or last renewed it. */
  index: number
}

/** The projection value for one number. */
export interface ProjectedNumber {
  v: 1
  apps: ProjectedBinding[]
}

/** The app-token cache value. */
export interface ProjectedApp {
  id: string
  name: string
}

/** KV key of a number's bindings. */
export const numberKey = (e164: string) => `number:${e164}`
/** KV key of an app token, by the SHA-256 hex of the token. */
export const tokenKey = (tokenHash: string) => `token:${tokenHash}`

// KV rejects expirations less than 60 s ahead.
const MIN_KV_TTL_S = 60

/** Writes (or, for no bindings, deletes) a number's projection; it also expires with its last binding. */
export async function putNumber(kv: KVNamespace, e164: string, apps: ProjectedBinding[], now: number): Promise<void> {
  if (apps.length === 0) return kv.delete(numberKey(e164))
  const lastExpiry = Math.max(...apps.map((a) => a.expiresAt))
  const value: ProjectedNumber = { v: 1, apps }
  await kv.put(numberKey(e164), JSON.stringify(value), {
    expiration: Math.max(Math.ceil(lastExpiry / 1000), Math.ceil(now / 1000) + MIN_KV_TTL_S),
  })
}

/** Reads a number's unexpired bindings, sorted by app id; empty when none. */
export async function getNumber(kv: KVNamespace, e164: string, now: number): Promise<ProjectedBinding[]> {
  const value = await kv.get<ProjectedNumber>(numberKey(e164), 'json')
  if (!value || value.v !== 1) return []
  return value.apps.filter((a) => a.expiresAt > now)
}

/** Most keys one KV bulk read may name. */
const KV_BULK_KEYS = 100

/** {@link getNumber} for many numbers, in bulk reads of 100 keys: number → its unexpired bindings (empty when none). */
export async function getNumbers(kv: KVNamespace, e164s: readonly string[], now: number): Promise<Map<string, ProjectedBinding[]>> {
  const unique = [...new Set(e164s)]
  const out = new Map<string, ProjectedBinding[]>()
  const chunks: string[][] = []
  for (let i = 0; i < unique.length; i += KV_BULK_KEYS) chunks.push(unique.slice(i, i + KV_BULK_KEYS))
  const read = await Promise.all(chunks.map((keys) => kv.get<ProjectedNumber>(keys.map(numberKey), 'json')))
  for (const values of read) {
    for (const [key, value] of values) {
      const e164 = key.slice('number:'.length)
      out.set(e164, value && value.v === 1 ? value.apps.filter((a) => a.expiresAt > now) : [])
    }
  }
  for (const e164 of unique) if (!out.has(e164)) out.set(e164, [])
  return out
}

/** Reads the app a token hash belongs to, or null. */
export async function getTokenApp(kv: KVNamespace, tokenHash: string): Promise<ProjectedApp | null> {
  return kv.get<ProjectedApp>(tokenKey(tokenHash), 'json')
}
