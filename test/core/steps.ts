/**
 * Failures at every step, as crash.test.ts and snapshot-crash.test.ts run them. Each
 * scenario's operation runs once with the port calls recorded (every call of every in-memory
 * backend: tiles and bundles written, the log store's transactions and compare-and-swap
 * commit, the checkpoint stored and published, the projection drained, the shards' intents,
 * the sequencer's RPC...). Then, for each step k, a fresh
 * directory runs the same operation twice more:
 * - with step k failing once: the operation answers (a result, a typed refusal, or an error),
 *   and once the alarms have run, the directory holds the fold of its log (no half state);
 * - with a crash at step k (every call from k on fails, then the process is dropped and new
 *   cores start over the same stores).
 * Either way the operation is then retried, and the log must end as in the run without a
 * failure: the same entries before the operation, then the same entries of the operation, each
 * once (no entry lost or duplicated), the state must equal the fold, and every checkpoint
 * ever stored or published must be consistent with every other.
 * @module
 */
import { expect } from 'vitest'
import type { MemoryDirectoryOptions } from '../../src/core/memory/directory.ts'
import { isRefusal } from '../../src/core/refusals.ts'
import { shardOf } from '../../src/core/shards.ts'
import type { Subject } from '../../src/protocol/entry.ts'
import { bindCommand, expectCheckpointsConsistent, expectStateIsFold, flush, logEntries, observedDirectory, settle, type Observed } from './harness.ts'

/** An operation to fail at every step, on a directory `setup` prepares. */
export interface Scenario {
  options?: MemoryDirectoryOptions
  subjects: Subject[]
  setup(o: Observed): Promise<void>
  /** The operation; run again as the retry. */
  op(o: Observed): Promise<unknown>
  /** Checks the retry's answer and what the operation leaves besides the log. */
  after?(o: Observed, retried: unknown): Promise<void> | void
}

/** The first app registered. */
export const APPA = { num: 1, id: 'appa' }
/** `count` numbers from `start`, spread over the shards. */
export const subjectsFrom = (start: number, count: number) => Array.from({ length: count }, (_, i) => start + i * 7919)

/** Binds `subjects` to `app`, one call per shard. */
export async function bindAll(o: Observed, subjects: readonly Subject[], app = APPA, ttlDays = 365): Promise<void> {
  const byShard = new Map<number, Subject[]>()
  for (const s of subjects) byShard.set(shardOf(s, o.d.shards.length), [...(byShard.get(shardOf(s, o.d.shards.length)) ?? []), s])
  for (const [shard, list] of byShard) {
    const out = await o.d.shards[shard]!.bind(list.map((s) => bindCommand(s, app, `setup-${app.id}-${s}`, o.clock.now, ttlDays)))
    for (const r of out) expect(r.ok).toBe(true)
  }
}

/** An answer the caller can act on: a result, a typed refusal, or an error; never a hang. */
export async function answered(p: Promise<unknown>): Promise<unknown> {
  let timer: ReturnType<typeof setTimeout> | undefined
  const hang = new Promise((_, reject) => (timer = setTimeout(() => reject(new Error('the operation never answered')), 15_000)))
  try {
    return await Promise.race([p.then((v) => v, (err: unknown) => (err instanceof Error ? err : new Error(String(err)))), hang])
  } finally {
    clearTimeout(timer)
  }
}

const sortedHex = (entries: readonly Uint8Array[]) => entries.map((e) => Buffer.from(e).toString('hex')).sort()

async function prepared(s: Scenario): Promise<Observed> {
  const o = observedDirectory({ shards: 3, ...s.options })
  await s.setup(o)
  await settle(o.d)
  o.d.faults.calls.length = 0
  return o
}

/** Runs `s` at every step; returns the steps, for the scenario's own checks. */
export async function atEveryStep(s: Scenario): Promise<string[]> {
  const clean = await prepared(s)
  const sizeBefore = clean.d.logStore.nextIndex()
  clean.d.faults.recording = true
  const first = await s.op(clean)
  clean.d.faults.recording = false
  const steps = clean.d.faults.calls.slice()
  await settle(clean.d)
  const reference = logEntries(clean.d)
  await s.after?.(clean, first)
  expectStateIsFold(clean, s.subjects)
  expect(steps.length).toBeGreaterThan(3)

  for (let k = 0; k < steps.length; k++) {
    for (const mode of ['fails once', 'crashes'] as const) {
      const where = `step ${k} (${steps[k]}) ${mode}`
      const o = await prepared(s)
      const { d } = o
      d.faults.recording = true
      const lift = d.faults.inject({ port: '*', after: k, ...(mode === 'fails once' ? { times: 1 } : {}) })
      if (mode === 'fails once') {
        const answer = await answered(s.op(o))
        lift()
        d.faults.recording = false
        expect(d.faults.calls[k], where).toBe(steps[k])
        // A refusal under a failure says to retry; it never claims the command itself was wrong.
        for (const one of Array.isArray(answer) ? answer : [answer]) if (isRefusal(one)) expect(one.code, where).toBe('log_unavailable')
        await settle(d)
        expectStateIsFold(o, s.subjects)
      } else {
        void s.op(o).catch(() => {})
        while (d.faults.calls.length <= k) await flush(1)
        await flush()
        expect(d.faults.calls[k], where).toBe(steps[k])
        lift()
        d.faults.recording = false
        d.restart()
        await settle(d)
      }
      const retried = await answered(s.op(o))
      expect(retried, where).not.toBeInstanceOf(Error)
      await settle(d)
      // The log before the operation, then the operation's entries, each once (commands that
      // arrive together may be ordered differently when one of them failed and was retried).
      const log = logEntries(d)
      expect(log.slice(0, sizeBefore), where).toEqual(reference.slice(0, sizeBefore))
      expect(sortedHex(log.slice(sizeBefore)), where).toEqual(sortedHex(reference.slice(sizeBefore)))
      expectStateIsFold(o, s.subjects)
      await expectCheckpointsConsistent(d, o.checkpoints)
      try {
        await s.after?.(o, retried)
      } catch (err) {
        throw new Error(`${where}: ${String(err)}`)
      }
    }
  }
  return steps
}
