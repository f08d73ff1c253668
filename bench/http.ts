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
): Promise<{ rps: number; p50_ms: number; p99_ms: number; non2xx: number; errors: number }> {
  const result = await autocannon({
    url: base,
    connections: opts.connections ?? 32,
    pipelining: 1,
    duration: opts.seconds ?? 5,
    headers: opts.headers,
    requests: paths.map((path) => ({ method: 'GET', path })),
  })
  return {
    rps: result.requests.average,
    p50_ms: result.latency.p50,
    p99_ms: result.latency.p99,
    non2xx: result.non2xx,
    errors: result.errors,
  }
}
