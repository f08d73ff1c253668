/**
 * Measurements against the real directory Worker under wrangler's local runtime (its production
 * `LOG_ROUND_MS` of 1000 ms, quotas lifted), with a real `whodis-mirror serve` process following
 * it:
 * - sequencer throughput: entries logged per second while numbers are bound (`/dev/seed`);
 * - HTTP lookups per second of the directory (at the Worker's own socket in the runtime) and of
 *   the mirror, each at the concurrency a sweep found to saturate it without starving it, in
 *   alternating rounds, with the tail (requests over 1 s and over 10 s); the directory once
 *   more through wrangler's dev proxy;
 * - the read path: lookups with and without the call to the app's Limiter, and with receipts
 *   (`?proof=1`, a call to the Sequencer), side by side;
 * - write → visible: from sending a verification check (the code the person typed) until the
 *   mirror answers the number, over the real verification flow (SMS outbox).
 * Each measurement is its own section: one that fails is reported and the others still run.
 * @module
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { benchDirectory, sequencerThroughput, type BenchDirectory } from './directory.ts'
import { assertMeaningful, chooseConcurrency, combine, loadFor, sweepConcurrency, type LoadResult } from './http.ts'
import { WITHOUT_LIMITER } from './worker-switches.ts'

/** Options of {@link measureLive}. */
export interface LiveOptions {
  /** Valid E.164 numbers to bind through /dev/seed (the sequencer and HTTP figures). */
  seedPhones: string[]
  /** Further valid numbers, each verified once through the SMS flow (the latency figure). */
  verifyPhones: string[]
  /** Verifications in flight at once. */
  concurrency: number
  /** Seconds of each HTTP load run. */
  httpSeconds: number
  /** HTTP load runs per server (alternating directory, mirror), and per read-path variant. */
  httpRounds: number
  /** Seconds of each step of a concurrency sweep. */
  stepSeconds: number
  /** The most connections a sweep tries. */
  maxConnections: number
  /** The mirror's poll interval (ms). */
  pollMs: number
}

/** Runs `fn` as a named section: its failure is reported and the run goes on (null). */
export type Section = <T>(name: string, fn: () => Promise<T>) => Promise<T | null>

const percentile = (xs: number[], p: number) => {
  const sorted = [...xs].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!
}

/** `r`'s figures under `prefix`: rps, p50, p99, max, requests, over 1 s, over 10 s, failures. */
function figures(prefix: string, r: LoadResult): Record<string, number> {
  return {
    [`${prefix}_rps`]: r.rps,
    [`${prefix}_p50_ms`]: r.p50_ms,
    [`${prefix}_p99_ms`]: r.p99_ms,
    [`${prefix}_max_ms`]: r.max_ms,
    [`${prefix}_requests`]: r.requests,
    [`${prefix}_over_1s`]: r.over_1s,
    [`${prefix}_over_10s`]: r.timeouts,
    [`${prefix}_failures`]: r.failures,
  }
}

