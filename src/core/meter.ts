/**
 * The evaluation meter: an exact token bucket per app, which bounds how many numbers an app can
 * turn into labels (each OPRF evaluation of a blinded number takes one token). Platform-free:
 * the state is a value the caller stores, the clock is passed in.
 *
 * Credit is kept in integers: one token is {@link UNITS_PER_TOKEN} units and a bucket refilling
 * `refillPerHour` tokens an hour gains exactly `refillPerHour` units a millisecond, so no
 * rounding ever grants a fraction of a token twice or loses one.
 * @module
 */

/** How many evaluations an app may make at once, and how fast its budget comes back. */
export interface MeterConfig {
  /** The bucket's size: the most tokens an app can hold, and so the largest batch it can ever take. */
  burst: number
  /** Tokens added per hour, continuously, up to `burst`. */
  refillPerHour: number
}

/**
 * DEFAULT_METER is what an app gets unless the operator says otherwise. A burst of 50,000 covers
 * a first address-book sync at once (Signal's CDSI allows 50,000 new contacts for a first
 * discovery); 1,000 an hour after it (8.76 million a year) keeps up with new contacts while
 * bounding what an abusive or leaked token can enumerate: the 10^8 numbers of one large country
 * would take it 11 years. Operators size both with EVALUATIONS_BURST and EVALUATIONS_PER_HOUR.
 */
export const DEFAULT_METER: MeterConfig = { burst: 50_000, refillPerHour: 1_000 }

/** Milliseconds in an hour: the units one token is made of (see the module comment). */
export const UNITS_PER_TOKEN = 3_600_000

/** The largest burst and refill a meter accepts: their products with the units stay exact in a double. */
export const MAX_METER_SETTING = 1_000_000_000

/** A bucket's state: its credit in units at `updatedAt` (epoch ms). */
export interface MeterState {
  /** Credit in units: `credit / UNITS_PER_TOKEN` tokens, between 0 and `burst` tokens. */
  credit: number
  /** When `credit` was measured; never moves backwards. */
  updatedAt: number
}

/** The outcome of a take: granted (and the state to store), or refused with how long until it would be granted. */
export type MeterTake =
  | { ok: true; state: MeterState; remaining: number }
  | { ok: false; retryAfterSeconds: number }

/** A token bucket with one configuration; states are values the caller keeps. */
export class TokenBucket {
  readonly config: MeterConfig
  readonly #capacity: number

  constructor(config: MeterConfig) {
    for (const [name, value] of Object.entries(config)) {
      if (!Number.isSafeInteger(value) || value < 1 || value > MAX_METER_SETTING) {
        throw new RangeError(`${name} must be an integer from 1 to ${MAX_METER_SETTING}`)
      }
    }
    this.config = { burst: config.burst, refillPerHour: config.refillPerHour }
    this.#capacity = config.burst * UNITS_PER_TOKEN
  }

  /** A bucket never used: full, as of `now`. */
  full(now: number): MeterState {
    return { credit: this.#capacity, updatedAt: now }
  }

  /**
   * `state` brought forward to `now`: refilled for the time since `updatedAt`, and never above
   * the capacity (a lowered burst takes effect at once). A clock that reads earlier than
   * `updatedAt` adds nothing and keeps `updatedAt`, so no span of time is counted twice.
   */
  refilled(state: MeterState | null, now: number): MeterState {
    if (state === null) return this.full(now)
    const credit = Math.min(state.credit, this.#capacity)
    if (now <= state.updatedAt) return { credit, updatedAt: state.updatedAt }
    const rate = this.config.refillPerHour
    // Past the time it takes to fill, the bucket is full: bounding the elapsed time keeps
    // rate × elapsed below capacity + rate, an exact integer.
    const untilFull = Math.ceil((this.#capacity - credit) / rate)
    const elapsed = now - state.updatedAt
    return { credit: elapsed >= untilFull ? this.#capacity : credit + rate * elapsed, updatedAt: now }
  }

  /**
   * Takes `n` tokens at `now`, all or none: granted with the new state and the whole tokens
   * left, or refused with the whole seconds (at least 1) after which the same take would be
   * granted if nothing else took meanwhile. `n` must be an integer from 1 to `burst`.
   */
  take(state: MeterState | null, n: number, now: number): MeterTake {
    if (!Number.isSafeInteger(n) || n < 1 || n > this.config.burst) {
      throw new RangeError(`a take must be an integer from 1 to the burst (${this.config.burst}), not ${n}`)
    }
    const current = this.refilled(state, now)
    const cost = n * UNITS_PER_TOKEN
    if (current.credit >= cost) {
      const credit = current.credit - cost
      return { ok: true, state: { credit, updatedAt: current.updatedAt }, remaining: Math.floor(credit / UNITS_PER_TOKEN) }
    }
    // The credit grows from current.updatedAt (which may be later than now, if the clock went back).
    const readyAt = current.updatedAt + Math.ceil((cost - current.credit) / this.config.refillPerHour)
    return { ok: false, retryAfterSeconds: Math.max(1, Math.ceil((readyAt - now) / 1000)) }
  }
}
