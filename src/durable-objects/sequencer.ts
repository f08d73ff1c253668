/**
 * The Sequencer: the one writer of directory state. It owns the app registry, the bindings and
 * the ordered change list (every change gets the next index, starting at 0; the transparency
 * log is built from this list), and it keeps the KV projection in step.
 *
 * Each state change runs in one synchronous SQLite transaction that also marks the touched
 * number as "projection pending". KV writes happen after the commit; a pending mark is cleared
 * only once the projection written reflects the change, and the alarm re-drives any left over.
 * So a crash or a KV failure can delay the projection, never lose or corrupt a change.
 * @module
 */
import { DurableObject } from 'cloudflare:workers'
import { putNumber, tokenKey, type ProjectedBinding } from '../adapters/directory-kv.ts'
import type { Env } from '../env.ts'
import { createLogger } from '../log.ts'
import { migrate } from './sql.ts'

/** What a change did to a (number, app) binding. */
export type ChangeOp = 'add' | 'renew' | 'remove' | 'expire'
/** Why a binding was removed. */
export type RemoveReason = 'app' | 'holder' | 'reassigned' | 'app_revoked'

/** A binding as the Sequencer stores it (epoch ms, whole seconds). */
export interface Binding {
  phone: string
  app: string
  verifiedAt: number
  expiresAt: number
  publicKey: string | null
}

/** One entry of the ordered change list. */
export interface Change {
  index: number
  op: ChangeOp
  phone: string
  app: string
  at: number
  expiresAt: number | null
  publicKey: string | null
  reason: RemoveReason | null
}

export type CreateAppResult = { ok: true; num: number } | { ok: false; code: 'app_exists' }
export type BindResult =
  | { ok: true; binding: Binding; index: number; op: 'add' | 'renew' }
  | { ok: false; code: 'app_revoked' }

const VERIFICATION_RETAIN_MS = 24 * 3_600_000
const PROJECTION_BATCH = 200
const PROJECTION_PARALLEL = 20
const RETRY_MS = 5_000

type BindingRow = { phone: string; app: string; verified_at: number; expires_at: number; public_key: string | null }
type ChangeRow = {
  idx: number
  op: ChangeOp
  phone: string
  app: string
  at: number
  expires_at: number | null
  public_key: string | null
  reason: RemoveReason | null
}

/** Truncates to whole seconds: log entries carry second-resolution times, and state must match them. */
export const toSeconds = (ms: number) => ms - (ms % 1000)

