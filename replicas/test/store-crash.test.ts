import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { openStore } from '../src/store/store.ts'
import type { Binding } from '../src/store/types.ts'
import { applyTo, batchFor, metaFor, recordsOf } from './fixtures/crash-batches.ts'

const root = mkdtempSync(join(tmpdir(), 'whodis-crash-test-'))
afterAll(() => rmSync(root, { recursive: true, force: true }))
const writer = join(import.meta.dirname, 'fixtures', 'store-crash-writer.ts')

/** The state after batches 1..k, computed by the test from scratch. */
function stateAt(k: number): Map<number, Binding[]> {
  const state = new Map<number, Binding[]>()
  for (let i = 1; i <= k; i++) applyTo(state, batchFor(i))
  return state
}

/** Runs the writer until SIGKILL after `delayMs` of committing; returns the last treeSize it reported. */
async function runAndKill(dir: string, delayMs: number): Promise<{ ready: number; reported: number; lines: number }> {
  // node --import tsx rather than npx tsx: npx and tsx's own CLI put the writer in a grandchild
  // process, and SIGKILL must hit the process that writes.
  const child = spawn(process.execPath, ['--import', 'tsx', writer, dir], { stdio: ['ignore', 'pipe', 'inherit'] })
  let ready = -1
  let reported = -1
  let lines = 0
  let pending = ''
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()))
  await new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (chunk: Buffer) => {
      pending += chunk.toString()
      const parts = pending.split('\n')
      pending = parts.pop()!
      for (const line of parts) {
        lines++
        const [word, n] = line.split(' ')
        if (word === 'ready') {
          ready = Number(n)
          reported = ready
          setTimeout(() => {
            child.kill('SIGKILL')
            resolve()
          }, delayMs)
        } else if (word === 'committed') {
          reported = Number(n)
        }
      }
    })
    child.on('exit', (code, signal) => {
      if (signal !== 'SIGKILL') reject(new Error(`writer exited early: code ${code} signal ${signal}`))
    })
  })
  await exited
  return { ready, reported, lines }
}

describe('crash safety', () => {
  it('recovers exactly a committed prefix after kill -9 at random moments, and commits on', async () => {
    const dir = join(root, 'store')
    const kills = 12
    const seen: number[] = []
    let inFlightLanded = 0
    for (let round = 0; round < kills; round++) {
      const delay = 40 + Math.floor(Math.random() * 600)
      const { ready, reported } = await runAndKill(dir, delay)
      expect(ready).toBeGreaterThanOrEqual(0)
      const store = await openStore(dir)
      try {
        const t = store.treeSize
        // Everything reported is durable; at most the one in-flight commit may also have landed.
        expect(t).toBeGreaterThanOrEqual(reported)
        expect(t).toBeLessThanOrEqual(reported + 1)
        expect(store.checkpoint).toBe(metaFor(t).checkpoint)
        expect(store.rightEdge).toEqual(t === 0 ? [] : metaFor(t).rightEdge)
        const expected = stateAt(t)
        expect([...store.index.records()]).toEqual(recordsOf(expected))
        // Raw entries since the last bootstrap, one batch per commit.
        const from = store.entriesFrom
        expect([...store.entryBatches()].map((b) => b.treeSize)).toEqual(Array.from({ length: t - from }, (_, i) => from + i + 1))
        // The next commit works.
        await store.commit(batchFor(t + 1), metaFor(t + 1))
        applyTo(expected, batchFor(t + 1))
        expect(store.index.size).toBe(expected.size)
        seen.push(t)
        if (t === reported + 1) inFlightLanded++
      } finally {
        await store.close()
      }
    }
    const store = await openStore(dir)
    expect([...store.index.records()]).toEqual(recordsOf(stateAt(store.treeSize)))
    await store.close()
    // The rounds made progress (the writer committed between kills).
    expect(seen.at(-1)!).toBeGreaterThan(kills)
    console.log(`recovered tree sizes after each kill: ${seen.join(', ')}; in-flight commit had landed ${inFlightLanded} times`)
  }, 180_000)
})
