/**
 * HTTP load with autocannon: GETs of a set of paths against one server, with the same settings
 * for every server measured so their figures compare, and the concurrency each is measured at
 * found by measurement ({@link sweepConcurrency}, {@link chooseConcurrency}).
 *
 * A server that is saturated only queues what more connections send it, and a runtime that
 * queues unfairly lets a few requests starve for seconds; so a server is measured at the fewest
 * connections that give (nearly) its best throughput with a bounded tail, and the tail itself
 * (requests over 1 s, over 10 s) is a figure, not a reason to throw a run away.
 * @module
 */
import autocannon from 'autocannon'

/** A request slower than this is in the tail (`over_1s`). */
export const SLOW_MS = 1_000
/** autocannon gives up on a request after this long; such a request counts in `timeouts` (the figures' `_over_10s`). */
export const TIMEOUT_MS = 10_000
/** A load run is bounded when its p99 is at most this and no request timed out. */
export const P99_BOUND_MS = SLOW_MS
/** More connections must raise throughput by this share to count as an improvement. */
export const IMPROVEMENT = 1.05
/** The chosen concurrency is the fewest connections within this share of the best bounded throughput. */
export const NEAR_BEST = 0.95

/** One load run: throughput, latency (timed-out requests count as {@link TIMEOUT_MS}) and tail. */
export interface LoadResult {
  connections: number
  /** 2xx answers per second over the run. */
  rps: number
  p50_ms: number
  p99_ms: number
  max_ms: number
  /** Requests answered or timed out. */
  requests: number
  /** Requests slower than {@link SLOW_MS}, timed-out ones included. */
  over_1s: number
  /** Requests that got no answer within the timeout ({@link TIMEOUT_MS}: the figures' "over 10 s"). */
  timeouts: number
  /** Non-2xx answers and socket errors (timeouts are tail, not failures). */
  failures: number
  failureCodes: string[]
  /** Every request's latency (ms), for percentiles over several runs. */
  latencies: Float64Array
}

/** Options of one load run. */
export interface LoadOptions {
  headers?: Record<string, string>
  connections: number
  /** Requests to send in all (each connection sends its share, then stops). */
  requests: number
  /** After this long a request counts as timed out (default {@link TIMEOUT_MS}; autocannon's least is 1 s). */
  timeoutMs?: number
}

const percentile = (sorted: Float64Array, p: number) =>
  sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!

/** Summarises the latencies and counts of one or more runs at one concurrency. */
function summarise(
  connections: number,
  seconds: number,
  ok: number,
  latencies: Float64Array,
  counts: { over_1s: number; timeouts: number; failures: number },
  codes: Set<string>,
): LoadResult {
  const sorted = latencies.slice().sort()
  return {
    connections,
    rps: seconds > 0 ? ok / seconds : 0,
    p50_ms: percentile(sorted, 50),
    p99_ms: percentile(sorted, 99),
    max_ms: sorted.length ? sorted[sorted.length - 1]! : NaN,
    requests: sorted.length,
    ...counts,
    failureCodes: [...codes],
    latencies,
  }
}

/**
 * Sends `requests` GETs of `paths` (cycled) to `base` from `connections` connections and waits
 * for every one of them: a fixed number of requests rather than a fixed time, so that a request
 * still waiting when the others are done is waited for (until it times out) and counted, not
 * dropped unseen when the clock runs out.
 */
export async function load(base: string, paths: string[], opts: LoadOptions): Promise<LoadResult> {
  const started = performance.now()
  let last = started
  const run = autocannon({
    url: base,
    connections: opts.connections,
    pipelining: 1,
    amount: Math.max(opts.requests, opts.connections),
    timeout: (opts.timeoutMs ?? TIMEOUT_MS) / 1000,
    // Results come at the first sample tick after the last answer: keep that wait short.
    sampleInt: 100,
    headers: opts.headers,
    requests: paths.map((path) => ({ method: 'GET', path })),
  })
  const latencies: number[] = []
  const codes = new Set<string>()
  let ok = 0
  let slow = 0
  let non2xx = 0
  let timeouts = 0
  let socketErrors = 0
  run.on('response', (_client: unknown, status: number, _bytes: number, ms: number) => {
    last = performance.now()
    latencies.push(ms)
    if (ms > SLOW_MS) slow++
    if (status >= 200 && status < 300) ok++
    else {
      non2xx++
      codes.add(String(status))
    }
  })
  run.on('reqError', (err: Error & { code?: string }) => {
    last = performance.now()
    if (err.message === 'request timed out') {
      timeouts++
      latencies.push(opts.timeoutMs ?? TIMEOUT_MS)
    } else {
      socketErrors++
      codes.add(err.code ?? err.message)
    }
  })
  await run
  const counts = { over_1s: slow + timeouts, timeouts, failures: non2xx + socketErrors }
  return summarise(opts.connections, (last - started) / 1000, ok, Float64Array.from(latencies), counts, codes)
}

