/**
 * Exact sliding-window counters, one object per limit key (the keys are listed in
 * docs/storage.md). These limits cost money or guard scraping, so they live in a Durable Object
 * rather than in the per-location rate-limit binding; callers reach them through the one limit
 * port in `src/adapters/limits.ts`.
 *
 * A take is judged against the events of the window that ends now, so no boundary lets a burst
 * through twice. Events are counted in slots, each stored with the time it leaves the window:
 * for limits up to {@link EVENT_LOG_UP_TO} a slot is one millisecond (a sliding log: every event
 * counts for exactly `windowMs`); above it a slot is 1/{@link SLOTS_PER_WINDOW} of the window
 * (6,000 lookups a minute are counted in one-second slots), so an object never holds more than
 * {@link SLOTS_PER_WINDOW} + 1 rows, whatever the limit.
 * @module
 */
import { DurableObject } from 'cloudflare:workers'
import { migrate } from '../adapters/sql.ts'

/** Limits up to this many events a window are kept as a log of single events. */
export const EVENT_LOG_UP_TO = 60
/** Slots a window is cut into for larger limits. */
export const SLOTS_PER_WINDOW = 60

/** The outcome of taking from a limit. */
export type LimitResult = { ok: true; remaining: number } | { ok: false; retryAfterMs: number }

/** Width of a slot: 1 ms for small limits (exact to the millisecond), else 1/60 of the window. */
export function slotWidthMs(limit: number, windowMs: number): number {
  return limit <= EVENT_LOG_UP_TO ? 1 : Math.max(1, Math.floor(windowMs / SLOTS_PER_WINDOW))
}

export class Limiter extends DurableObject<object> {
  private readonly sql = this.ctx.storage.sql

  constructor(ctx: DurableObjectState, env: object) {
    super(ctx, env)
    this.migrate()
  }

  /**
   * Counts `cost` events at `now`, unless the window ending at `now` would then hold more than
   * `limit` (then none); a refusal says how long until enough of those events leave the window.
   */
  async take(limit: number, windowMs: number, now: number, cost = 1): Promise<LimitResult> {
    const width = slotWidthMs(limit, windowMs)
    const start = now - (now % width)
    const leaves = start + Math.ceil(windowMs / width) * width
    this.sql.exec('DELETE FROM slots WHERE leaves <= ?', now)
    const slots = this.sql.exec<{ leaves: number; count: number }>('SELECT leaves, count FROM slots ORDER BY leaves').toArray()
    const held = slots.reduce((sum, s) => sum + s.count, 0)
    if (cost > limit) return { ok: false, retryAfterMs: windowMs }
    if (held + cost > limit) return { ok: false, retryAfterMs: freedAt(slots, held + cost - limit) - now }
    this.sql.exec('INSERT INTO slots (leaves, count) VALUES (?, ?) ON CONFLICT (leaves) DO UPDATE SET count = count + excluded.count', leaves, cost)
    if ((await this.ctx.storage.getAlarm()) === null) await this.ctx.storage.setAlarm(leaves)
    return { ok: true, remaining: limit - held - cost }
  }

  /** Forgets slots that left their window; an object whose slots are all gone keeps no storage. */
  override async alarm(): Promise<void> {
    const now = Date.now()
    this.sql.exec('DELETE FROM slots WHERE leaves <= ?', now)
    const next = this.sql.exec<{ t: number | null }>('SELECT MIN(leaves) AS t FROM slots').one().t
    if (next !== null) return this.ctx.storage.setAlarm(Math.max(next, now + 1000))
    await this.ctx.storage.deleteAll()
    this.migrate()
  }

  private migrate(): void {
    migrate(this.sql, [
      'CREATE TABLE windows (start INTEGER PRIMARY KEY, count INTEGER NOT NULL)',
      'DROP TABLE windows',
      'CREATE TABLE slots (leaves INTEGER PRIMARY KEY, count INTEGER NOT NULL)',
    ])
  }
}

/** When the oldest `excess` events (slots in order of leaving) have all left the window. */
function freedAt(slots: { leaves: number; count: number }[], excess: number): number {
  let freed = 0
  for (const slot of slots) {
    freed += slot.count
    if (freed >= excess) return slot.leaves
  }
  return slots.at(-1)!.leaves
}
