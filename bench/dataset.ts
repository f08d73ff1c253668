/**
 * A deterministic, realistic dataset for benchmarks: E.164 numbers over a mix of countries
 * (each with its real national number length), one to three apps each, bound over a year in
 * a random order, as a log would have recorded them.
 * @module
 */

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

function randomSubject(rnd: () => number): number {
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
  const start = 1_764_000_000
  const year = 365 * 86_400
  for (let k = 0; k < bindings; k++) {
    const b = out[order[k]!]!.bindings[orderBinding[k]!]!
    b.index = appCount + k
    b.verifiedAt = start + Math.floor((k * year) / bindings)
  }
  return { appCount, records: out, entryCount: appCount + bindings, order, orderBinding }
}
