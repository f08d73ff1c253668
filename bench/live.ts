/**
 * Measurements against the real directory Worker under wrangler's local runtime (its production
 * `LOG_ROUND_MS` of 1000 ms, quotas lifted), with a real `whodis-mirror serve` process following
 * it:
 * - sequencer throughput: entries logged per second while numbers are bound (`/dev/seed`);
 * - HTTP lookups per second of the directory and of the mirror, same numbers, same autocannon
 *   settings, one after the other, alternating;
 * - write → visible: from sending a verification check (the code the person typed) until the
 *   mirror answers the number, over the real verification flow (SMS outbox).
 * @module
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { benchDirectory, sequencerThroughput, type BenchDirectory } from './directory.ts'
import { checkFailures, httpRps } from './http.ts'

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
  /** HTTP load runs per server (alternating directory, mirror). */
  httpRounds: number
  /** The mirror's poll interval (ms). */
  pollMs: number
}

/** What {@link measureLive} measures. */
export interface LiveResults {
  sequencer_entries_per_s: number
  edge_http_rps: number
  mirror_http_rps: number
  edge_http_p99_ms: number
  /** Non-2xx answers and socket errors over every load run (at most one in 10,000 requests, or the run throws). */
  http_failures: number
  mirror_http_p99_ms: number
  visible_latency_p50_ms: number
  visible_latency_p99_ms: number
  /** From the check's answer (the entry is in a signed checkpoint by then) to the mirror answering. */
  visible_after_receipt_p50_ms: number
  visible_after_receipt_p99_ms: number
  latency_samples: number
}

const percentile = (xs: number[], p: number) => {
  const sorted = [...xs].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!
}

/** Runs every live measurement on one directory and one following mirror. */
export async function measureLive(opts: LiveOptions): Promise<LiveResults> {
  const d = await benchDirectory({ LOG_ROUND_MS: '1000' })
  const data = mkdtempSync(join(tmpdir(), 'whodis-bench-live-'))
  let mirror: MirrorProcess | null = null
  try {
    const sequencer_entries_per_s = await sequencerThroughput(d, opts.seedPhones)
    mirror = await startMirrorProcess(d, data, opts.pollMs)
    // The mirror holds every seeded number (an app-register entry, then one add each).
    await mirror.waitForSize(opts.seedPhones.length + 1)

    const paths = opts.seedPhones.map((p) => `/v1/numbers/${encodeURIComponent(p)}`)
    const headers = { Authorization: `Bearer ${d.token}` }
    const edge: number[] = []
    const local: number[] = []
    const p99 = { edge: 0, mirror: 0 }
    let http_failures = 0
    for (let round = 0; round < opts.httpRounds; round++) {
      const a = await httpRps(d.dir.url, paths, { headers, seconds: opts.httpSeconds })
      const b = await httpRps(mirror.url, paths, { headers, seconds: opts.httpSeconds })
      http_failures += checkFailures('the directory', a) + checkFailures('the mirror', b)
      edge.push(a.rps)
      local.push(b.rps)
      p99.edge = Math.max(p99.edge, a.p99_ms)
      p99.mirror = Math.max(p99.mirror, b.p99_ms)
    }

    const latency = await measureVisibility(d, mirror.url, opts.verifyPhones, opts.concurrency)
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length
    return {
      sequencer_entries_per_s,
      edge_http_rps: mean(edge),
      mirror_http_rps: mean(local),
      edge_http_p99_ms: p99.edge,
      http_failures,
      mirror_http_p99_ms: p99.mirror,
      visible_latency_p50_ms: percentile(latency.fromCheck, 50),
      visible_latency_p99_ms: percentile(latency.fromCheck, 99),
      visible_after_receipt_p50_ms: percentile(latency.fromReceipt, 50),
      visible_after_receipt_p99_ms: percentile(latency.fromReceipt, 99),
      latency_samples: latency.fromCheck.length,
    }
  } finally {
    await mirror?.stop()
    await d.dir.stop()
    rmSync(data, { recursive: true, force: true })
  }
}

/** Verifies each number through the SMS flow and times until the mirror answers it. */
async function measureVisibility(d: BenchDirectory, mirrorUrl: string, phones: string[], concurrency: number) {
  const app = { Authorization: `Bearer ${d.token}`, 'Content-Type': 'application/json' }
  const admin = { Authorization: `Bearer ${d.dir.adminToken}` }
  const fromCheck: number[] = []
  const fromReceipt: number[] = []
  let next = 0
  const one = async (phone: string) => {
    const started = await fetch(`${d.dir.url}/v1/verifications`, { method: 'POST', headers: app, body: JSON.stringify({ phone }) })
    if (started.status !== 201) throw new Error(`starting a verification: ${started.status} ${await started.text()}`)
    const { id } = (await started.json()) as { id: string }
    const outbox = (await (await fetch(`${d.dir.url}/dev/outbox?phone=${encodeURIComponent(phone)}`, { headers: admin })).json()) as { messages: { body: string }[] }
    const code = /(\d{6})/.exec(outbox.messages.at(-1)?.body ?? '')?.[1]
    if (!code) throw new Error(`no code in the outbox for ${phone}`)
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
      if (performance.now() - checkSent > 60_000) throw new Error(`${phone} did not appear at the mirror within a minute`)
      await new Promise((resolve) => setTimeout(resolve, 5))
    }
    const visible = performance.now()
    fromCheck.push(visible - checkSent)
    fromReceipt.push(visible - receipt)
  }
  await Promise.all(
    Array.from({ length: Math.min(concurrency, phones.length) }, async () => {
      while (next < phones.length) await one(phones[next++]!)
    }),
  )
  return { fromCheck, fromReceipt }
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
