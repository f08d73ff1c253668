/**
 * Deterministic synthetic directory data for measurements: mobile numbers of eight countries
 * with their real lengths, each bound to 1–3 of 20 apps (skewed popularity).
 * @module
 */
import type { Binding, SubjectRecord } from './types.ts'

/** xorshift32 PRNG returning floats in [0, 1). */
export function rng(seed: number): () => number {
  let s = seed >>> 0 || 1
  return () => {
    s ^= s << 13
    s >>>= 0
    s ^= s >>> 17
    s ^= s << 5
    s >>>= 0
    return s / 4294967296
  }
}

const int = (r: () => number, n: number): number => Math.floor(r() * n)

/** [weight %, generator] per country: E.164 digits as an integer, national mobile ranges. */
const COUNTRIES: [number, (r: () => number) => number][] = [
  // +1 NPA-NXX-XXXX: 11 digits.
  [30, (r) => 1e10 + (200 + int(r, 800)) * 1e7 + (200 + int(r, 800)) * 1e4 + int(r, 1e4)],
  // +44 7xxx xxxxxx: 12 digits.
  [8, (r) => 447e9 + int(r, 1e9)],
  // +49 15x/16x/17x + 7 or 8 digits: 12 or 13 digits.
  [8, (r) => (r() < 0.5 ? 49e10 + (150 + int(r, 30)) * 1e7 + int(r, 1e7) : 49e11 + (150 + int(r, 30)) * 1e8 + int(r, 1e8))],
  // +33 6/7 + 8 digits: 11 digits.
  [6, (r) => 33e9 + (6 + int(r, 2)) * 1e8 + int(r, 1e8)],
  // +91 [6-9] + 9 digits: 12 digits.
  [20, (r) => 91e10 + (6 + int(r, 4)) * 1e9 + int(r, 1e9)],
  // +86 1[3-9] + 9 digits: 13 digits.
  [15, (r) => 86e11 + (13 + int(r, 7)) * 1e9 + int(r, 1e9)],
  // +55 area (11-99) 9 + 8 digits: 13 digits.
  [8, (r) => 55e11 + (11 + int(r, 89)) * 1e9 + 9e8 + int(r, 1e8)],
  // +234 70x/80x/81x/90x/91x + 7 digits: 13 digits.
  [5, (r) => 234e10 + [70, 80, 81, 90, 91][int(r, 5)]! * 1e8 + int(r, 1e8)],
]

/** One random mobile number. */
export function randomSubject(r: () => number): number {
  let x = r() * 100
  for (const [weight, make] of COUNTRIES) {
    if (x < weight) return make(r)
    x -= weight
  }
  return COUNTRIES[0]![1](r)
}

/** Exactly `n` distinct random subjects, ascending. */
export function syntheticSubjects(n: number, seed: number): Float64Array {
  const r = rng(seed)
  let have = new Float64Array(0)
  while (have.length < n) {
    const next = new Float64Array(n)
    next.set(have)
    for (let i = have.length; i < n; i++) next[i] = randomSubject(r)
    next.sort()
    let k = 0
    for (let i = 0; i < n; i++) if (i === 0 || next[i] !== next[k - 1]) next[k++] = next[i]!
    have = next.slice(0, k)
  }
  return have
}

const APPS = 20
const APP_WEIGHTS = Array.from({ length: APPS }, (_, i) => 1 / (i + 1))
const APP_TOTAL = APP_WEIGHTS.reduce((a, b) => a + b, 0)

function randomApp(r: () => number): number {
  let x = r() * APP_TOTAL
  for (let i = 0; i < APPS; i++) {
    if (x < APP_WEIGHTS[i]!) return i + 1
    x -= APP_WEIGHTS[i]!
  }
  return APPS
}

/** The bindings of one record: 1 (55%), 2 (30%) or 3 (15%) distinct apps; 0.1% carry a key fingerprint. */
export function randomBindings(r: () => number, logSize: number): Binding[] {
  const x = r()
  const count = x < 0.55 ? 1 : x < 0.85 ? 2 : 3
  const apps: number[] = []
  while (apps.length < count) {
    const app = randomApp(r)
    if (!apps.includes(app)) apps.push(app)
  }
  apps.sort((a, b) => a - b)
  return apps.map((app) => {
    const b: Binding = { app, index: int(r, logSize), verifiedAt: 1_700_000_000 + int(r, 30_000_000), ttlDays: r() < 0.8 ? 365 : 90 }
    if (r() < 0.001) b.keyFingerprint = new Uint8Array(32).fill(app)
    return b
  })
}

/** Records over `subjects` (ascending), generated lazily and deterministically. */
export function* syntheticRecords(subjects: Float64Array, seed: number): Generator<SubjectRecord> {
  const r = rng(seed ^ 0x5bd1e995)
  const logSize = subjects.length * 3
  for (let i = 0; i < subjects.length; i++) yield { subject: subjects[i]!, bindings: randomBindings(r, logSize) }
}
