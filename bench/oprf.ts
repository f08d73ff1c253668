/**
 * The sealed labels' cost (src/protocol/oprf.ts, label-client.ts), each figure also as a ratio
 * to one ristretto255 scalar multiplication measured in the same run (the machine is shared, so
 * bare times drift): an operator's evaluation per element in batches of 250 and 1,000 (the
 * multiplications and the batch's DLEQ proof), the client's blinding per element, one
 * operator's proof check per batch, the final add-unblind-hash per element, and 1,000 contacts
 * end to end against two in-process operators (a fetch handler each, JSON and all; both
 * operators' work runs on this one thread). Medians of `--reps` passes. Prints one JSON line per
 * figure, then one with them all flat (what `npm run bench` records).
 *
 *   npx tsx bench/oprf.ts [--contacts 1000] [--reps 3]
 * @module
 */
import { ristretto255 } from '@noble/curves/ed25519.js'
import { sha512 } from '@noble/hashes/sha2.js'
import { toBase64Url } from '../src/protocol/bytes.ts'
import { resolveLabels, type Fetch, type Operator } from '../src/protocol/label-client.ts'
import {
  blindNumbers,
  decodeElement,
  encodeElement,
  evaluateBatch,
  finalizeSplit,
  generateKeyShare,
  keyShareFromSecret,
  verifyEvaluation,
  type KeyShare,
} from '../src/protocol/oprf.ts'
import { numberFlag } from './args.ts'
import { validNumbers } from './dataset.ts'

