/**
 * The mirror store's own measurements (its index and files, below the mirror's library API),
 * on the benchmark suite's dataset (dataset.ts): build time, lookups/s (index vs a JS Map and
 * the sorted-array alternative in the same run), bytes per record (typed arrays and RSS),
 * base-file bootstrap/reopen time, commit latency. `npm run bench` measures the mirror as an
 * app uses it; this is the deeper report behind docs/mirror-store.md.
 *
 *   node --expose-gc --max-old-space-size=16384 --import tsx bench/store.ts --records 10000000
 *
 * Flags: --records N (1e6), --seed S (1), --queries lookups per timed pass (1e7), --reps passes
 * (3), --no-map (skip the Map baseline), --no-sorted (skip the sorted-array alternative),
 * --no-store (skip the file measurements).
 * @module
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { openStore } from '../replicas/src/store/store.ts'
import { BINDING_WORDS, IndexBuilder, type SubjectIndex } from '../replicas/src/store/subject-index.ts'
import { DAY, type Binding } from '../replicas/src/store/types.ts'
import { generateDataset, prng, randomSubject } from './dataset.ts'

const args = process.argv.slice(2)
const flag = (name: string, fallback: number): number => {
  const i = args.indexOf(`--${name}`)
  return i >= 0 ? Number(args[i + 1]) : fallback
}
const N = flag('records', flag('n', 1_000_000))
const Q = flag('queries', 10_000_000)
const REPS = flag('reps', 3)
const withMap = !args.includes('--no-map')
const withStore = !args.includes('--no-store')
const withSorted = !args.includes('--no-sorted')
const SEED = flag('seed', 1)

const gc = (globalThis as { gc?: () => void }).gc ?? (() => {})
const rss = (): number => {
  gc()
  gc()
  return process.memoryUsage().rss
}
const ms = (t0: number): number => performance.now() - t0
const fmt = (x: number, digits = 1): string => x.toFixed(digits)
const out: string[] = []
const report = (line: string): void => {
  out.push(line)
  console.log(line)
}

report(`# store measure: N=${N.toLocaleString('en')} records, ${Q.toLocaleString('en')} lookups per pass, ${REPS} passes, node ${process.version}`)

let t0 = performance.now()
const ds = generateDataset(N, SEED)
const subjects = Float64Array.from(ds.records, (r) => r.subject)
report(`generate dataset: ${fmt(ms(t0), 0)} ms`)

// Queries: half present (random records), half absent (fresh numbers from the same distribution).
const queries = new Float64Array(Q)
{
  const r = prng(SEED + 1)
  for (let i = 0; i < Q; i += 2) queries[i] = subjects[Math.floor(r() * N)]!
  for (let i = 1; i < Q; i += 2) queries[i] = randomSubject(r)
}

const rss0 = rss()
// Time only the builder (not the synthetic generator): records come in chunks.
const builder = new IndexBuilder(N, Math.ceil(ds.order.length * (17 / 16)))
let addMs = 0
{
  const chunk: (typeof ds.records)[number][] = []
  const flush = (): void => {
    const t = performance.now()
    for (const record of chunk) builder.add(record)
    addMs += ms(t)
    chunk.length = 0
  }
  for (const record of ds.records) if (chunk.push(record) === 65_536) flush()
  flush()
}
t0 = performance.now()
const index = builder.finish()
const finishMs = ms(t0)
const rss1 = rss()
const mem = index.memoryBytes()
report(`build index from ${N.toLocaleString('en')} sorted record objects: ${fmt(addMs + finishMs, 0)} ms (add ${fmt(addMs, 0)} ms + hash table ${fmt(finishMs, 0)} ms)`)
report(`records ${index.size.toLocaleString('en')}, bindings ${index.bindingCount.toLocaleString('en')} (${fmt(index.bindingCount / index.size, 2)}/record)`)
report(`lookup index: ${fmt(mem.index / N, 2)} B/record (${fmt(mem.index / 2 ** 20)} MiB); binding payload: ${fmt(mem.payload / N, 2)} B/record (${fmt(mem.payload / 2 ** 20)} MiB, incl. 1/16 headroom); fingerprints ${fmt(mem.fingerprints / N, 3)} B/record`)
report(`RSS delta for the index: ${fmt((rss1 - rss0) / N, 1)} B/record`)

// Absent half: replace accidental hits by fresh numbers.
{
  const r = prng(SEED + 2)
  for (let i = 1; i < Q; i += 2) while (index.has(queries[i]!)) queries[i] = randomSubject(r)
}

/** find() only. */
function passFind(ix: SubjectIndex, qs: Float64Array): number {
  let hits = 0
  for (let i = 0; i < qs.length; i++) if (ix.find(qs[i]!) >= 0) hits++
  return hits
}

