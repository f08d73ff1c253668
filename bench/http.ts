/**
 * HTTP load with autocannon: requests per second against a URL, cycling through paths, with
 * the same settings for every server measured so their figures compare.
 * @module
 */
import autocannon from 'autocannon'

/** Requests/s (mean) and latency percentiles for GETs of `paths` on `base` for `seconds`. */
export async function httpRps(
  base: string,
  paths: string[],
  opts: { headers?: Record<string, string>; seconds?: number; connections?: number } = {},
): Promise<{ rps: number; p50_ms: number; p99_ms: number; requests: number; non2xx: number; errors: number; errorCodes: string[] }> {
  const run = autocannon({
    url: base,
    connections: opts.connections ?? 32,
    pipelining: 1,
    duration: opts.seconds ?? 5,
    headers: opts.headers,
    requests: paths.map((path) => ({ method: 'GET', path })),
  })
  const errorCodes = new Set<string>()
  run.on('reqError', (err: Error & { code?: string }) => errorCodes.add(err.code ?? err.message))
  const result = await run
  return {
    rps: result.requests.average,
    p50_ms: result.latency.p50,
    p99_ms: result.latency.p99,
    requests: result.requests.total,
    non2xx: result.non2xx,
    errors: result.errors,
    errorCodes: [...errorCodes],
  }
}

/**
 * Throws unless a load run's failures (non-2xx answers and socket errors) are at most one in
 * ten thousand requests: a rare reset of one of 32 sockets over a run of 150,000 requests is
 * reported (see `http_failures` in the results), not a reason to throw the whole run away.
 */
export function checkFailures(what: string, r: Awaited<ReturnType<typeof httpRps>>): number {
  const failures = r.non2xx + r.errors
  if (failures > r.requests / 10_000) {
    throw new Error(`HTTP load on ${what} saw ${r.non2xx} non-2xx answers and ${r.errors} errors (${r.errorCodes.join(', ') || 'no code'}) in ${r.requests} requests`)
  }
  if (failures > 0) process.stderr.write(`HTTP load on ${what}: ${failures} failures in ${r.requests} requests (${r.errorCodes.join(', ') || 'non-2xx'})\n`)
  return failures
}
