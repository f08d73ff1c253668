/**
 * The one dataset of the benchmark suite: deterministic, realistic directory contents. E.164
 * numbers over a mix of countries (each with its real national number length), one to three
 * apps each, bound over a year in a random order, as a log would have recorded them; plus, for
 * replay, a tail of later log entries (new numbers, more apps, renewals and removals).
 * @module
 */
import { e164Of, type LogEntry } from '../src/protocol/entry.ts'
import { isE164 } from '../src/protocol/phone.ts'

/** Countries: calling code, national number length, share of numbers, leading national digits. */
const COUNTRIES: { cc: string; length: number; share: number; leading: string[] }[] = [
  { cc: '1', length: 10, share: 0.3, leading: ['201', '212', '305', '415', '510', '617', '650', '702', '917'] },
  { cc: '91', length: 10, share: 0.2, leading: ['70', '80', '90', '98'] },
  { cc: '86', length: 11, share: 0.15, leading: ['13', '15', '18'] },
  { cc: '55', length: 11, share: 0.08, leading: ['119', '219', '619'] },
  { cc: '234', length: 10, share: 0.07, leading: ['80', '81', '90'] },
  { cc: '44', length: 10, share: 0.06, leading: ['74', '75', '77', '78'] },
  { cc: '49', length: 11, share: 0.05, leading: ['151', '160', '170', '176'] },
  { cc: '33', length: 9, share: 0.05, leading: ['6', '7'] },
  { cc: '61', length: 9, share: 0.04, leading: ['4'] },
]