/** find() then read every binding's app and expiry: what answering a lookup needs. */
function passGet(ix: SubjectIndex, qs: Float64Array): number {
  let acc = 0
  for (let i = 0; i < qs.length; i++) {
    const slot = ix.find(qs[i]!)
    if (slot < 0) continue
    const first = ix.first(slot)
    const end = first + ix.count(slot)
    for (let p = first; p < end; p++) acc += ix.app(p) + ix.expiresAt(p)
  }
  return acc
}

/** findMany() in chunks of 1024, then the same reads. */
function passMany(ix: SubjectIndex, qs: Float64Array): number {
  const slots = new Int32Array(1024)
  let acc = 0
  for (let from = 0; from < qs.length; from += 1024) {
    const chunk = qs.subarray(from, Math.min(qs.length, from + 1024))
    ix.findMany(chunk, slots)
    for (let k = 0; k < chunk.length; k++) {
      const slot = slots[k]!
      if (slot < 0) continue
      const first = ix.first(slot)
      const end = first + ix.count(slot)
      for (let p = first; p < end; p++) acc += ix.app(p) + ix.expiresAt(p)
    }
  }
  return acc
}

/** Map.get() then the same reads from the binding objects. */
function passMap(map: Map<number, Binding[]>, qs: Float64Array): number {
  let acc = 0
  for (let i = 0; i < qs.length; i++) {
    const bindings = map.get(qs[i]!)
    if (bindings === undefined) continue
    for (let k = 0; k < bindings.length; k++) {
      const b = bindings[k]!
      acc += b.app + b.verifiedAt + b.ttlDays * DAY
    }
  }
  return acc
}

function passMapHas(map: Map<number, Binding[]>, qs: Float64Array): number {
  let hits = 0
  for (let i = 0; i < qs.length; i++) if (map.get(qs[i]!) !== undefined) hits++
  return hits
}

/**
 * The alternative the hash table beat, kept for comparison: subjects sorted in a Float64Array,
 * a two-level radix table (top level on subject / 2^36, then equal-width buckets of about two
 * records per region) narrowing a binary search, and the payload in subject order.
 */
class SortedIndex {
  readonly keys: Float64Array
  readonly start: Uint32Array
  readonly words: Uint32Array
  private readonly top = new Int32Array(1 << 14).fill(-1)
  private readonly min: Float64Array
  private readonly width: Float64Array
  private readonly offset: Uint32Array
  private readonly buckets: Uint32Array
  private readonly table: Uint32Array