/** Runs every live measurement on one directory and one following mirror; returns the figures measured. */
export async function measureLive(opts: LiveOptions, section: Section): Promise<Record<string, number>> {
  const results: Record<string, number> = {}
  const d = await benchDirectory({ LOG_ROUND_MS: '1000' })
  const data = mkdtempSync(join(tmpdir(), 'whodis-bench-live-'))
  let started: MirrorProcess | null = null
  try {
    // Without its numbers bound nothing else here means anything: a failure ends the live part.
    results.sequencer_entries_per_s = await sequencerThroughput(d, opts.seedPhones)
    const mirror = await section('mirror: start and catch up', async () => {
      const m = (started = await startMirrorProcess(d, data, opts.pollMs))
      // The mirror holds every seeded number (an app-register entry, then one add each).
      await m.waitForSize(opts.seedPhones.length + 1)
      return m
    })

    const paths = opts.seedPhones.map((p) => `/v1/numbers/${encodeURIComponent(p)}`)
    const headers = { Authorization: `Bearer ${d.token}` }
    const servers = [
      { key: 'edge', what: 'directory HTTP', url: d.dir.runtimeUrl },
      ...(mirror ? [{ key: 'mirror', what: 'mirror HTTP', url: mirror.url }] : []),
    ]
    const chosen = new Map<string, number>()
    for (const s of servers) {
      await section(`${s.what}: concurrency sweep`, async () => {
        const sweep = await sweepConcurrency(s.url, paths, { headers, stepSeconds: opts.stepSeconds, maxConnections: opts.maxConnections })
        for (const r of sweep) {
          results[`${s.key}_sweep_c${r.connections}_rps`] = r.rps
          results[`${s.key}_sweep_c${r.connections}_p99_ms`] = r.p99_ms
        }
        chosen.set(s.key, chooseConcurrency(sweep))
        results[`${s.key}_http_connections`] = chosen.get(s.key)!
      })
    }
    const runs = new Map<string, LoadResult[]>(servers.map((s) => [s.key, []]))
    for (let round = 0; round < opts.httpRounds; round++) {
      for (const s of servers) {
        const connections = chosen.get(s.key)
        if (connections === undefined) continue
        await section(`${s.what}: round ${round + 1}`, async () => {
          const r = await loadFor(s.url, paths, { headers, seconds: opts.httpSeconds, connections })
          assertMeaningful(s.what, r)
          runs.get(s.key)!.push(r)
        })
      }
    }
    for (const [key, rs] of runs) if (rs.length > 0) Object.assign(results, figures(`${key}_http`, combine(rs)))
    if (results.edge_http_failures !== undefined || results.mirror_http_failures !== undefined) {
      results.http_failures = (results.edge_http_failures ?? 0) + (results.mirror_http_failures ?? 0)
    }

    const edgeConnections = chosen.get('edge')
    if (edgeConnections !== undefined) {
      await section('directory HTTP through wrangler’s dev proxy', async () => {
        const r = await loadFor(d.dir.url, paths, { headers, seconds: opts.httpSeconds, connections: edgeConnections })
        assertMeaningful('the directory through the dev proxy', r)
        Object.assign(results, figures('edge_proxy_http', r))
      })
      await section('read path: the Limiter and the Sequencer per lookup', async () => {
        Object.assign(results, await measureReadPath(d.dir.runtimeUrl, opts.seedPhones, d.token, edgeConnections, opts))
      })
    }

    if (mirror) {
      const m = mirror
      await section('write → visible at the mirror', async () => {
        const latency = await measureVisibility(d, m.url, opts.verifyPhones, opts.concurrency)
        Object.assign(results, {
          visible_latency_p50_ms: percentile(latency.fromCheck, 50),
          visible_latency_p99_ms: percentile(latency.fromCheck, 99),
          visible_after_receipt_p50_ms: percentile(latency.fromReceipt, 50),
          visible_after_receipt_p99_ms: percentile(latency.fromReceipt, 99),
          latency_samples: latency.fromCheck.length,
          visible_failures: latency.failures,
        })
      })
    }
    return results
  } finally {
    await (started as MirrorProcess | null)?.stop()
    await d.dir.stop()
    rmSync(data, { recursive: true, force: true })
  }
}

/**
 * What a lookup's calls to Durable Objects cost the directory: `GET /v1/numbers/:phone` as it is
 * (the app's Limiter, then KV), without the Limiter call, and with `?proof=1` (also the
 * Sequencer, for receipts), in interleaved rounds at `connections`, then each once at one
 * connection (the latency a call adds). On the local runtime, which runs every object on one
 * thread, 1/throughput is a lookup's cost on that thread, so the differences are each call's.
 */
async function measureReadPath(url: string, phones: string[], token: string, connections: number, opts: LiveOptions): Promise<Record<string, number>> {
  const plain = phones.map((p) => `/v1/numbers/${encodeURIComponent(p)}`)
  const auth = { Authorization: `Bearer ${token}` }
  const variants = [
    { key: 'read_lookup', paths: plain, headers: auth },
    { key: 'read_lookup_without_limiter', paths: plain, headers: { ...auth, [WITHOUT_LIMITER]: '1' } },
    { key: 'read_lookup_proof', paths: plain.map((p) => `${p}?proof=1`), headers: auth },
  ]
  const results: Record<string, number> = {}
  const runs = new Map<string, LoadResult[]>(variants.map((v) => [v.key, []]))
  for (let round = 0; round < opts.httpRounds; round++) {
    for (const v of variants) {
      const r = await loadFor(url, v.paths, { headers: v.headers, seconds: opts.httpSeconds, connections })
      assertMeaningful(v.key, r)
      runs.get(v.key)!.push(r)
    }
  }
  for (const v of variants) {
    const r = combine(runs.get(v.key)!)
    Object.assign(results, { [`${v.key}_rps`]: r.rps, [`${v.key}_p99_ms`]: r.p99_ms, [`${v.key}_over_1s`]: r.over_1s, [`${v.key}_over_10s`]: r.timeouts })
    const one = await loadFor(url, v.paths, { headers: v.headers, seconds: opts.stepSeconds, connections: 1 })
    assertMeaningful(`${v.key} at one connection`, one)
    results[`${v.key}_c1_p50_ms`] = one.p50_ms
  }
  const us = (key: string) => 1e6 / results[`${key}_rps`]!
  results.read_limiter_us_per_lookup = us('read_lookup') - us('read_lookup_without_limiter')
  results.read_sequencer_us_per_lookup = us('read_lookup_proof') - us('read_lookup')
  results.read_path_connections = connections
  return results
}

