/**
 * The allocation-free lookups a program embeds: `mirror.apps` one number at a time and
 * `mirror.appsMany` a batch at a time give exactly the live apps the log's fold gives, for held
 * and absent numbers, at any clock, whatever the batch size and however few slots a number gets.
 */
import { afterAll, describe, expect, it } from 'vitest'
import { subjectOf } from '../../src/protocol/entry.ts'
import { expiresAt } from '../../src/protocol/state.ts'
import { FakeDirectory } from './fixtures/fake-directory.ts'
import { buildLog } from './fixtures/fake-log.ts'
import { cleanupTemp, mirrorOf, poolNumbers, tempDir } from './fixtures/helpers.ts'

afterAll(cleanupTemp)

describe('mirror.apps and mirror.appsMany', () => {
  it('answer the fold, one at a time and in batches, at every clock', async () => {
    const log = await buildLog(900, { seed: 21 })
    const fake = await FakeDirectory.start(log)
    try {
      const state = log.stateAt()
      const times = poolNumbers()
        .flatMap((phone) => state.records.get(subjectOf(phone)) ?? [])
        .map(expiresAt)
        .sort((a, b) => a - b)
      expect(times.length).toBeGreaterThan(50)
      // Clocks before every expiry, between them (some bindings expired), and after all of them.
      const clocks = [times[0]! - 1, times[Math.floor(times.length / 3)]!, times[Math.floor((2 * times.length) / 3)]!, times.at(-1)! + 1]
      // Held numbers, then absent ones, interleaved; more than one batch of 1,024.
      const subjects = Float64Array.from({ length: 2600 }, (_, i) => subjectOf(poolNumbers()[i % 200]!) + (i % 3 === 2 ? 100_000 : 0))
      for (const now of clocks) {
        const mirror = await mirrorOf(fake, tempDir(), { now: () => now * 1000 })
        await mirror.sync()
        const want = Array.from(subjects, (s) =>
          (state.records.get(s) ?? [])
            .filter((b) => expiresAt(b) > now)
            .map((b) => b.app)
            .sort((a, b) => a - b),
        )
        const one = new Uint16Array(8)
        expect(Array.from(subjects, (s) => Array.from(one.subarray(0, mirror.apps(s, one))))).toEqual(want)
        for (const stride of [1, 4]) {
          const counts = new Uint8Array(subjects.length)
          const out = new Uint16Array(subjects.length * stride)
          mirror.appsMany(subjects, counts, out, stride)
          expect(Array.from(counts)).toEqual(want.map((w) => w.length))
          // Each number's first `stride` apps, ascending; the count says how many there are in all.
          expect(Array.from(subjects, (_, k) => Array.from(out.subarray(k * stride, k * stride + Math.min(stride, counts[k]!))))).toEqual(want.map((w) => w.slice(0, stride)))
        }
        expect(want.some((w) => w.length > 1) || now > times.at(-1)!).toBe(true)
        await mirror.close()
      }
    } finally {
      await fake.stop()
    }
  })
})
