/**
 * The evaluation meter (src/core/meter.ts): all-or-nothing takes, exact refill, Retry-After that
 * is exactly enough, and, over random take sequences with clocks that jitter backwards, never
 * more granted than burst + refill × elapsed.
 */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { DEFAULT_METER, TokenBucket, UNITS_PER_TOKEN, type MeterState } from '../../src/core/meter.ts'

const T0 = 1_800_000_000_000
const HOUR = 3_600_000

/** Takes `n`, expecting a grant; returns the new state. */
function granted(bucket: TokenBucket, state: MeterState | null, n: number, now: number): MeterState {
  const out = bucket.take(state, n, now)
  if (!out.ok) throw new Error(`take ${n} at ${now - T0} ms refused (retry after ${out.retryAfterSeconds} s)`)
  return out.state
}

describe('TokenBucket', () => {
  it('defaults to a 50,000 burst and 1,000 an hour', () => {
    expect(DEFAULT_METER).toEqual({ burst: 50_000, refillPerHour: 1_000 })
  })

  it('starts full and takes a batch whole or not at all', () => {
    const bucket = new TokenBucket({ burst: 100, refillPerHour: 1_000 })
    const first = bucket.take(null, 60, T0)
    expect(first).toMatchObject({ ok: true, remaining: 40 })
    const state = (first as { state: MeterState }).state
    // 41 > 40: refused, and nothing taken (40 still fit afterwards).
    expect(bucket.take(state, 41, T0).ok).toBe(false)
    expect(bucket.take(state, 40, T0)).toMatchObject({ ok: true, remaining: 0 })
  })

  it('refills exactly: one token every 3.6 s at 1,000 an hour, never above the burst', () => {
    const bucket = new TokenBucket({ burst: 10, refillPerHour: 1_000 })
    let state = granted(bucket, null, 10, T0)
    expect(bucket.take(state, 1, T0 + 3_599).ok).toBe(false)
    state = granted(bucket, state, 1, T0 + 3_600)
    expect(bucket.take(state, 1, T0 + 3_600).ok).toBe(false)
    // A day later it holds the burst, not 24,000.
    expect(bucket.take(state, 10, T0 + 24 * HOUR)).toMatchObject({ ok: true, remaining: 0 })
    expect(() => bucket.take(state, 11, T0 + 24 * HOUR)).toThrow(RangeError)
  })

  it('keeps fractions of a token across takes (rates that do not divide an hour)', () => {
    // 7 an hour: one token every 514,285.71… ms. Taking each token as soon as it exists, 7
    // tokens come in exactly one hour, not in 7 × 514,286 ms.
    // (A burst of 2, so no leftover fraction is cut off by a full bucket.)
    const bucket = new TokenBucket({ burst: 2, refillPerHour: 7 })
    let state = granted(bucket, null, 2, T0)
    let now = T0
    for (let i = 0; i < 7; i++) {
      const refused = bucket.take(state, 1, now)
      expect(refused.ok).toBe(false)
      // The first millisecond at which it is granted.
      let lo = now
      let hi = now + HOUR
      while (lo < hi) {
        const mid = Math.floor((lo + hi) / 2)
        if (bucket.take(state, 1, mid).ok) hi = mid
        else lo = mid + 1
      }
      now = lo
      state = granted(bucket, state, 1, now)
    }
    expect(now - T0).toBe(HOUR)
  })

  it('says exactly how long to wait: granted after Retry-After, refused a second before', () => {
    const bucket = new TokenBucket({ burst: 100, refillPerHour: 1_000 })
    const state = granted(bucket, null, 100, T0)
    const refused = bucket.take(state, 7, T0 + 1_000)
    if (refused.ok) throw new Error('granted')
    // 7 tokens take 25.2 s to come back; 1 s of them has passed.
    expect(refused.retryAfterSeconds).toBe(25)
    expect(bucket.take(state, 7, T0 + 1_000 + 25_000).ok).toBe(true)
    expect(bucket.take(state, 7, T0 + 1_000 + 24_000).ok).toBe(false)
  })

  it('counts no time twice when the clock reads earlier than the last take', () => {
    const bucket = new TokenBucket({ burst: 5, refillPerHour: 1_000 })
    let state = granted(bucket, null, 5, T0 + 10_000)
    // A caller whose clock is 10 s behind: nothing refilled, and updatedAt stays.
    const behind = bucket.take(state, 1, T0)
    expect(behind).toMatchObject({ ok: false, retryAfterSeconds: 14 })
    expect(bucket.refilled(state, T0)).toEqual(state)
    state = granted(bucket, state, 1, T0 + 13_600)
    expect(bucket.take(state, 1, T0 + 13_600).ok).toBe(false)
  })

  it('applies a lowered burst at once', () => {
    const state = granted(new TokenBucket({ burst: 100, refillPerHour: 1_000 }), null, 10, T0)
    const smaller = new TokenBucket({ burst: 20, refillPerHour: 1_000 })
    expect(smaller.take(state, 20, T0)).toMatchObject({ ok: true, remaining: 0 })
  })

  it('refuses settings and takes it cannot keep exact', () => {
    for (const config of [
      { burst: 0, refillPerHour: 1 },
      { burst: 1, refillPerHour: 0 },
      { burst: 1.5, refillPerHour: 1 },
      { burst: 1, refillPerHour: 2_000_000_000 },
    ]) {
      expect(() => new TokenBucket(config), JSON.stringify(config)).toThrow(RangeError)
    }
    const bucket = new TokenBucket({ burst: 10, refillPerHour: 1 })
    for (const n of [0, -1, 2.5, 11, Number.NaN]) expect(() => bucket.take(null, n, T0), String(n)).toThrow(RangeError)
  })

  it('stays exact at the largest settings', () => {
    const bucket = new TokenBucket({ burst: 1_000_000_000, refillPerHour: 1_000_000_000 })
    const state = granted(bucket, null, 1_000_000_000, T0)
    expect(bucket.refilled(state, T0 + 100 * 365 * 24 * HOUR).credit).toBe(1_000_000_000 * UNITS_PER_TOKEN)
    // 10^9 an hour is 277.7… tokens a millisecond.
    expect(bucket.take(state, 277, T0 + 1).ok).toBe(true)
    expect(bucket.take(state, 278, T0 + 1).ok).toBe(false)
  })

  it('never grants more than burst + refill × elapsed (random sequences, clocks that jitter back)', () => {
    const step = fc.record({
      // Mostly forwards, sometimes a clock that reads up to 5 s behind the last take.
      dt: fc.oneof(fc.integer({ min: 0, max: 20_000 }), fc.integer({ min: -5_000, max: 0 }), fc.integer({ min: 0, max: 2 * HOUR })),
      n: fc.integer({ min: 1, max: 1_000 }),
    })
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 1_000 }), fc.integer({ min: 1, max: 100_000 }), fc.array(step, { maxLength: 200 }), (burst, refillPerHour, steps) => {
        const bucket = new TokenBucket({ burst, refillPerHour })
        let state: MeterState | null = null
        let now = T0
        // The bucket is full at its first take; elapsed runs from then to the latest clock reading.
        let start = T0
        let latest = T0
        let total = 0
        for (const { dt, n } of steps) {
          now += dt
          if (state === null) start = latest = now
          latest = Math.max(latest, now)
          const take = Math.min(n, burst)
          const out = bucket.take(state, take, now)
          if (out.ok) {
            state = out.state
            total += take
          } else {
            expect(out.retryAfterSeconds).toBeGreaterThanOrEqual(1)
            // Retry-After is enough: the same take then is granted.
            expect(bucket.take(state, take, now + out.retryAfterSeconds * 1000).ok).toBe(true)
          }
          // Integers throughout: total × units ≤ burst × units + refill × elapsed, exactly.
          expect(total * UNITS_PER_TOKEN).toBeLessThanOrEqual(burst * UNITS_PER_TOKEN + refillPerHour * (latest - start))
        }
        // Tight: what is left is exactly the bound minus what was granted, up to the burst.
        const left = Math.floor(bucket.refilled(state, latest).credit / UNITS_PER_TOKEN)
        if (state !== null) {
          expect(left).toBeLessThanOrEqual(burst)
          expect(left + total).toBeLessThanOrEqual(burst + Math.floor((refillPerHour * (latest - start)) / UNITS_PER_TOKEN))
        }
      }),
      { numRuns: 300 },
    )
  })

  it('grants a caller that takes one at a time exactly burst + ⌊refill × elapsed⌋ while it never fills up', () => {
    fc.assert(
      fc.property(fc.integer({ min: 2, max: 50 }), fc.integer({ min: 1, max: 100_000 }), fc.array(fc.nat(), { minLength: 1, maxLength: 100 }), (burst, refillPerHour, raw) => {
        const bucket = new TokenBucket({ burst, refillPerHour })
        // Gaps short enough that less than a token of leftover plus the gap's refill stays under the burst.
        const longestGap = Math.floor(((burst - 1) * UNITS_PER_TOKEN) / refillPerHour)
        let state: MeterState | null = null
        let now = T0
        let total = 0
        for (const [i, r] of raw.entries()) {
          // The first drain is at T0, when the bucket is full.
          if (i > 0) now += r % (longestGap + 1)
          // Drain: the bucket is empty after every step, so no refill is lost to the cap.
          for (;;) {
            const out = bucket.take(state, 1, now)
            if (!out.ok) break
            state = out.state
            total += 1
          }
        }
        expect(total).toBe(burst + Math.floor((refillPerHour * (now - T0)) / UNITS_PER_TOKEN))
      }),
      { numRuns: 200 },
    )
  })
})
