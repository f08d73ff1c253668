/**
 * The Limiter's exact sliding windows and the limit port's adapters, with time injected (no
 * test waits for a window to pass).
 */
import { runDurableObjectAlarm, runInDurableObject } from 'cloudflare:test'
import { describe, expect, it } from 'vitest'
import { edgeLimit, exactLimit, takeOrRefuse } from '../../src/adapters/limits.ts'
import { SLOTS_PER_WINDOW, type Limiter } from '../../src/durable-objects/limiter.ts'
import { ApiError } from '../../src/errors.ts'
import { testEnv } from './helpers.ts'

const MINUTE = 60_000
const key = () => `test:${crypto.randomUUID()}`
/** A whole minute at least `ahead` minutes from now: later than any alarm a take sets can fire during the test. */
const futureMinute = (ahead = 10) => Math.ceil((Date.now() + ahead * MINUTE) / MINUTE) * MINUTE

async function slotRows(name: string): Promise<number> {
  return runInDurableObject(testEnv.LIMITER.getByName(name), (_, state) => state.storage.sql.exec<{ n: number }>('SELECT COUNT(*) AS n FROM slots').one().n)
}

describe('Limiter: exact sliding windows', () => {
  it('slides across the minute: 30 at :58 leave no room for 30 more at :00, until a minute after them', async () => {
    const limiter = testEnv.LIMITER.getByName(key())
    const t58 = futureMinute() + 58_000
    for (let i = 0; i < 30; i++) expect(await limiter.take(30, MINUTE, t58)).toEqual({ ok: true, remaining: 29 - i })
    const t00 = t58 + 2_000
    for (let i = 0; i < 30; i++) {
      expect(await limiter.take(30, MINUTE, t00 + i * 1000)).toEqual({ ok: false, retryAfterMs: t58 + MINUTE - (t00 + i * 1000) })
    }
    expect((await limiter.take(30, MINUTE, t58 + MINUTE - 1)).ok).toBe(false)
    expect((await limiter.take(30, MINUTE, t58 + MINUTE)).ok).toBe(true)
  })

  it('frees each event exactly one window after it, and says when', async () => {
    const limiter = testEnv.LIMITER.getByName(key())
    const t = futureMinute()
    for (const at of [t, t + 10_000, t + 20_000]) expect((await limiter.take(3, MINUTE, at)).ok).toBe(true)
    expect(await limiter.take(3, MINUTE, t + 59_999)).toEqual({ ok: false, retryAfterMs: 1 })
    expect((await limiter.take(3, MINUTE, t + MINUTE)).ok).toBe(true)
    expect(await limiter.take(3, MINUTE, t + MINUTE)).toEqual({ ok: false, retryAfterMs: 10_000 })
    // A lowered limit waits for as many events as it must shed, not just the oldest.
    expect(await limiter.take(1, MINUTE, t + MINUTE)).toEqual({ ok: false, retryAfterMs: MINUTE })
  })

  it('takes exactly the limit of many concurrent requests', async () => {
    const limiter = testEnv.LIMITER.getByName(key())
    const now = futureMinute()
    const results = await Promise.all(Array.from({ length: 50 }, () => limiter.take(7, MINUTE, now)))
    expect(results.filter((r) => r.ok)).toHaveLength(7)
  })

  it('counts large limits in sixtieths of the window: 6,000 a minute in at most 61 rows, sliding by the second', async () => {
    const name = key()
    const t = futureMinute()
    await runInDurableObject(testEnv.LIMITER.getByName(name), async (limiter: Limiter) => {
      for (let i = 0; i < 6000; i++) expect((await limiter.take(6000, MINUTE, t + i * 10)).ok).toBe(true)
      expect(await limiter.take(6000, MINUTE, t + 59_995)).toEqual({ ok: false, retryAfterMs: 5 })
      // At :00 the first second's 100 leave, and only they.
      for (let i = 0; i < 100; i++) expect((await limiter.take(6000, MINUTE, t + MINUTE)).ok).toBe(true)
      expect(await limiter.take(6000, MINUTE, t + MINUTE)).toEqual({ ok: false, retryAfterMs: 1000 })
    })
    expect(await slotRows(name)).toBeLessThanOrEqual(SLOTS_PER_WINDOW + 1)
  })

  it('forgets a key whose events have all left their window', async () => {
    const name = key()
    const limiter = testEnv.LIMITER.getByName(name)
    const past = Date.now() - 10 * MINUTE
    for (let i = 0; i < 3; i++) expect((await limiter.take(3, MINUTE, past)).ok).toBe(true)
    await runDurableObjectAlarm(limiter)
    expect(await slotRows(name)).toBe(0)
    expect(await limiter.take(1, MINUTE, Date.now())).toEqual({ ok: true, remaining: 0 })
  })
})

describe('the limit port', () => {
  it('exactLimit refuses with the key\'s own wait; takeOrRefuse gives the whole window for a shared budget', async () => {
    const limit = exactLimit(testEnv.LIMITER, 2, MINUTE)
    const name = key()
    const t = futureMinute()
    expect(await limit.take(name, t)).toEqual({ ok: true })
    expect(await limit.take(name, t + 15_000)).toEqual({ ok: true })
    expect(await limit.take(name, t + 20_000)).toEqual({ ok: false, retryAfterMs: 40_000 })
    const own = await takeOrRefuse(limit, name, t + 20_000, 'too many').catch((e: unknown) => e)
    expect(own).toBeInstanceOf(ApiError)
    expect(own).toMatchObject({ status: 429, code: 'rate_limited', message: 'too many (2 per 60 s)', retryAfter: 40 })
    const shared = await takeOrRefuse(limit, name, t + 20_000, 'too many', true).catch((e: unknown) => e)
    expect(shared).toMatchObject({ status: 429, retryAfter: 60 })
  })

  it('edgeLimit asks the binding by key and, refused, asks for one whole period', async () => {
    const asked: string[] = []
    const binding = { limit: async ({ key }: { key: string }) => (asked.push(key), { success: asked.length <= 1 }) } as RateLimit
    const limit = edgeLimit(binding, 1, 10_000)
    expect(await limit.take('client-a', 0)).toEqual({ ok: true })
    expect(await limit.take('client-a', 0)).toEqual({ ok: false, retryAfterMs: 10_000 })
    expect(asked).toEqual(['client-a', 'client-a'])
  })

  it('the HOLDER_CLIENT_LIMIT binding limits each key apart', async () => {
    const limit = edgeLimit(testEnv.HOLDER_CLIENT_LIMIT!, 5, MINUTE)
    const a = key()
    const passed = (await Promise.all(Array.from({ length: 12 }, () => limit.take(a, Date.now())))).filter((r) => r.ok).length
    // Five a fixed period per location; a burst that straddles a period boundary may see two periods.
    expect(passed).toBeGreaterThanOrEqual(5)
    expect(passed).toBeLessThanOrEqual(10)
    expect(await limit.take(key(), Date.now())).toEqual({ ok: true })
  })
})
