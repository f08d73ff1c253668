/**
 * One object per phone number (named by a keyed tag of the number, never the number itself):
 * its OTP challenges and its SMS send history. Every check runs without an `await` between
 * reading and writing the attempt counter, so the object's single thread judges concurrent
 * guesses one at a time and no more than {@link MAX_ATTEMPTS} are ever compared; starts judge
 * the send caps the same way.
 *
 * Sends are counted in two budgets that never touch: `app` (codes apps send) and `holder`
 * (codes sent on the holder's own behalf, which anyone may ask for). Spending one can neither
 * refuse nor reveal anything about the other.
 * @module
 */
import { DurableObject } from 'cloudflare:workers'
import { constantTimeEqual, fromHex } from '../protocol/bytes.ts'
import { migrate } from '../adapters/sql.ts'

/** How long a code is valid. */
export const CHALLENGE_TTL_MS = 10 * 60_000
/** Wrong codes allowed per challenge. */
export const MAX_ATTEMPTS = 5
// Finished challenges are kept this long so late checks get 410 rather than 404.
const RETAIN_MS = 24 * 3_600_000
const HOUR_MS = 3_600_000
const DAY_MS = 24 * HOUR_MS

/** Whose sends a send counts against. */
export type SendBudget = 'app' | 'holder'

/** What starting a challenge needs; the code itself never reaches this object, only its MAC. */
export interface StartChallenge {
  id: string
  app: string
  phone: string
  publicKey: string | null
  codeMac: string
  now: number
  /** The budget this send draws on, and that budget's caps for the last hour and day. */
  budget: SendBudget
  perHour: number
  perDay: number
}

export type StartResult =
  | { ok: true; expiresAt: number }
  | { ok: false; window: 'hour' | 'day'; retryAfterMs: number }

export type CheckResult =
  | { status: 'ok'; phone: string; publicKey: string | null }
  | { status: 'wrong'; attemptsLeft: number }
  | { status: 'expired' | 'exhausted' | 'not_found' | 'spent' }

type ChallengeRow = {
  id: string
  app: string
  phone: string
  public_key: string | null
  code_mac: string
  expires_at: number
  attempts: number
  state: string
}

export class PhoneChallenge extends DurableObject<object> {
  private readonly sql = this.ctx.storage.sql

  constructor(ctx: DurableObjectState, env: object) {
    super(ctx, env)
    migrate(this.sql, [
      `CREATE TABLE challenges (id TEXT PRIMARY KEY, app TEXT NOT NULL, phone TEXT NOT NULL, public_key TEXT,
        code_mac TEXT NOT NULL, created_at INTEGER NOT NULL, expires_at INTEGER NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0, state TEXT NOT NULL)`,
      'CREATE TABLE sends (at INTEGER NOT NULL)',
      "ALTER TABLE sends ADD COLUMN budget TEXT NOT NULL DEFAULT 'app'",
    ])
  }

  /**
   * Records a send and a new challenge unless the budget's hourly or daily cap is reached (both
   * sliding: a send counts for exactly an hour and a day). A refusal says when the budget's own
   * sends free one, from nothing but that budget's sends.
   */
  async start(req: StartChallenge): Promise<StartResult> {
    const hour = this.sendsSince(req.budget, req.now - HOUR_MS, req.perHour)
    if (hour.full) return { ok: false, window: 'hour', retryAfterMs: hour.freedAt + HOUR_MS - req.now }
    const day = this.sendsSince(req.budget, req.now - DAY_MS, req.perDay)
    if (day.full) return { ok: false, window: 'day', retryAfterMs: day.freedAt + DAY_MS - req.now }
    const expiresAt = req.now + CHALLENGE_TTL_MS
    this.sql.exec('INSERT INTO sends (at, budget) VALUES (?, ?)', req.now, req.budget)
    this.sql.exec(
      `INSERT INTO challenges (id, app, phone, public_key, code_mac, created_at, expires_at, state)
       VALUES (?, ?, ?, ?, ?, ?, ?, 'pending')`,
      req.id,
      req.app,
      req.phone,
      req.publicKey,
      req.codeMac,
      req.now,
      expiresAt,
    )
    await this.scheduleCleanup(expiresAt + RETAIN_MS)
    return { ok: true, expiresAt }
  }

  /**
   * Judges one code. Order matters: a challenge that is expired or out of attempts refuses even
   * the right code. A right code moves it to `verified`; presenting it again answers `ok` again,
   * so a check whose response was lost can be retried (the Sequencer deduplicates by id) —
   * unless `singleUse`: then a verified challenge is spent (holder sessions, each of which
   * would otherwise be a new credential, are opened once per code).
   */
  check(id: string, app: string, codeMac: string, now: number, singleUse = false): CheckResult {
    const row = this.sql.exec<ChallengeRow>('SELECT * FROM challenges WHERE id = ?', id).toArray()[0]
    if (!row || row.app !== app || row.state === 'cancelled') return { status: 'not_found' }
    if (singleUse && row.state === 'verified') return { status: 'spent' }
    if (now >= row.expires_at) return { status: 'expired' }
    if (row.attempts >= MAX_ATTEMPTS) return { status: 'exhausted' }
    if (constantTimeEqual(fromHex(codeMac), fromHex(row.code_mac))) {
      this.sql.exec("UPDATE challenges SET state = 'verified' WHERE id = ?", id)
      return { status: 'ok', phone: row.phone, publicKey: row.public_key }
    }
    this.sql.exec('UPDATE challenges SET attempts = attempts + 1 WHERE id = ?', id)
    return { status: 'wrong', attemptsLeft: MAX_ATTEMPTS - row.attempts - 1 }
  }

  /** Withdraws a challenge whose SMS could not be sent. The send still counts against the caps. */
  cancel(id: string): void {
    this.sql.exec("UPDATE challenges SET state = 'cancelled' WHERE id = ?", id)
  }

  override async alarm(): Promise<void> {
    const now = Date.now()
    this.sql.exec('DELETE FROM challenges WHERE expires_at + ? <= ?', RETAIN_MS, now)
    this.sql.exec('DELETE FROM sends WHERE at <= ?', now - DAY_MS)
    const next = this.sql
      .exec<{ t: number | null }>(
        'SELECT MIN(t) AS t FROM (SELECT MIN(expires_at) + ? AS t FROM challenges UNION ALL SELECT MIN(at) + ? FROM sends)',
        RETAIN_MS,
        DAY_MS,
      )
      .one().t
    if (next !== null) await this.ctx.storage.setAlarm(Math.max(next, now + 1000))
  }

  /**
   * Whether `budget` holds `cap` sends after `since`, and if so the time of the send whose
   * leaving frees one (the oldest, or a later one when a lowered cap leaves more than `cap`).
   */
  private sendsSince(budget: SendBudget, since: number, cap: number): { full: false } | { full: true; freedAt: number } {
    const times = this.sql
      .exec<{ at: number }>('SELECT at FROM sends WHERE budget = ? AND at > ? ORDER BY at', budget, since)
      .toArray()
      .map((r) => r.at)
    return times.length < cap ? { full: false } : { full: true, freedAt: times[times.length - cap]! }
  }

  private async scheduleCleanup(at: number): Promise<void> {
    const current = await this.ctx.storage.getAlarm()
    if (current === null || current > at) await this.ctx.storage.setAlarm(at)
  }
}