/**
 * Verifies each number through the SMS flow and times until the mirror answers it. A
 * verification that fails is counted, not thrown; fewer than half succeeding is no measurement.
 */
async function measureVisibility(d: BenchDirectory, mirrorUrl: string, phones: string[], concurrency: number) {
  const app = { Authorization: `Bearer ${d.token}`, 'Content-Type': 'application/json' }
  const admin = { Authorization: `Bearer ${d.dir.adminToken}` }
  const fromCheck: number[] = []
  const fromReceipt: number[] = []
  const errors: string[] = []
  let next = 0
  const one = async (phone: string) => {
    const started = await fetch(`${d.dir.url}/v1/verifications`, { method: 'POST', headers: app, body: JSON.stringify({ phone }) })
    if (started.status !== 201) throw new Error(`starting a verification: ${started.status} ${await started.text()}`)
    const { id } = (await started.json()) as { id: string }
    const outbox = (await (await fetch(`${d.dir.url}/dev/outbox?phone=${encodeURIComponent(phone)}`, { headers: admin })).json()) as { messages: { body: string }[] }
    const code = /(\d{6})/.exec(outbox.messages.at(-1)?.body ?? '')?.[1]
    if (!code) throw new Error('no code in the outbox')
    const checkSent = performance.now()
    const checked = await fetch(`${d.dir.url}/v1/verifications/${id}/check`, { method: 'POST', headers: app, body: JSON.stringify({ code }) })
    if (checked.status !== 200) throw new Error(`checking a verification: ${checked.status} ${await checked.text()}`)
    await checked.arrayBuffer()
    const receipt = performance.now()
    const path = `${mirrorUrl}/v1/numbers/${encodeURIComponent(phone)}`
    for (;;) {
      const res = await fetch(path)
      await res.arrayBuffer()
      if (res.status === 200) break
      if (performance.now() - checkSent > 60_000) throw new Error('the number did not appear at the mirror within a minute')
      await new Promise((resolve) => setTimeout(resolve, 5))
    }
    const visible = performance.now()
    fromCheck.push(visible - checkSent)
    fromReceipt.push(visible - receipt)
  }
  await Promise.all(
    Array.from({ length: Math.min(concurrency, phones.length) }, async () => {
      while (next < phones.length) await one(phones[next++]!).catch((err: Error) => errors.push(err.message))
    }),
  )
  if (errors.length > 0) process.stderr.write(`write → visible: ${errors.length} of ${phones.length} verifications failed (first: ${errors[0]})\n`)
  if (fromCheck.length < phones.length / 2) throw new Error(`${errors.length} of ${phones.length} verifications failed (first: ${errors[0]})`)
  return { fromCheck, fromReceipt, failures: errors.length }
}

interface MirrorProcess {
  url: string
  waitForSize(size: number): Promise<void>
  stop(): Promise<void>
}

/** Starts `whodis-mirror serve` (the real CLI, in its own process) following `d`. */
async function startMirrorProcess(d: BenchDirectory, data: string, pollMs: number): Promise<MirrorProcess> {
  const bin = join(import.meta.dirname, '..', 'replicas', 'bin', 'whodis-mirror.js')
  const args = ['serve', '--directory', d.dir.url, '--token', d.token, '--data', data, '--port', '0', '--interval-ms', String(pollMs), '--log-format', 'json']
  const proc: ChildProcess = spawn(process.execPath, [bin, ...args], { stdio: ['ignore', 'ignore', 'pipe'] })
  let stderr = ''
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`whodis-mirror serve did not start: ${stderr}`)), 60_000)
    proc.stderr!.on('data', (chunk: Buffer) => {
      stderr += chunk.toString()
      const m = /"event":"serving"[^\n]*"url":"([^"]+)"/.exec(stderr)
      if (m) {
        clearTimeout(timer)
        resolve(m[1]!)
      }
      if (stderr.length > 1 << 20) stderr = stderr.slice(-(1 << 16))
    })
    proc.once('exit', (code) => reject(new Error(`whodis-mirror serve exited (${code}): ${stderr}`)))
  }).catch(async (err: Error) => {
    if (proc.exitCode === null) proc.kill('SIGKILL')
    throw err
  })
  return {
    url,
    async waitForSize(size) {
      const deadline = Date.now() + 120_000
      for (;;) {
        const res = await fetch(`${url}/healthz`).catch(() => null)
        const body = res ? ((await res.json()) as { treeSize?: number }) : null
        if ((body?.treeSize ?? 0) >= size) return
        if (Date.now() > deadline) throw new Error(`the mirror did not reach tree size ${size}: ${JSON.stringify(body)}`)
        await new Promise((resolve) => setTimeout(resolve, 50))
      }
    },
    async stop() {
      if (proc.exitCode !== null) return
      const exited = new Promise((resolve) => proc.once('exit', resolve))
      proc.kill('SIGTERM')
      await exited
    },
  }
}
