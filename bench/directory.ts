/**
 * The directory itself under the local Workers runtime (wrangler's miniflare), for the
 * benchmarks: `bench/worker.ts` (the Worker, with a switch to skip the Limiter call) started
 * with the quotas lifted and a bench app, seeded through /dev/seed, and its sequencer throughput
 * (entries logged per second, each in a signed checkpoint before it is answered).
 * @module
 */
import { fileURLToPath } from 'node:url'
import { startLocalDirectory } from '../scripts/local-directory.ts'
import { testSecrets } from '../vitest.config.mts'

/** Vars that lift the per-app quotas, which would otherwise be what a benchmark measures. */
export const BENCH_VARS = {
  LOOKUPS_PER_APP_MINUTE: '100000000',
  SMS_PER_APP_MINUTE: '100000000',
  SMS_PER_COUNTRY_MINUTE: '100000000',
  SNAPSHOT_EVERY_ENTRIES: '1000000000',
}

/** Starts a local directory with an app; returns helpers to seed and load it. */
export async function benchDirectory(vars: Record<string, string> = {}) {
  const dir = await startLocalDirectory({ ...testSecrets, ...BENCH_VARS, ...vars }, { entrypoint: fileURLToPath(new URL('./worker.ts', import.meta.url)) })
  const admin = { Authorization: `Bearer ${dir.adminToken}`, 'Content-Type': 'application/json' }
  const created = await fetch(`${dir.url}/v1/admin/apps`, { method: 'POST', headers: admin, body: JSON.stringify({ id: 'bench', name: 'Bench' }) })
  if (created.status !== 201) throw new Error(`registering the bench app: ${created.status}`)
  const token = ((await created.json()) as { token: string }).token
  return {
    dir,
    token,
    /**
     * Binds `phones` through /dev/seed: batches of 800 (under the 16 KiB body limit), `parallel`
     * in flight. wrangler's dev proxy sometimes drops a POST on its way to the Worker (a
     * keep-alive connection closed under it: 503 "Your worker restarted mid-request") and never
     * retries one; each batch has an id, so sending it again binds nothing twice.
     */
    async seed(phones: string[], parallel = 8): Promise<number> {
      const batches: string[][] = []
      for (let i = 0; i < phones.length; i += 800) batches.push(phones.slice(i, i + 800))
      let next = 0
      const started = performance.now()
      await Promise.all(
        Array.from({ length: parallel }, async () => {
          while (next < batches.length) {
            const batch = `b${next}-${crypto.randomUUID()}`
            const body = JSON.stringify({ app: 'bench', phones: batches[next++]!, batch })
            for (let attempt = 1; ; attempt++) {
              const res = await fetch(`${dir.url}/dev/seed`, { method: 'POST', headers: admin, body })
              if (res.status === 200) break
              const text = await res.text()
              if (res.status !== 503 || !text.includes('restarted mid-request') || attempt === 5) throw new Error(`seeding: ${res.status} ${text}`)
              await new Promise((resolve) => setTimeout(resolve, 100 * attempt))
            }
          }
        }),
      )
      return (performance.now() - started) / 1000
    },
  }
}

/** A directory started by {@link benchDirectory}. */
export type BenchDirectory = Awaited<ReturnType<typeof benchDirectory>>

/** Sequencer entries per second while `d` binds `phones` (each logged, sequenced and answered with its credential and receipt). */
export async function sequencerThroughput(d: BenchDirectory, phones: string[]): Promise<number> {
  return phones.length / (await d.seed(phones))
}