/** A seeded PRNG (mulberry32): same seed, same dataset, on every machine. */
export function prng(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** One binding of a dataset record; `index` is the log index of its add entry. */
export interface DatasetBinding {
  app: number
  index: number
  verifiedAt: number
  ttlDays: number
}

/** A dataset: apps 1..appCount, records sorted by subject, and the log size that made them. */
export interface Dataset {
  appCount: number
  records: { subject: number; bindings: DatasetBinding[] }[]
  /** Entries: appCount app-registers, then one add per binding, in index order. */
  entryCount: number
  /** For each log index ≥ appCount, the record (position in `records`) and binding it added. */
  order: Int32Array
  orderBinding: Uint8Array
}

/** Random numbers present (`hit`) or absent from the dataset, for lookup benchmarks. */
export function sampleSubjects(ds: Dataset, count: number, hitRatio: number, seed: number): number[] {
  const rnd = prng(seed)
  const out: number[] = []
  for (let i = 0; i < count; i++) {
    if (rnd() < hitRatio) out.push(ds.records[Math.floor(rnd() * ds.records.length)]!.subject)
    else out.push(randomSubject(rnd) + 1) // absent with overwhelming probability; +1 keeps it off a generated one most times
  }
  return out
}

/**
 * `count` distinct numbers from the dataset's mix of countries that the directory accepts (valid
 * for libphonenumber, in E.164 form), deterministically from `seed`: what the measurements of
 * the real Worker bind.
 */
export function validNumbers(count: number, seed: number): string[] {
  const rnd = prng(seed)
  const out = new Set<string>()
  while (out.size < count) {
    const phone = e164Of(randomSubject(rnd))
    if (isE164(phone)) out.add(phone)
  }
  return [...out]
}

/** One random number from the dataset's mix of countries (E.164 digits as an integer). */
export function randomSubject(rnd: () => number): number {
  let r = rnd()
  let c = COUNTRIES[0]!
  for (const country of COUNTRIES) {
    if (r < country.share) {
      c = country
      break
    }
    r -= country.share
  }
  const lead = c.leading[Math.floor(rnd() * c.leading.length)]!
  let national = lead
  while (national.length < c.length) national += Math.floor(rnd() * 10)
  return Number(c.cc + national)
}

/** The dataset's log starts at this time (s): 2025-11-24. */
export const DATASET_START = 1_764_000_000
const YEAR = 365 * 86_400
/**
 * The clock (s) benchmarks look numbers up at: a year after the dataset's start, when every
 * binding of the dataset is live (each lasts 365 days from its verification).
 */
export const DATASET_NOW = DATASET_START + YEAR - 60

/** Generates `records` numbers with 1–3 of `appCount` apps each, deterministically from `seed`. */
export function generateDataset(records: number, seed = 1, appCount = 20): Dataset {
  const rnd = prng(seed)
  const subjects = new Set<number>()
  while (subjects.size < records) subjects.add(randomSubject(rnd))
  const sorted = Float64Array.from(subjects).sort()
  const out: Dataset['records'] = new Array(records)
  let bindings = 0
  for (let i = 0; i < records; i++) {
    // Popular apps are more likely: app k is chosen with weight 1/k.
    const n = rnd() < 0.6 ? 1 : rnd() < 0.75 ? 2 : 3
    const apps = new Set<number>()
    while (apps.size < n) apps.add(1 + Math.min(appCount - 1, Math.floor(appCount ** rnd() - 1)))
    out[i] = { subject: sorted[i]!, bindings: [...apps].sort((a, b) => a - b).map((app) => ({ app, index: 0, verifiedAt: 0, ttlDays: 365 })) }
    bindings += n
  }
  // Log order: a random permutation of all bindings, verified evenly over a year.
  const order = new Int32Array(bindings)
  const orderBinding = new Uint8Array(bindings)
  let k = 0
  for (let i = 0; i < records; i++) {
    for (let j = 0; j < out[i]!.bindings.length; j++) {
      order[k] = i
      orderBinding[k++] = j
    }
  }
  for (let i = bindings - 1; i > 0; i--) {
    const j = Math.floor(rnd() * (i + 1))
    ;[order[i], order[j]] = [order[j]!, order[i]!]
    ;[orderBinding[i], orderBinding[j]] = [orderBinding[j]!, orderBinding[i]!]
  }
  for (let k = 0; k < bindings; k++) {
    const b = out[order[k]!]!.bindings[orderBinding[k]!]!
    b.index = appCount + k
    b.verifiedAt = DATASET_START + Math.floor((k * YEAR) / bindings)
  }
  return { appCount, records: out, entryCount: appCount + bindings, order, orderBinding }
}

/** The log entries that make the dataset, in order: `appCount` app-registers, then one add per binding. */
export function* datasetEntries(ds: Dataset): Generator<LogEntry> {
  for (let app = 1; app <= ds.appCount; app++) yield { kind: 'app-register', app, time: DATASET_START, id: appId(app) }
  for (let k = 0; k < ds.order.length; k++) {
    const r = ds.records[ds.order[k]!]!
    const b = r.bindings[ds.orderBinding[k]!]!
    yield { kind: 'add', subject: r.subject, app: b.app, time: b.verifiedAt, ttlDays: b.ttlDays }
  }
}

/** The id of app number `num` in the dataset (`app1`, `app2`, ...). */
export function appId(num: number): string {
  return `app${num}`
}

/**
 * `count` log entries that continue the dataset's log, deterministically from `seed`: what a
 * directory writes after the year the dataset covers, one a second. 45% add a new number,
 * 10% add another app to a number, 30% renew a binding, 15% remove one. Every entry is valid
 * for the directory's fold at its position.
 */
export function generateTail(ds: Dataset, count: number, seed = 2): LogEntry[] {
  const rnd = prng(seed)
  const subjects = Float64Array.from(ds.records, (r) => r.subject)
  // Apps of each number the tail touched (the dataset's records are not modified).
  const touched = new Map<number, number[]>()
  const appsOf = (subject: number, record: number): number[] => {
    let apps = touched.get(subject)
    if (!apps) {
      apps = record >= 0 ? ds.records[record]!.bindings.map((b) => b.app) : []
      touched.set(subject, apps)
    }
    return apps
  }
  const randomApp = () => 1 + Math.min(ds.appCount - 1, Math.floor(ds.appCount ** rnd() - 1))
  const out: LogEntry[] = []
  let time = DATASET_START + YEAR
  while (out.length < count) {
    time++
    const r = rnd()
    if (r < 0.45) {
      const subject = randomSubject(rnd)
      if (indexOf(subjects, subject) >= 0 || touched.has(subject)) continue
      const app = randomApp()
      touched.set(subject, [app])
      out.push({ kind: 'add', subject, app, time, ttlDays: 365 })
      continue
    }
    const record = Math.floor(rnd() * ds.records.length)
    const subject = ds.records[record]!.subject
    const apps = appsOf(subject, record)
    if (r < 0.55) {
      const app = randomApp()
      if (apps.includes(app)) continue
      apps.push(app)
      out.push({ kind: 'add', subject, app, time, ttlDays: 365 })
    } else if (apps.length === 0) {
      continue
    } else if (r < 0.85) {
      out.push({ kind: 'renew', subject, app: apps[Math.floor(rnd() * apps.length)]!, time, ttlDays: 365 })
    } else {
      const at = Math.floor(rnd() * apps.length)
      const app = apps[at]!
      apps.splice(at, 1)
      out.push({ kind: 'remove', subject, app, time, reason: 'app' })
    }
  }
  return out
}

/** Position of `x` in the ascending `sorted`, or -1. */
function indexOf(sorted: Float64Array, x: number): number {
  let lo = 0
  let hi = sorted.length - 1
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1
    const v = sorted[mid]!
    if (v === x) return mid
    if (v < x) lo = mid + 1
    else hi = mid - 1
  }
  return -1
}