  constructor(index: SubjectIndex) {
    const keys = index.sortedSubjects()
    const n = keys.length
    this.keys = keys
    this.start = new Uint32Array(n + 1)
    this.words = new Uint32Array(index.bindingCount * BINDING_WORDS)
    let used = 0
    for (let r = 0; r < n; r++) {
      this.start[r] = used
      used += index.copyEncoded(index.find(keys[r]!), this.words, used)
    }
    this.start[n] = used
    const regions: { min: number; width: number; offset: number; buckets: number; from: number; to: number }[] = []
    let size = 0
    for (let from = 0; from < n; ) {
      const region = Math.floor(keys[from]! / 2 ** 36)
      let to = from
      while (to < n && Math.floor(keys[to]! / 2 ** 36) === region) to++
      const buckets = 2 ** Math.max(0, Math.ceil(Math.log2((to - from) / 2)))
      const min = keys[from]!
      this.top[region] = regions.length
      regions.push({ min, width: Math.ceil((keys[to - 1]! - min + 1) / buckets), offset: size, buckets, from, to })
      size += buckets + 1
      from = to
    }
    this.table = new Uint32Array(size)
    for (const g of regions) {
      let r = g.from
      for (let k = 0; k <= g.buckets; k++) {
        while (r < g.to && keys[r]! < g.min + k * g.width) r++
        this.table[g.offset + k] = r
      }
    }
    this.min = Float64Array.from(regions, (g) => g.min)
    this.width = Float64Array.from(regions, (g) => g.width)
    this.offset = Uint32Array.from(regions, (g) => g.offset)
    this.buckets = Uint32Array.from(regions, (g) => g.buckets)
  }

  /** Bytes of the lookup structures (keys, record starts, radix tables). */
  indexBytes(): number {
    return this.keys.byteLength + this.start.byteLength + this.table.byteLength + this.top.byteLength
  }

  /** The record number of `x`, or -1. */
  find(x: number): number {
    const region = Math.floor(x / 2 ** 36)
    if (region >= 1 << 14) return -1
    const m = this.top[region]!
    if (m < 0) return -1
    const d = x - this.min[m]!
    if (d < 0) return -1
    const k = Math.floor(d / this.width[m]!)
    if (k >= this.buckets[m]!) return -1
    let lo = this.table[this.offset[m]! + k]!
    let hi = this.table[this.offset[m]! + k + 1]!
    const keys = this.keys
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      const v = keys[mid]!
      if (v < x) lo = mid + 1
      else if (v > x) hi = mid
      else return mid
    }
    return -1
  }
}

function passSortedFind(ix: SortedIndex, qs: Float64Array): number {
  let hits = 0
  for (let i = 0; i < qs.length; i++) if (ix.find(qs[i]!) >= 0) hits++
  return hits
}

function passSortedGet(ix: SortedIndex, qs: Float64Array): number {
  let acc = 0
  const start = ix.start
  const words = ix.words
  for (let i = 0; i < qs.length; i++) {
    const r = ix.find(qs[i]!)
    if (r < 0) continue
    for (let p = start[r]!; p < start[r + 1]!; p++) {
      const w0 = words[p * BINDING_WORDS]!
      acc += (w0 & 0xffff) + words[p * BINDING_WORDS + 1]! + (w0 >>> 16) * DAY
    }
  }
  return acc
}

const rates = new Map<string, number[]>()
function timed(name: string, fn: () => number): number {
  const t = performance.now()
  const result = fn()
  const rate = Q / ms(t) / 1e3
  const list = rates.get(name) ?? []
  list.push(rate)
  rates.set(name, list)
  return result
}
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!

// Warm up every loop on a slice so the timed passes run optimized code.
const warm = queries.subarray(0, Math.min(Q, 1_000_000))
passFind(index, warm)
passGet(index, warm)
passMany(index, warm)
const hits = passFind(index, queries)
report(`queries: ${fmt((hits / Q) * 100)}% present`)

let sorted: SortedIndex | undefined
if (withSorted) {
  t0 = performance.now()
  sorted = new SortedIndex(index)
  report(`sorted alternative: built from the index in ${fmt(ms(t0), 0)} ms; lookup structures ${fmt(sorted.indexBytes() / N, 2)} B/record`)
  passSortedFind(sorted, warm)
  passSortedGet(sorted, warm)
  if (passSortedGet(sorted, queries) !== passGet(index, queries)) throw new Error('sorted alternative disagrees')
}