export class Sequencer extends DurableObject<Env> {
  private readonly sql = this.ctx.storage.sql
  private readonly log = createLogger({ component: 'sequencer' })
  private flushing: Promise<void> | null = null
  private flushAgain = false

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env)
    migrate(this.sql, [
      `CREATE TABLE apps (id TEXT PRIMARY KEY, num INTEGER NOT NULL UNIQUE, name TEXT NOT NULL,
        token_hash TEXT NOT NULL, created_at INTEGER NOT NULL, revoked_at INTEGER)`,
      `CREATE TABLE bindings (phone TEXT NOT NULL, app TEXT NOT NULL, verified_at INTEGER NOT NULL,
        expires_at INTEGER NOT NULL, public_key TEXT, PRIMARY KEY (phone, app))`,
      'CREATE INDEX bindings_by_expiry ON bindings (expires_at)',
      'CREATE INDEX bindings_by_app ON bindings (app)',
      `CREATE TABLE changes (idx INTEGER PRIMARY KEY, op TEXT NOT NULL, phone TEXT NOT NULL, app TEXT NOT NULL,
        at INTEGER NOT NULL, expires_at INTEGER, public_key TEXT, reason TEXT)`,
      'CREATE TABLE verifications (id TEXT PRIMARY KEY, idx INTEGER NOT NULL, at INTEGER NOT NULL)',
      'CREATE TABLE projection_pending (phone TEXT PRIMARY KEY, idx INTEGER NOT NULL)',
    ])
  }

  // ---- apps -------------------------------------------------------------------------------

  /** Registers an app; ids are never reused, not even after revocation. */
  async createApp(id: string, name: string, tokenHash: string, now: number): Promise<CreateAppResult> {
    if (this.sql.exec('SELECT 1 FROM apps WHERE id = ?', id).toArray().length > 0) return { ok: false, code: 'app_exists' }
    const num = this.sql.exec<{ n: number }>('SELECT COALESCE(MAX(num), 0) + 1 AS n FROM apps').one().n
    this.sql.exec(
      'INSERT INTO apps (id, num, name, token_hash, created_at) VALUES (?, ?, ?, ?, ?)',
      id,
      num,
      name,
      tokenHash,
      now,
    )
    try {
      await this.env.DIRECTORY.put(tokenKey(tokenHash), JSON.stringify({ id, name }))
    } catch (err) {
      // Without its token in KV the app could not authenticate: undo, so the caller can retry.
      this.sql.exec('DELETE FROM apps WHERE id = ?', id)
      throw err
    }
    return { ok: true, num }
  }

  /** Revokes an app and removes every binding it holds (each removal is a logged change). */
  async revokeApp(id: string, now: number): Promise<{ ok: boolean; removed: number }> {
    const app = this.sql
      .exec<{ token_hash: string; revoked_at: number | null }>('SELECT token_hash, revoked_at FROM apps WHERE id = ?', id)
      .toArray()[0]
    if (!app) return { ok: false, removed: 0 }
    const at = toSeconds(now)
    const removed = this.ctx.storage.transactionSync(() => {
      this.sql.exec('UPDATE apps SET revoked_at = COALESCE(revoked_at, ?) WHERE id = ?', now, id)
      const rows = this.sql.exec<BindingRow>('SELECT * FROM bindings WHERE app = ?', id).toArray()
      for (const row of rows) this.removeBinding(row.phone, id, 'remove', 'app_revoked', at)
      return rows.length
    })
    // Revocation reaches other locations within KV's propagation window (about 60 s); writes
    // are refused at once because bind() re-checks the registry here.
    await this.env.DIRECTORY.delete(tokenKey(app.token_hash))
    await this.flush()
    return { ok: true, removed }
  }

  /** True when `id` is registered and not revoked. */
  appActive(id: string): boolean {
    return this.sql.exec('SELECT 1 FROM apps WHERE id = ? AND revoked_at IS NULL', id).toArray().length > 0
  }

  // ---- bindings ---------------------------------------------------------------------------

  /**
   * Records (or renews) the binding a successful verification proves. Idempotent per
   * verification id: a retried check returns the change it already made.
   */
  async bind(req: {
    phone: string
    app: string
    publicKey: string | null
    verificationId: string
    now: number
    ttlMs: number
  }): Promise<BindResult> {
    const result = this.ctx.storage.transactionSync((): BindResult => {
      const done = this.sql.exec<{ idx: number }>('SELECT idx FROM verifications WHERE id = ?', req.verificationId).toArray()[0]
      if (done) return this.replayBind(done.idx)
      if (!this.appActive(req.app)) return { ok: false, code: 'app_revoked' }
      const at = toSeconds(req.now)
      const binding: Binding = {
        phone: req.phone,
        app: req.app,
        verifiedAt: at,
        expiresAt: at + req.ttlMs,
        publicKey: req.publicKey,
      }
      const exists = this.sql.exec('SELECT 1 FROM bindings WHERE phone = ? AND app = ?', req.phone, req.app).toArray().length > 0
      const op = exists ? 'renew' : 'add'
      this.sql.exec(
        `INSERT INTO bindings (phone, app, verified_at, expires_at, public_key) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (phone, app) DO UPDATE SET verified_at = excluded.verified_at,
           expires_at = excluded.expires_at, public_key = excluded.public_key`,
        binding.phone,
        binding.app,
        binding.verifiedAt,
        binding.expiresAt,
        binding.publicKey,
      )
      const index = this.append({ op, phone: req.phone, app: req.app, at, expiresAt: binding.expiresAt, publicKey: req.publicKey, reason: null })
      this.sql.exec('INSERT INTO verifications (id, idx, at) VALUES (?, ?, ?)', req.verificationId, index, req.now)
      return { ok: true, binding, index, op }
    })
    if (result.ok) await this.flush()
    return result
  }

  /** Removes one binding on behalf of its app (or its holder); null when there was none. */
  async unbind(phone: string, app: string, reason: 'app' | 'holder', now: number): Promise<{ index: number } | null> {
    const index = this.ctx.storage.transactionSync(() => {
      const exists = this.sql.exec('SELECT 1 FROM bindings WHERE phone = ? AND app = ?', phone, app).toArray().length > 0
      return exists ? this.removeBinding(phone, app, 'remove', reason, toSeconds(now)) : null
    })
    if (index === null) return null
    await this.flush()
    return { index }
  }

  /**
   * Applies reassigned-number reports: removes every binding of each number verified before its
   * disconnection time. All reports apply in one transaction, or none do.
   */
  async reassign(reports: { phone: string; disconnectedAt: number }[], now: number): Promise<{ removed: number }> {
    const at = toSeconds(now)
    const removed = this.ctx.storage.transactionSync(() => {
      let n = 0
      for (const { phone, disconnectedAt } of reports) {
        const rows = this.sql
          .exec<BindingRow>('SELECT * FROM bindings WHERE phone = ? AND verified_at < ? ORDER BY app', phone, disconnectedAt)
          .toArray()
        for (const row of rows) this.removeBinding(phone, row.app, 'remove', 'reassigned', at)
        n += rows.length
      }
      return n
    })
    if (removed > 0) await this.flush()
    return { removed }
  }

  /** Removes every binding whose expiry is at or before `now`, in batches; returns how many. */
  async expire(now: number): Promise<{ expired: number }> {
    let expired = 0
    for (;;) {
      const batch = this.ctx.storage.transactionSync(() => {
        const rows = this.sql
          .exec<BindingRow>('SELECT * FROM bindings WHERE expires_at <= ? ORDER BY expires_at, phone, app LIMIT 500', now)
          .toArray()
        for (const row of rows) this.removeBinding(row.phone, row.app, 'expire', null, toSeconds(now))
        return rows.length
      })
      expired += batch
      if (batch < 500) break
    }
    this.sql.exec('DELETE FROM verifications WHERE at < ?', now - VERIFICATION_RETAIN_MS)
    if (expired > 0) await this.flush()
    return { expired }
  }

  /** The authoritative bindings of a number, sorted by app. */
  bindingsOf(phone: string): Binding[] {
    return this.sql.exec<BindingRow>('SELECT * FROM bindings WHERE phone = ? ORDER BY app', phone).toArray().map(fromRow)
  }

  /** Changes with index ≥ `from`, in order, at most `limit`. */
  changesSince(from: number, limit = 1000): Change[] {
    return this.sql
      .exec<ChangeRow>('SELECT * FROM changes WHERE idx >= ? ORDER BY idx LIMIT ?', from, limit)
      .toArray()
      .map((r) => ({
        index: r.idx,
        op: r.op,
        phone: r.phone,
        app: r.app,
        at: r.at,
        expiresAt: r.expires_at,
        publicKey: r.public_key,
        reason: r.reason,
      }))
  }

  /** Numbers whose KV projection is not yet written (0 in a healthy directory). */
  pendingProjections(): number {
    return this.sql.exec<{ n: number }>('SELECT COUNT(*) AS n FROM projection_pending').one().n
  }

  override async alarm(): Promise<void> {
    await this.flush()
  }

  // ---- internals --------------------------------------------------------------------------

  private replayBind(index: number): BindResult {
    const c = this.sql.exec<ChangeRow>('SELECT * FROM changes WHERE idx = ?', index).one()
    return {
      ok: true,
      index,
      op: c.op as 'add' | 'renew',
      binding: { phone: c.phone, app: c.app, verifiedAt: c.at, expiresAt: c.expires_at!, publicKey: c.public_key },
    }
  }

  private removeBinding(phone: string, app: string, op: 'remove' | 'expire', reason: RemoveReason | null, at: number): number {
    this.sql.exec('DELETE FROM bindings WHERE phone = ? AND app = ?', phone, app)
    return this.append({ op, phone, app, at, expiresAt: null, publicKey: null, reason })
  }

  /** Appends a change with the next index and marks its number's projection pending. Call inside a transaction. */
  private append(c: Omit<Change, 'index'>): number {
    const index = this.sql.exec<{ n: number }>('SELECT COALESCE(MAX(idx), -1) + 1 AS n FROM changes').one().n
    this.sql.exec(
      'INSERT INTO changes (idx, op, phone, app, at, expires_at, public_key, reason) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
      index,
      c.op,
      c.phone,
      c.app,
      c.at,
      c.expiresAt,
      c.publicKey,
      c.reason,
    )
    this.sql.exec(
      'INSERT INTO projection_pending (phone, idx) VALUES (?, ?) ON CONFLICT (phone) DO UPDATE SET idx = excluded.idx',
      c.phone,
      index,
    )
    return index
  }

  /**
   * Writes pending projections to KV. Runs one drain at a time (KV is last-write-wins, so two
   * interleaved writers could leave an older state behind); a caller arriving mid-drain gets
   * another pass, and every caller awaits the drain that covers its change.
   */
  private flush(): Promise<void> {
    this.flushAgain = true
    if (!this.flushing) {
      this.flushing = (async () => {
        try {
          while (this.flushAgain) {
            this.flushAgain = false
            await this.drainProjection()
          }
        } catch (err) {
          this.log.error('projection_failed', { error: String(err), retryInMs: RETRY_MS })
          await this.ctx.storage.setAlarm(Date.now() + RETRY_MS)
        } finally {
          this.flushing = null
        }
      })()
    }
    return this.flushing
  }

  private async drainProjection(): Promise<void> {
    for (;;) {
      const pending = this.sql
        .exec<{ phone: string; idx: number }>('SELECT phone, idx FROM projection_pending ORDER BY idx LIMIT ?', PROJECTION_BATCH)
        .toArray()
      if (pending.length === 0) return
      for (let i = 0; i < pending.length; i += PROJECTION_PARALLEL) {
        await Promise.all(
          pending.slice(i, i + PROJECTION_PARALLEL).map(async ({ phone, idx }) => {
            // Read the state at write time, so the value written covers every change up to idx.
            const apps: ProjectedBinding[] = this.bindingsOf(phone).map((b) => ({
              app: b.app,
              verifiedAt: b.verifiedAt,
              expiresAt: b.expiresAt,
            }))
            await putNumber(this.env.DIRECTORY, phone, apps, Date.now())
            // A change that landed while the write was in flight leaves a newer idx: keep that mark.
            this.sql.exec('DELETE FROM projection_pending WHERE phone = ? AND idx = ?', phone, idx)
          }),
        )
      }
      if (pending.length < PROJECTION_BATCH) return
    }
  }
}

function fromRow(r: BindingRow): Binding {
  return { phone: r.phone, app: r.app, verifiedAt: r.verified_at, expiresAt: r.expires_at, publicKey: r.public_key }
}
