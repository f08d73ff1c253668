/**
 * `npm run bench`: end to end at its smallest (`--smoke`: 2,000 records, a fraction of a second
 * of load a step, four verifications through the real Worker), it completes and writes a JSON
 * file whose every value is a finite number, with every figure the suite promises. And the
 * suite's own rules: a slow request is a tail figure, never a failed run; the concurrency
 * chosen is the fewest connections near the best bounded throughput; a measurement that fails
 * costs the run only its own figures.
 */
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { assertMeaningful, bounded, chooseConcurrency, combine, load, type LoadResult } from '../../bench/http.ts'
import { defaultOptions, main, REQUIRED_KEYS, runBench } from '../../bench/run.ts'

const dir = mkdtempSync(join(tmpdir(), 'whodis-bench-test-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

describe('npm run bench', () => {
  it('measures everything at a tiny size and writes every figure as a finite number', { timeout: 120_000 }, async () => {
    const out = join(dir, 'latest.json')
    const printed: string[] = []
    const run = await main(['--smoke', '--out', out], (text) => printed.push(text))
    expect(run.failed).toEqual([])
    const results = JSON.parse(readFileSync(out, 'utf8')) as Record<string, number>
    for (const key of REQUIRED_KEYS) expect(results, key).toHaveProperty(key)
    for (const [key, value] of Object.entries(results)) expect(Number.isFinite(value), `${key} = ${value}`).toBe(true)
    expect(results.records).toBe(2000)
    expect(results.sections_failed).toBe(0)
    for (const server of ['edge', 'mirror']) {
      // The concurrency measured at is one the sweep tried, and the tail counts are of its requests.
      expect(results, server).toHaveProperty(`${server}_sweep_c${results[`${server}_http_connections`]}_rps`)
      expect(results[`${server}_http_over_10s`]).toBeLessThanOrEqual(results[`${server}_http_over_1s`]!)
      expect(results[`${server}_http_over_1s`]).toBeLessThanOrEqual(results[`${server}_http_requests`]!)
    }
    expect(printed.join('\n')).toContain('mirror lookups (library API)')
    expect(printed.join('\n')).toContain('directory lookups: Limiter, proofs')
  })

  it('keeps every other figure when a measurement fails, and says which one failed', async () => {
    const options = { ...defaultOptions(1000, true), replay: 1000, queries: 2000, reps: 1, log: () => {} }
    const run = await runBench(options, {
      live: async (_opts, section) => {
        const measured = await section('a measurement that holds', async () => ({ sequencer_entries_per_s: 1234 }))
        await section('a measurement that fails', async () => {
          throw new Error('the server answered 500')
        })
        return { ...measured }
      },
    })
    expect(run.failed).toEqual(['a measurement that fails: the server answered 500'])
    expect(run.results.sections_failed).toBe(1)
    expect(run.results.sequencer_entries_per_s).toBe(1234)
    for (const key of ['records', 'mirror_lookups_per_s', 'snapshot_bytes_per_record', 'replay_entries_per_s', 'bootstrap_s']) {
      expect(Number.isFinite(run.results[key]), key).toBe(true)
    }
  })
})

/** A loopback server that never answers the `stalled`-th request (counting from 1) and answers every other at once. */
async function stallingServer(stalled: number): Promise<{ url: string; server: Server }> {
  let n = 0
  const server = createServer((req, res) => {
    if (++n === stalled) return // no answer: the client must give up on it
    res.writeHead(200, { 'Content-Type': 'application/json' }).end('{}')
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server }
}

describe('HTTP load', () => {
  it('waits for every request sent, counts one that never returns in the tail, and still measures', async () => {
    const { url, server } = await stallingServer(5)
    try {
      const r = await load(url, ['/a', '/b'], { requests: 200, connections: 2, timeoutMs: 2000 })
      // Every request is accounted for: 199 answered, the stalled one given up on.
      expect(r.requests).toBe(200)
      expect(r.timeouts).toBe(1)
      expect(r.over_1s).toBeGreaterThanOrEqual(1)
      expect(r.max_ms).toBeGreaterThanOrEqual(2000)
      expect(r.failures).toBe(0)
      expect(bounded(r)).toBe(false)
      expect(() => assertMeaningful('a stalled request', r)).not.toThrow()
    } finally {
      server.closeAllConnections()
      server.close()
    }
  })

  it('refuses a run whose answers are errors: that measures nothing', async () => {
    const server = createServer((req, res) => res.writeHead(500).end())
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    try {
      const r = await load(`http://127.0.0.1:${(server.address() as AddressInfo).port}`, ['/'], { requests: 20, connections: 1 })
      expect(r.requests).toBe(20)
      expect(r.failures).toBe(20)
      expect(r.failureCodes).toEqual(['500'])
      expect(() => assertMeaningful('errors', r)).toThrow(/failures \(500\)/)
    } finally {
      server.close()
    }
  })
})

/** A load run with these figures (latencies: one per request). */
function run(connections: number, rps: number, p99_ms: number, timeouts = 0): LoadResult {
  return { connections, rps, p50_ms: p99_ms / 4, p99_ms, max_ms: p99_ms, requests: 100, over_1s: timeouts, timeouts, failures: 0, failureCodes: [], latencies: new Float64Array() }
}

describe('choosing the concurrency', () => {
  it('takes the fewest connections within 5% of the best bounded throughput', () => {
    // A single-threaded server: throughput flattens at 4 while latency keeps growing.
    expect(chooseConcurrency([run(1, 300, 5), run(2, 500, 8), run(4, 540, 20), run(8, 560, 90), run(16, 565, 400)])).toBe(4)
  })

  it('never takes a run that starved a request, however fast', () => {
    expect(chooseConcurrency([run(1, 300, 5), run(2, 500, 8), run(4, 700, 900, 1)])).toBe(2)
    expect(chooseConcurrency([run(1, 300, 5), run(2, 500, 1500)])).toBe(1)
  })

  it('falls back to the fewest connections when no run is bounded', () => {
    expect(chooseConcurrency([run(1, 100, 2000), run(2, 120, 4000, 3)])).toBe(1)
  })

  it('combines rounds: throughput averaged, percentiles over every request, counts summed', () => {
    const a = { ...run(4, 100, 0), latencies: Float64Array.from([1, 2, 3, 1200]), requests: 4, over_1s: 1 }
    const b = { ...run(4, 300, 0), latencies: Float64Array.from([4, 5, 6, 10_000]), requests: 4, over_1s: 1, timeouts: 1 }
    const c = combine([a, b])
    expect(c).toMatchObject({ connections: 4, rps: 200, requests: 8, over_1s: 2, timeouts: 1, p50_ms: 4, max_ms: 10_000 })
  })
})
