/**
 * Crash safety of the sync engine: a child process syncs a long log (from entry 0, and from a
 * snapshot) in small commits and is killed with SIGKILL at random moments, again and again.
 * After every kill the data directory must hold a committed, verified prefix, at least as far as
 * the child reported, that answers exactly as the log's fold at that size; the restarted child
 * must resume from there and converge.
 */
import { spawn } from 'node:child_process'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { openMirror } from '../src/mirror.ts'
import { FakeDirectory } from './fixtures/fake-directory.ts'
import { buildLog, prng, type FakeLog } from './fixtures/fake-log.ts'
import { cleanupTemp, expectedAnswers, poolNumbers, tempDir } from './fixtures/helpers.ts'

const child = join(import.meta.dirname, 'fixtures', 'sync-child.ts')
let log: FakeLog
let fake: FakeDirectory

beforeAll(async () => {
  log = await buildLog(24_000, { seed: 31 })
  fake = await FakeDirectory.start(log)
  // A slow network stretches a sync over the kill window.
  fake.delayMs = 15
})
afterAll(async () => {
  await fake.stop()
  cleanupTemp()
})

interface Run {
  ready: number
  reported: number
  finished: boolean
}

/** When to kill: `ms` after the child is ready, or `ms` after its `commits`th commit of this run. */
type Kill = { ms: number; commits?: number } | null

/** Runs the child until it finishes, or until the kill. */
async function run(dir: string, chunk: number, kill: Kill): Promise<Run> {
  // node --import tsx, not npx tsx: SIGKILL must hit the process that writes, not a wrapper.
  const proc = spawn(process.execPath, ['--import', 'tsx', child, dir, fake.url, String(chunk)], { stdio: ['ignore', 'pipe', 'pipe'] })
  const result: Run = { ready: -1, reported: -1, finished: false }
  let commits = 0
  const killLater = () => setTimeout(() => proc.kill('SIGKILL'), kill!.ms)
  let stderr = ''
  let pending = ''
  proc.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()))
  proc.stdout.on('data', (data: Buffer) => {
    pending += data.toString()
    const lines = pending.split('\n')
    pending = lines.pop()!
    for (const line of lines) {
      const [word, n] = line.split(' ')
      if (word === 'ready') {
        result.ready = Number(n)
        result.reported = Number(n)
        if (kill && kill.commits === undefined) killLater()
      } else if (word === 'committed') {
        result.reported = Math.max(result.reported, Number(n))
        if (kill && ++commits === kill.commits) killLater()
      }
      else if (word === 'synced') result.finished = true
    }
  })
  const { code, signal } = await new Promise<{ code: number | null; signal: string | null }>((resolve) =>
    proc.on('exit', (code, signal) => resolve({ code, signal })),
  )
  if (signal !== 'SIGKILL' && code !== 0) throw new Error(`sync child failed (code ${code}): ${stderr}`)
  return result
}

/** Opens the data directory in this process and checks it holds a verified prefix, answering as the log does. */
async function checkPrefix(dir: string, atLeast: number): Promise<number> {
  const mirror = await openMirror(dir)
  try {
    const size = mirror.treeSize
    expect(size).toBeGreaterThanOrEqual(atLeast)
    if (size > 0) {
      expect(mirror.checkpoint!.size).toBe(log.size)
      expect((await mirror.verify()).treeSize).toBe(size)
      const want = expectedAnswers(log, size)
      for (const phone of poolNumbers()) expect(mirror.lookup(phone), `${phone} at ${size}`).toEqual(want.get(phone))
    }
    return size
  } finally {
    await mirror.close()
  }
}

async function crashUntilSynced(dir: string, chunk: number, seed: number): Promise<{ kills: number; midway: number }> {
  const rand = prng(seed)
  let kills = 0
  let midway = 0
  let size = 0
  for (let round = 0; ; round++) {
    // Alternate kills at a random moment (often mid-verify or mid-bootstrap) and kills a few
    // milliseconds after a commit (mid-apply, often inside the next commit's writes).
    const kill: Kill = round >= 6 ? null : round % 2 === 0 ? { ms: 20 + Math.floor(rand() * 400) } : { ms: Math.floor(rand() * 8), commits: 1 + Math.floor(rand() * 3) }
    const r = await run(dir, chunk, kill)
    if (r.finished) {
      expect(r.reported).toBe(log.size)
      break
    }
    kills++
    expect(r.ready).toBe(size)
    const now = await checkPrefix(dir, r.reported)
    if (now > 0 && now < log.size) midway++
    size = now
  }
  expect(await checkPrefix(dir, log.size)).toBe(log.size)
  return { kills, midway }
}

describe('kill -9 during sync', () => {
  it('always restarts from the last committed state and converges (replay from entry 0)', async () => {
    const { kills, midway } = await crashUntilSynced(tempDir(), 1500, 7)
    expect(kills).toBeGreaterThanOrEqual(3)
    expect(midway).toBeGreaterThanOrEqual(1)
  })

  it('always restarts from the last committed state and converges (snapshot bootstrap)', async () => {
    fake.snapshotSize = 16_000
    // A bootstrap is a few dozen requests: slow each more, so that the kills land inside it.
    fake.delayMs = 40
    try {
      const { kills, midway } = await crashUntilSynced(tempDir(), 1000, 8)
      expect(kills).toBeGreaterThanOrEqual(3)
      expect(midway).toBeGreaterThanOrEqual(1)
    } finally {
      fake.snapshotSize = null
      fake.delayMs = 15
    }
  })
})
