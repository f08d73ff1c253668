/**
 * The KV projection: what lookups and token checks read at the edge. Each subject is written by
 * the one binding shard that owns it, and app tokens by the sequencer. KV is eventually
 * consistent (a write can take about 60 s to reach other locations), so nothing here is ever
 * read back as the source of truth: the Durable Objects' storage is.
 * @module
 */
import { fromBase64, toBase64 } from '../protocol/bytes.ts'
import { e164Of, type Subject } from '../protocol/entry.ts'
import type { ProjectedBinding, ProjectionSink, TokenSink } from '../core/ports.ts'

/** One binding as a lookup reads it (times in epoch milliseconds, whole seconds). */
export interface ProjectedLookup {
  app: string
  verifiedAt: number
  expiresAt: number
  /** Log index of the entry that added or last renewed it. */
  index: number
  /** That entry's bytes, for a receipt. */
  entry: Uint8Array
}

/** The projection value of one number. */
interface ProjectedNumber {
  v: 2
  apps: { app: string; verifiedAt: number; expiresAt: number; index: number; entry: string }[]
}

/** The app-token cache value. */
export interface ProjectedApp {
  id: string
  name: string
  /** The app's number in log entries. */
  num: number
}

/** KV key of a number's bindings. */
export const numberKey = (e164: string) => `number:${e164}`
/** KV key of an app token, by the SHA-256 hex of the token. */
export const tokenKey = (tokenHash: string) => `token:${tokenHash}`

// KV rejects expirations less than 60 s ahead.
const MIN_KV_TTL_S = 60

/** The {@link ProjectionSink} over KV: a number's value expires with its last binding. */
export class KvProjection implements ProjectionSink {
  constructor(private readonly kv: KVNamespace) {}

  async put(subject: Subject, bindings: ProjectedBinding[], now: number): Promise<void> {
    const key = numberKey(e164Of(subject))
    if (bindings.length === 0) return this.kv.delete(key)
    const lastExpiry = Math.max(...bindings.map((b) => b.expiresAt))
    const value: ProjectedNumber = {
      v: 2,
      apps: bindings
        .map((b) => ({ app: b.appId, verifiedAt: b.verifiedAt * 1000, expiresAt: b.expiresAt * 1000, index: b.index, entry: toBase64(b.entry) }))
        .sort((a, b) => (a.app < b.app ? -1 : a.app > b.app ? 1 : 0)),
    }
    await this.kv.put(key, JSON.stringify(value), { expiration: Math.max(lastExpiry, Math.ceil(now / 1000) + MIN_KV_TTL_S) })
  }
}

/** The {@link TokenSink} over KV. */
export class KvTokens implements TokenSink {
  constructor(private readonly kv: KVNamespace) {}

  async put(tokenHash: string, app: ProjectedApp): Promise<void> {
    await this.kv.put(tokenKey(tokenHash), JSON.stringify(app))
  }

  async delete(tokenHash: string): Promise<void> {
    await this.kv.delete(tokenKey(tokenHash))
  }
}

/** Reads a number's unexpired bindings, sorted by app id; empty when none. */
export async function getNumber(kv: KVNamespace, e164: string, now: number): Promise<ProjectedLookup[]> {
  return unexpired(await kv.get<ProjectedNumber>(numberKey(e164), 'json'), now)
}

function unexpired(value: ProjectedNumber | null, now: number): ProjectedLookup[] {
  if (!value || value.v !== 2) return []
  return value.apps.filter((a) => a.expiresAt > now).map((a) => ({ ...a, entry: fromBase64(a.entry) }))
}

/** Most keys one KV bulk read may name. */
const KV_BULK_KEYS = 100

/** {@link getNumber} for many numbers, in bulk reads of 100 keys: number → its unexpired bindings (empty when none). */
export async function getNumbers(kv: KVNamespace, e164s: readonly string[], now: number): Promise<Map<string, ProjectedLookup[]>> {
  const unique = [...new Set(e164s)]
  const out = new Map<string, ProjectedLookup[]>()
  const chunks: string[][] = []
  for (let i = 0; i < unique.length; i += KV_BULK_KEYS) chunks.push(unique.slice(i, i + KV_BULK_KEYS))
  const read = await Promise.all(chunks.map((keys) => kv.get<ProjectedNumber>(keys.map(numberKey), 'json')))
  for (const values of read) {
    for (const [key, value] of values) {
      const e164 = key.slice('number:'.length)
      out.set(e164, unexpired(value, now))
    }
  }
  for (const e164 of unique) if (!out.has(e164)) out.set(e164, [])
  return out
}

/** Reads the app a token hash belongs to, or null. */
export async function getTokenApp(kv: KVNamespace, tokenHash: string): Promise<ProjectedApp | null> {
  return kv.get<ProjectedApp>(tokenKey(tokenHash), 'json')
}
