/**
 * In-process lookups: the mirror's library API against a JavaScript `Map` and a better-sqlite3
 * primary-key table holding the same records (decoded from the snapshot the mirror bootstrapped
 * from), over the same random present and absent numbers, in interleaved passes so that machine
 * noise hits every contender alike. Every contender does the same work per number: find it, and
 * read the app of each binding that has not expired; the passes' checksums must agree.
 * @module
 */
import Database from 'better-sqlite3'
import type { Mirror } from '../replicas/src/index.ts'
import { decodeSnapshot, type SnapshotBinding } from '../src/protocol/snapshot.ts'

const DAY = 86_400
/** Numbers per `appsMany` call (a contact list). */
const BATCH = 1024

/** Lookups per second of each contender, and bytes per record of the Map baseline. */
export interface LookupResults {
  mirror_lookups_per_s: number
  mirror_batch_lookups_per_s: number
  map_lookups_per_s: number
  sqlite_lookups_per_s: number
  /** Heap bytes per record of the Map with its binding objects. */
  map_bytes_per_record: number
  /** Share of queries that found a number. */
  hit_ratio: number
}

const gc = (): void => {
  const g = (globalThis as { gc?: () => void }).gc
  if (g) {
    g()
    g()
  }
}

/**
 * Measures `queries` (E.164 digits as integers) against `mirror` and the baselines built from
 * `snapshot` (its uncompressed encoding), at clock `nowSeconds`, median of `reps` passes.
 */
export function measureLookups(mirror: Mirror, snapshot: Uint8Array, queries: Float64Array, nowSeconds: number, reps = 3): LookupResults {
  // The Map: number → its bindings, as a JavaScript program would hold them.
  gc()
  const heap0 = process.memoryUsage().heapUsed
  let map: Map<number, SnapshotBinding[]> | null = new Map()
  {
    const records = decodeSnapshot(snapshot).records
    for (const r of records) map.set(r.subject, r.bindings)
  }
  gc()
  const mapBytes = process.memoryUsage().heapUsed - heap0

  // SQLite: one row per number, its bindings packed in a blob in the index's own layout.
  const db = new Database(':memory:')
  db.pragma('journal_mode = OFF')
  db.pragma('synchronous = OFF')
  db.exec('CREATE TABLE numbers (subject INTEGER PRIMARY KEY, bindings BLOB NOT NULL)')
  const insert = db.prepare('INSERT INTO numbers (subject, bindings) VALUES (?, ?)')
  db.transaction(() => {
    for (const [subject, bindings] of map!) {
      const blob = Buffer.alloc(16 * bindings.length)
      bindings.forEach((b, k) => {
        blob.writeUInt32LE(b.app + b.ttlDays * 65536, 16 * k)
        blob.writeUInt32LE(b.verifiedAt, 16 * k + 4)
        blob.writeUInt32LE(b.index % 2 ** 32, 16 * k + 8)
        blob.writeUInt32LE(Math.floor(b.index / 2 ** 32), 16 * k + 12)
      })
      insert.run(subject, blob)
    }
  })()
  const select = db.prepare('SELECT bindings FROM numbers WHERE subject = ?').pluck()

  const out = new Uint16Array(64)
  const counts = new Uint8Array(BATCH)
  const batchOut = new Uint16Array(BATCH * 4)
  const passes = {
    mirror: (qs: Float64Array): number => {
      let acc = 0
      for (let i = 0; i < qs.length; i++) {
        const n = mirror.apps(qs[i]!, out)
        for (let k = 0; k < n; k++) acc += out[k]! + 1
      }
      return acc
    },
    batch: (qs: Float64Array): number => {
      let acc = 0
      for (let from = 0; from < qs.length; from += BATCH) {
        const chunk = qs.subarray(from, Math.min(qs.length, from + BATCH))
        mirror.appsMany(chunk, counts, batchOut, 4)
        for (let k = 0; k < chunk.length; k++) {
          const n = counts[k]!
          for (let j = 0; j < n; j++) acc += batchOut[k * 4 + j]! + 1
        }
      }
      return acc
    },
    map: (qs: Float64Array): number => {
      const m = map!
      let acc = 0
      for (let i = 0; i < qs.length; i++) {
        const bindings = m.get(qs[i]!)
        if (bindings === undefined) continue
        for (let k = 0; k < bindings.length; k++) {
          const b = bindings[k]!
          if (b.verifiedAt + b.ttlDays * DAY > nowSeconds) acc += b.app + 1
        }
      }
      return acc
    },
    sqlite: (qs: Float64Array): number => {
      let acc = 0
      for (let i = 0; i < qs.length; i++) {
        const blob = select.get(qs[i]!) as Buffer | undefined
        if (blob === undefined) continue
        for (let at = 0; at < blob.length; at += 16) {
          const w0 = blob.readUInt32LE(at)
          if (blob.readUInt32LE(at + 4) + (w0 >>> 16) * DAY > nowSeconds) acc += (w0 & 0xffff) + 1
        }
      }
      return acc
    },
  }
  // SQLite is an order of magnitude slower: it gets a quarter of the queries (a prefix of the same stream).
  const share = { mirror: 1, batch: 1, map: 1, sqlite: 0.25 }
  const names = Object.keys(passes) as (keyof typeof passes)[]
  const rates: Record<string, number[]> = Object.fromEntries(names.map((n) => [n, []]))

  // Warm up every loop, and check that all four give the same answers on a prefix.
  const warm = queries.subarray(0, Math.min(queries.length, 200_000))
  const sums = names.map((n) => passes[n](warm))
  if (new Set(sums).size !== 1) throw new Error(`lookup contenders disagree: ${names.map((n, i) => `${n} ${sums[i]}`).join(', ')}`)
  let hits = 0
  for (let i = 0; i < warm.length; i++) if (mirror.apps(warm[i]!, out) > 0) hits++

  for (let rep = 0; rep < reps; rep++) {
    for (const name of names) {
      const qs = queries.subarray(0, Math.max(1, Math.floor(queries.length * share[name])))
      const t = performance.now()
      passes[name](qs)
      rates[name]!.push(qs.length / ((performance.now() - t) / 1000))
    }
  }
  db.close()
  map = null
  gc()
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!
  return {
    mirror_lookups_per_s: median(rates.mirror!),
    mirror_batch_lookups_per_s: median(rates.batch!),
    map_lookups_per_s: median(rates.map!),
    sqlite_lookups_per_s: median(rates.sqlite!),
    map_bytes_per_record: mapBytes / Math.max(1, mirror.records),
    hit_ratio: hits / warm.length,
  }
}
