/**
 * Exact fixed-window counters, one object per limit key (`sms-app:<id>`, `sms-cc:<code>`,
 * `lookup:<id>`). These limits cost money or guard scraping, so they live in a Durable Object
 * rather than in the per-location rate-limit binding.
 * @module
 */
import { DurableObject } from 'cloudflare:workers'
import type { Env } from '../env.ts'
import { migrate } from './sql.ts'

/** The outcome of taking from a limit. */
export type LimitResult = { ok: true; remaining: number } | { ok: false; retryAfterMs: number }

export class Limiter extends DurableObject<Env> {
  private readonly sql = this.ctx.storage.sql

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env)
    migrate(this.sql, ['CREATE TABLE windows (start INTEGER PRIMARY KEY, count INTEGER NOT NULL)'])
  }

  /** Counts `cost` events in the window holding `now`, unless that would take it past `limit` (then none). */
  take(limit: number, windowMs: number, now: number, cost = 1): LimitResult {
    const start = now - (now % windowMs)
    this.sql.exec('DELETE FROM windows WHERE start < ?', start)
    const count = this.sql.exec<{ count: number }>('SELECT count FROM windows WHERE start = ?', start).toArray()[0]?.count ?? 0
    if (count + cost > limit) return { ok: false, retryAfterMs: start + windowMs - now }
    this.sql.exec(
      'INSERT INTO windows (start, count) VALUES (?, ?) ON CONFLICT (start) DO UPDATE SET count = count + excluded.count',
      start,
      cost,
    )
    return { ok: true, remaining: limit - count - cost }
  }
}
