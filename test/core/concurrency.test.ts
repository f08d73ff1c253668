/**
 * Concurrency through the core: many verifications, removals and reassignments of the same and
 * of different numbers, sent all at once (Promise.all) to three shards, get distinct log
 * indexes, each naming the entry its answer describes; the log holds exactly the accepted
 * changes, once each; and the state is the fold of the log. Concurrent registrations get
 * distinct nums and one id is registered once.
 */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { isRefusal } from '../../src/core/refusals.ts'
import { decodeEntry, type Subject } from '../../src/protocol/entry.ts'
import { bindCommand, expectCheckpointsConsistent, expectStateIsFold, logEntries, observedDirectory, settle } from './harness.ts'

const SUBJECTS: Subject[] = Array.from({ length: 5 }, (_, i) => 14155550000 + i * 104729)
const APPS = [
  { num: 1, id: 'appa' },
  { num: 2, id: 'appb' },
]

type Op = { kind: 'bind' | 'unbind' | 'reassign'; subject: number; app: number }
const op: fc.Arbitrary<Op> = fc.record({ kind: fc.constantFrom('bind' as const, 'bind' as const, 'unbind' as const, 'reassign' as const), subject: fc.nat(SUBJECTS.length - 1), app: fc.nat(APPS.length - 1) })

describe('commands sent at once', { timeout: 300_000 }, () => { // a safety net: these enumerate hundreds of runs, slow on a loaded machine
  it('get distinct indexes, one log, and the state is its fold', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(op, { minLength: 20, maxLength: 80 }), async (ops) => {
        const o = observedDirectory({ shards: 3 })
        for (const a of APPS) await o.d.sequencer.registerApp(a.id, a.id, `token-${a.id}`)
        const before = o.d.logStore.nextIndex()
        o.clock.now += 1000
        let vid = 0
        const answers = await Promise.all(
          ops.map(async (x) => {
            const subject = SUBJECTS[x.subject]!
            const app = APPS[x.app]!
            const shard = o.d.shardFor(subject)
            if (x.kind === 'bind') return { x, r: (await shard.bind([bindCommand(subject, app, `v${++vid}`, o.clock.now)]))[0]! }
            if (x.kind === 'unbind') return { x, r: await shard.unbind(subject, app.id, 'holder', o.clock.now) }
            // Disconnected a second after the verifications: it removes every binding made before.
            return { x, r: await shard.reassign(subject, o.clock.now + 1000, o.clock.now) }
          }),
        )
        await settle(o.d)
        const log = logEntries(o.d)
        const claimed: number[] = []
        let removedByReassign = 0
        for (const { x, r } of answers) {
          expect(isRefusal(r) ? r.code : 'ok', JSON.stringify(x)).toMatch(/^(ok|binding_not_found)$/)
          if (isRefusal(r)) continue
          const subject = SUBJECTS[x.subject]!
          if ('index' in r) {
            claimed.push(r.index)
            const entry = decodeEntry(log[r.index]!)
            expect(entry, JSON.stringify(x)).toMatchObject(x.kind === 'bind' ? { kind: (r as unknown as { op: string }).op, subject, app: APPS[x.app]!.num } : { kind: 'remove', subject, app: APPS[x.app]!.num, reason: 'holder' })
          } else if ('removed' in r) removedByReassign += r.removed
        }
        // Distinct indexes, and exactly the accepted changes in the log.
        expect(new Set(claimed).size).toBe(claimed.length)
        expect(log.length - before).toBe(claimed.length + removedByReassign)
        const reassigned = log.slice(before).filter((e) => {
          const d = decodeEntry(e)
          return d.kind === 'remove' && d.reason === 'reassigned'
        })
        expect(reassigned.length).toBe(removedByReassign)
        expectStateIsFold(o, SUBJECTS)
        await expectCheckpointsConsistent(o.d, o.checkpoints)
      }),
      { numRuns: 25 },
    )
  })

  it('registrations get distinct nums, and one id is registered once', async () => {
    const o = observedDirectory()
    const ids = ['a1', 'a2', 'a3', 'a4', 'a1', 'a2', 'a5', 'a1']
    const answers = await Promise.all(ids.map((id, i) => o.d.sequencer.registerApp(id, id, `t${i}`)))
    const ok = answers.filter((r): r is { ok: true; num: number } => r.ok)
    expect(ok.length).toBe(5)
    expect(new Set(ok.map((r) => r.num))).toEqual(new Set([1, 2, 3, 4, 5]))
    expect(answers.filter((r) => !r.ok).map((r) => (r as { code: string }).code)).toEqual(['app_exists', 'app_exists', 'app_exists'])
    await settle(o.d)
    expectStateIsFold(o, [])
  })
})