/**
 * A load run of about `seconds` at `connections`: a short probe (its figures discarded; it also
 * warms the server) gives the rate, and the run sends that rate times `seconds` requests.
 */
export async function loadFor(base: string, paths: string[], opts: { headers?: Record<string, string>; connections: number; seconds: number }): Promise<LoadResult> {
  const probe = await load(base, paths, { headers: opts.headers, connections: opts.connections, requests: Math.max(50, 20 * opts.connections) })
  assertMeaningful(`a probe at ${opts.connections} connections`, probe)
  return load(base, paths, { headers: opts.headers, connections: opts.connections, requests: Math.ceil(probe.rps * opts.seconds) })
}

/** Several runs at one concurrency as one: throughput averaged, percentiles over every request, counts summed. */
export function combine(runs: LoadResult[]): LoadResult {
  if (runs.length === 0) throw new Error('combine: no runs')
  const latencies = new Float64Array(runs.reduce((n, r) => n + r.latencies.length, 0))
  let at = 0
  for (const r of runs) {
    latencies.set(r.latencies, at)
    at += r.latencies.length
  }
  const sum = (key: 'over_1s' | 'timeouts' | 'failures') => runs.reduce((n, r) => n + r[key], 0)
  const counts = { over_1s: sum('over_1s'), timeouts: sum('timeouts'), failures: sum('failures') }
  const merged = summarise(runs[0]!.connections, 1, 0, latencies, counts, new Set(runs.flatMap((r) => r.failureCodes)))
  return { ...merged, rps: runs.reduce((s, r) => s + r.rps, 0) / runs.length }
}

/** Whether a run's tail stayed bounded: p99 within {@link P99_BOUND_MS} and nothing timed out. */
export function bounded(r: LoadResult): boolean {
  return r.p99_ms <= P99_BOUND_MS && r.timeouts === 0
}

/**
 * The concurrency to measure at, from a sweep: the fewest connections whose throughput is within
 * {@link NEAR_BEST} of the best bounded run's (more would only queue); with no bounded run, the
 * fewest connections measured.
 */
export function chooseConcurrency(sweep: readonly LoadResult[]): number {
  if (sweep.length === 0) throw new Error('chooseConcurrency: empty sweep')
  const ok = sweep.filter(bounded)
  if (ok.length === 0) return Math.min(...sweep.map((r) => r.connections))
  const best = Math.max(...ok.map((r) => r.rps))
  return Math.min(...ok.filter((r) => r.rps >= NEAR_BEST * best).map((r) => r.connections))
}

/**
 * Steps connections 1, 2, 4, … up to `maxConnections`, a short run each, and stops at the first
 * run whose tail is unbounded or after two doublings in a row that did not raise the best
 * throughput by {@link IMPROVEMENT}: the server is saturated by then.
 */
export async function sweepConcurrency(
  base: string,
  paths: string[],
  opts: { headers?: Record<string, string>; stepSeconds: number; maxConnections: number },
): Promise<LoadResult[]> {
  const sweep: LoadResult[] = []
  let best = 0
  let flat = 0
  for (let connections = 1; connections <= opts.maxConnections; connections *= 2) {
    const r = await loadFor(base, paths, { headers: opts.headers, seconds: opts.stepSeconds, connections })
    assertMeaningful(`${connections} connections`, r)
    sweep.push(r)
    if (!bounded(r)) break
    if (r.rps >= IMPROVEMENT * best) flat = 0
    else if (++flat >= 2) break
    best = Math.max(best, r.rps)
  }
  return sweep
}

/**
 * Throws when a run measured nothing worth reporting: no 2xx answer at all, or more than 1% of
 * its requests failed (a server answering errors, or refusing connections, is not being
 * measured). Slow requests are never a reason: they are the tail figures.
 */
export function assertMeaningful(what: string, r: LoadResult): void {
  if (r.rps === 0 || r.failures > r.requests / 100) {
    throw new Error(`HTTP load (${what}) saw ${r.failures} failures (${r.failureCodes.join(', ') || 'no code'}) in ${r.requests} requests, ${r.rps.toFixed(0)} 2xx/s`)
  }
}
