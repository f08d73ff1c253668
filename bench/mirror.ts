/**
 * The mirror against the benchmark log, through its library API and real HTTP: bootstrap from
 * the signed snapshot (verify it, fetch and hash every level-0 tile, check every binding against
 * its log entry, build and persist the index), then replay (fetch, verify and apply) the log's
 * tail from its entry bundles.
 * @module
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { openMirror, type Logger, type Mirror, type MirrorOptions } from '../replicas/src/index.ts'
import { DATASET_NOW } from './dataset.ts'
import type { BenchLog } from './log.ts'
import { BENCH_TOKEN, startLogServer, type LogServer } from './log-server.ts'

/** A mirror bootstrapped from the benchmark log, with its timings. */
export interface BootstrappedMirror {
  mirror: Mirror
  server: LogServer
  dir: string
  bootstrap_s: number
  /** Seconds per step of the bootstrap, from the mirror's progress reports. */
  bootstrap_steps: Record<string, number>
  /** Replays the tail of the log; returns entries per second. */
  replay(): Promise<{ replay_entries_per_s: number; replay_s: number; entries: number }>
  close(): Promise<void>
}

/** A logger that times the mirror's long tasks (hash tiles, verify, apply). */
function stepTimer(steps: Record<string, number>): Logger {
  return {
    info() {},
    warn() {},
    error() {},
    progress(task) {
      const started = performance.now()
      return {
        update() {},
        end() {
          steps[task] = (steps[task] ?? 0) + (performance.now() - started) / 1000
        },
      }
    },
  }
}

/** Starts the log server and bootstraps a fresh mirror from the snapshot (the checkpoint is the snapshot's size). */
export async function bootstrapMirror(log: BenchLog, options: MirrorOptions = {}): Promise<BootstrappedMirror> {
  const server = await startLogServer(log, log.snapshotSize)
  const dir = mkdtempSync(join(tmpdir(), 'whodis-bench-mirror-'))
  const steps: Record<string, number> = {}
  const mirror = await openMirror(dir, { directory: server.url, token: BENCH_TOKEN, now: () => DATASET_NOW * 1000, logger: stepTimer(steps), ...options })
  const started = performance.now()
  const result = await mirror.sync()
  const bootstrap_s = (performance.now() - started) / 1000
  if (result.status !== 'bootstrapped' || mirror.treeSize !== log.snapshotSize) throw new Error(`bootstrap ended at ${mirror.treeSize}: ${JSON.stringify(result)}`)
  return {
    mirror,
    server,
    dir,
    bootstrap_s,
    bootstrap_steps: { ...steps },
    async replay() {
      await server.setSize(log.size)
      const t = performance.now()
      const r = await mirror.sync()
      const replay_s = (performance.now() - t) / 1000
      if (r.treeSize !== log.size) throw new Error(`replay ended at ${r.treeSize}, not ${log.size}`)
      return { replay_entries_per_s: r.applied / replay_s, replay_s, entries: r.applied }
    },
    async close() {
      await mirror.close()
      await server.stop()
      rmSync(dir, { recursive: true, force: true })
    },
  }
}