/** Options of {@link measureOprf}. */
export interface OprfBenchOptions {
  /** Batch sizes the operator's evaluation is timed at. */
  batches: number[]
  /** Contacts resolved end to end. */
  contacts: number
  /** Passes; each figure is their median. */
  reps: number
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!

const { Point } = ristretto255
const BASELINE_POINTS = Array.from({ length: 16 }, (_, i) => Point.BASE.multiply(BigInt(i + 2) ** 40n % Point.Fn.ORDER))
const BASELINE_SCALARS = BASELINE_POINTS.map((_, i) => Point.Fn.create(BigInt(i + 7) ** 50n))
const BASELINE_MULTS = 32

/** Microseconds of one variable-base constant-time ristretto255 multiplication, now. */
function scalarMultUs(): number {
  const t = performance.now()
  for (let i = 0; i < BASELINE_MULTS; i++) BASELINE_POINTS[i % 16]!.multiply(BASELINE_SCALARS[(i * 7) % 16]!)
  return ((performance.now() - t) * 1000) / BASELINE_MULTS
}

/**
 * Milliseconds `fn` takes and that time in scalar multiplications, each the median of `reps`
 * passes; every pass times the baseline right before `fn`, so a drifting machine moves both.
 */
async function timeVsMult(reps: number, fn: () => unknown): Promise<{ ms: number; mults: number; multUs: number }> {
  const ms: number[] = []
  const mults: number[] = []
  const multUs: number[] = []
  for (let r = 0; r < reps; r++) {
    const unit = scalarMultUs()
    const t = performance.now()
    await fn()
    const lap = performance.now() - t
    ms.push(lap)
    multUs.push(unit)
    mults.push((lap * 1000) / unit)
  }
  return { ms: median(ms), mults: median(mults), multUs: median(multUs) }
}

/** An in-process operator: a fetch handler that evaluates each request with `key`. */
function inProcessOperator(url: string, key: KeyShare): { operator: Operator; handle: Fetch } {
  const handle: Fetch = async (_url, init) => {
    const elements = (JSON.parse(String(init!.body)) as { elements: string[] }).elements.map(decodeElement)
    const { evaluations, proof } = evaluateBatch(key, elements)
    return Response.json({ evaluations: evaluations.map(encodeElement), proof: toBase64Url(proof) })
  }
  return { operator: { url, token: 'bench', publicKey: key.publicKey }, handle }
}

/** Runs the measurements; returns the figures flat (µs and ms as named, ratios as `_vs_mult`). */
export async function measureOprf(o: OprfBenchOptions, print: (line: string) => void = () => {}): Promise<Record<string, number>> {
  const k1 = keyShareFromSecret(generateKeyShare().secretHex)
  const k2 = keyShareFromSecret(generateKeyShare().secretHex)
  const largest = Math.max(...o.batches, o.contacts)
  const numbers = validNumbers(largest, 11)
  const results: Record<string, number> = {}
  const multUs: number[] = []
  /** Records `ms` (per `per` items, in µs, or whole, in ms) and its ratio to one multiplication. */
  const record = async (figure: string, per: number | null, fn: () => unknown, extra: Record<string, number> = {}) => {
    const m = await timeVsMult(o.reps, fn)
    multUs.push(m.multUs)
    const value = per ? (m.ms * 1000) / per : m.ms
    const mults = per ? m.mults / per : m.mults
    const unit = per ? 'us' : 'ms'
    results[`oprf_${figure}_${unit}`] = value
    results[`oprf_${figure}_vs_mult`] = mults
    print(JSON.stringify({ figure, [unit]: Number(value.toFixed(3)), scalar_mults: Number(mults.toFixed(2)), ...extra }))
  }

  // Warm-up: every code path once, small, so no figure pays for the compiler.
  const warm = blindNumbers(numbers.slice(0, 8))
  const warmA = evaluateBatch(k1, warm.map((b) => b.element))
  verifyEvaluation(warm, warmA.evaluations, warmA.proof, k1.publicKey)
  finalizeSplit(warm, warmA.evaluations, warmA.evaluations)
  scalarMultUs()

  // The second baseline: SHA-512 of 64 bytes, in multiplications too.
  const block = new Uint8Array(64).fill(7)
  const hashes = 2000
  await record('sha512_64_bytes', hashes, () => {
    for (let i = 0; i < hashes; i++) sha512(block)
  })

  for (const n of o.batches) {
    const elements = blindNumbers(numbers.slice(0, n)).map((b) => b.element)
    await record(`evaluate_${n}_per_element`, n, () => evaluateBatch(k1, elements), { batch: n })
  }

  const n = o.batches[0]!
  const part = numbers.slice(0, n)
  await record('blind_per_element', n, () => blindNumbers(part), { batch: n })
  const blinded = blindNumbers(part)
  const a = evaluateBatch(k1, blinded.map((b) => b.element))
  const b = evaluateBatch(k2, blinded.map((b) => b.element))
  await record(`verify_${n}_per_batch`, null, () => verifyEvaluation(blinded, a.evaluations, a.proof, k1.publicKey), { batch: n })
  await record('finalize_per_element', n, () => finalizeSplit(blinded, a.evaluations, b.evaluations), { batch: n })
  // The client's own work per contact: blind once, check two proofs, finalize once.
  results.oprf_client_per_contact_vs_mult =
    results.oprf_blind_per_element_vs_mult! + (2 * results[`oprf_verify_${n}_per_batch_vs_mult`]!) / n + results.oprf_finalize_per_element_vs_mult!
  print(JSON.stringify({ figure: 'client_per_contact', scalar_mults: Number(results.oprf_client_per_contact_vs_mult.toFixed(2)), batch: n }))

  const dir = inProcessOperator('https://directory.bench', k1)
  const holder = inProcessOperator('https://holder.bench', k2)
  const fetch: Fetch = (url, init) => (url.startsWith('https://directory.bench/') ? dir.handle : holder.handle)(url, init)
  const contacts = numbers.slice(0, o.contacts)
  let resolved = 0
  await record(`resolve_${o.contacts}_contacts`, null, async () => {
    resolved = (await resolveLabels(contacts, [dir.operator, holder.operator], { fetch })).size
  }, { contacts: o.contacts })
  if (resolved !== o.contacts) throw new Error(`resolved ${resolved} of ${o.contacts} contacts`)
  results.oprf_scalar_mult_us = median(multUs)
  print(JSON.stringify({ figure: 'scalar_mult', us: Number(results.oprf_scalar_mult_us.toFixed(3)), note: 'median of the baselines timed before each figure' }))
  return results
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const argv = process.argv.slice(2)
  const results = await measureOprf(
    { batches: [250, 1000], contacts: numberFlag(argv, 'contacts', 1000), reps: numberFlag(argv, 'reps', 3) },
    (line) => console.log(line),
  )
  console.log(JSON.stringify(results))
}