let map: Map<number, Binding[]> | undefined
let mapRssPerRecord = 0
let mapBuildMs = 0
if (withMap) {
  const before = rss()
  t0 = performance.now()
  map = new Map()
  for (const record of ds.records) map.set(record.subject, record.bindings.map((b) => ({ ...b })))
  mapBuildMs = ms(t0)
  mapRssPerRecord = (rss() - before) / N
  passMap(map, warm)
  passMapHas(map, warm)
  const check = passGet(index, queries)
  if (passMap(map, queries) !== check) throw new Error('index and Map disagree')
}

// Interleave the contenders so machine noise hits both alike.
for (let rep = 0; rep < REPS; rep++) {
  timed('index find', () => passFind(index, queries))
  timed('index find+read', () => passGet(index, queries))
  timed('index findMany+read', () => passMany(index, queries))
  if (sorted) {
    const x = sorted
    timed('sorted find', () => passSortedFind(x, queries))
    timed('sorted find+read', () => passSortedGet(x, queries))
  }
  if (map) {
    const m = map
    timed('Map get', () => passMapHas(m, queries))
    timed('Map get+read', () => passMap(m, queries))
  }
}
report(`lookups/s (median of ${REPS}; all passes in M/s):`)
for (const [name, list] of rates) report(`  ${name.padEnd(20)} ${fmt(median(list), 2)} M/s   [${list.map((x) => fmt(x, 2)).join(', ')}]`)
const ratio = (a: string, b: string): string => fmt(median(rates.get(a)!) / median(rates.get(b)!), 2)
if (sorted) report(`ratio index/sorted: find ${ratio('index find', 'sorted find')}×, find+read ${ratio('index find+read', 'sorted find+read')}×`)
if (map) {
  report(`ratio index/Map: find ${ratio('index find', 'Map get')}×, find+read ${ratio('index find+read', 'Map get+read')}×, findMany+read ${ratio('index findMany+read', 'Map get+read')}×`)
  report(`Map baseline: build ${fmt(mapBuildMs, 0)} ms, RSS delta ${fmt(mapRssPerRecord, 1)} B/record`)
  map = undefined
}

if (withStore) {
  const dir = mkdtempSync(join(tmpdir(), 'whodis-measure-'))
  try {
    const meta = (treeSize: number) => ({ treeSize, checkpoint: `measure\n${treeSize}\n`, rightEdge: [new Uint8Array(32)], apps: [{ num: 1, id: 'app1', revoked: false }] })
    let store = await openStore(dir)
    t0 = performance.now()
    await store.bootstrap(ds.records, meta(ds.entryCount))
    const bootMs = ms(t0)
    const stats = store.stats()
    await store.close()
    t0 = performance.now()
    store = await openStore(dir)
    const reopenMs = ms(t0)
    if (store.index.size !== N) throw new Error('reopen lost records')
    const r = prng(SEED + 3)
    const latencies: number[] = []
    for (let k = 1; k <= 20; k++) {
      const changes = Array.from({ length: 100 }, () => ({ subject: subjects[Math.floor(r() * N)]!, bindings: [{ app: 1, index: ds.entryCount + k, verifiedAt: 1_800_000_000, ttlDays: 365 }] }))
      const t = performance.now()
      await store.commit(changes, meta(ds.entryCount + k))
      latencies.push(ms(t))
    }
    t0 = performance.now()
    await store.compact()
    const compactMs = ms(t0)
    await store.close()
    report(`bootstrap from ${N.toLocaleString('en')} record objects (validate + build index + write ${fmt(stats.baseBytes / 2 ** 20)} MiB base, ${fmt(stats.baseBytes / N, 1)} B/record): ${fmt(bootMs, 0)} ms`)
    report(`reopen (read + checksum base, build index): ${fmt(reopenMs, 0)} ms`)
    report(`commit of 100 changes (fsync'd): median ${fmt(median(latencies), 2)} ms, max ${fmt(Math.max(...latencies), 2)} ms`)
    report(`compact (rewrite base): ${fmt(compactMs, 0)} ms`)
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}
report(`peak RSS: ${fmt(process.resourceUsage().maxRSS / 1024, 0)} MiB`)
