/**
 * The Sequencer: the one writer of directory state and of the transparency log. It owns the
 * app registry, the bindings and the ordered entry list (every change is one log entry with the
 * next index, from 0), sequences entries into the Merkle tree in rounds, signs checkpoints,
 * issues credentials and receipts, writes snapshots, and keeps the KV projection in step.
 *
 * Each state change runs in one synchronous SQLite transaction that appends its entries and
 * marks the touched number as "projection pending"; the caller then waits for its entries to be
 * sequenced. A round (see {@link Sequencer.round}) writes tiles and bundles to R2, commits the
 * new tree size and its stored hashes in one transaction (the authority), then signs. Entries
 * are never changed once appended, and a round refuses to commit unless the tree is still the
 * size it started from, so no two signed checkpoints can disagree, across crashes or restarts.
 * @module
 */
import { DurableObject } from 'cloudflare:workers'
import { putNumber, tokenKey, type ProjectedBinding } from '../adapters/directory-kv.ts'
import { CHECKPOINT_KEY, putAll } from '../adapters/log-bucket.ts'
import { readLogConfig, type Env, type LogConfig } from '../env.ts'
import { ApiError, rpcError } from '../errors.ts'
import { createLogger } from '../log.ts'
import { logSigner } from '../log-key.ts'
import { fromBase64, toBase64 } from '../protocol/bytes.ts'
import { signCheckpoint } from '../protocol/checkpoint.ts'
import { signCredential } from '../protocol/credential.ts'
import type { NoteSigner } from '../protocol/note.ts'
import { encodeEntry, subjectOf, ttlDaysOf, type LogEntry, type RemoveReason } from '../protocol/entry.ts'
import { leafHash, proveRecord, RightEdge, storedHashCount } from '../protocol/merkle.ts'
import { encodeBundle, entriesPath, newTiles, readTileData, tilePath, tileWidthAt, TILE_WIDTH, type TilePathInfo } from '../protocol/tiles.ts'
import { formatTlogProofs } from '../protocol/tlog-proof.ts'
import { sha256 } from '@noble/hashes/sha2.js'
import { snapshotSizes, writeSnapshot, type SnapshotResult } from './snapshot-writer.ts'
import { migrate } from './sql.ts'
import { TREE_SCHEMA, TreeStore } from './tree-store.ts'

export type { RemoveReason }
/** What a change did. */
export type ChangeOp = 'add' | 'renew' | 'remove' | 'expire' | 'app-register' | 'app-revoke'

/** A binding as the Sequencer stores it (epoch ms, whole seconds). */
export interface Binding {
  phone: string
  app: string
  verifiedAt: number
  expiresAt: number
  publicKey: string | null
  /** Log index of the entry that added or last renewed it. */
  index: number
}

/** One log entry, described. `phone` is null for app entries. */
export interface Change {
  index: number
  op: ChangeOp
  phone: string | null
  app: string
  at: number
  reason: RemoveReason | null
}

/** A log entry with its receipt: the C2SP tlog-proof of its inclusion in the current checkpoint. */
export interface EntryReceipt {
  index: number
  /** The entry bytes, base64. */
  entry: string
  receipt: string
}

export type CreateAppResult = { ok: true; num: number } | { ok: false; code: 'app_exists' }
/** One verification's binding to record (times in epoch ms). */
export interface BindRequest {
  phone: string
  app: string
  publicKey: string | null
  verificationId: string
  now: number
  ttlDays: number
}

// What recording one verification gave: a new entry, an earlier one (retried), or a refusal.
type Recorded = NewEntry | { index: number } | { ok: false; code: 'app_revoked' }
type NewEntry = { index: number; op: 'add' | 'renew'; binding: Binding; entry: Uint8Array }

export type BindResult =
  | { ok: true; binding: Binding; index: number; op: 'add' | 'renew'; credential: string; receipt: string }
  | { ok: false; code: 'app_revoked' }

const DAY_MS = 86_400_000
const VERIFICATION_RETAIN_MS = 24 * 3_600_000
const PROJECTION_BATCH = 512
const PROJECTION_PARALLEL = 64
const RETRY_MS = 5_000
/** Most entries one round sequences (16 bundles). */
const MAX_ROUND_ENTRIES = 4096

type BindingRow = {
  phone: string
  app: string
  verified_at: number
  expires_at: number
  public_key: string | null
  idx: number
}
type EntryRow = { idx: number; op: ChangeOp; phone: string | null; app: string; at: number; reason: RemoveReason | null }

/** Truncates to whole seconds: log entries carry second-resolution times, and state must match them. */
export const toSeconds = (ms: number) => ms - (ms % 1000)

export class Sequencer extends DurableObject<Env> {
  private readonly sql = this.ctx.storage.sql
  private readonly tree = new TreeStore(this.ctx.storage.sql)
  private readonly log = createLogger({ component: 'sequencer' })
  private flushing: Promise<void> | null = null
  private flushAgain = false
  // Every entry up to this index is reflected in KV; callers wait on their own index.
  private projectedThrough = -1
  private projectionWaiters: { index: number; resolve: () => void }[] = []
  // Round pacing: one round at a time, about `roundMs` apart under load, at once when idle.
  private rounding = false
  private roundTimer: ReturnType<typeof setTimeout> | null = null
  private lastRoundStart = 0
  private waiters: { index: number; resolve: () => void; reject: (err: unknown) => void }[] = []
  private edge: RightEdge | null = null
  private snapshotting: Promise<void> | null = null

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env)
    migrate(this.sql, [
      `CREATE TABLE apps (id TEXT PRIMARY KEY, num INTEGER NOT NULL UNIQUE, name TEXT NOT NULL,
        token_hash TEXT NOT NULL, created_at INTEGER NOT NULL, revoked_at INTEGER)`,
      `CREATE TABLE bindings (phone TEXT NOT NULL, app TEXT NOT NULL, verified_at INTEGER NOT NULL,
        expires_at INTEGER NOT NULL, public_key TEXT, idx INTEGER NOT NULL, PRIMARY KEY (phone, app))`,
      'CREATE INDEX bindings_by_expiry ON bindings (expires_at)',
      'CREATE INDEX bindings_by_app ON bindings (app)',
      `CREATE TABLE entries (idx INTEGER PRIMARY KEY, entry BLOB NOT NULL, op TEXT NOT NULL, phone TEXT,
        app TEXT NOT NULL, at INTEGER NOT NULL, reason TEXT)`,
      'CREATE TABLE verifications (id TEXT PRIMARY KEY, idx INTEGER NOT NULL, at INTEGER NOT NULL)',
      'CREATE TABLE projection_pending (phone TEXT PRIMARY KEY, idx INTEGER NOT NULL)',
      ...TREE_SCHEMA,
      'CREATE TABLE snapshots (size INTEGER PRIMARY KEY, records INTEGER NOT NULL, bytes INTEGER NOT NULL, at INTEGER NOT NULL)',
      'CREATE INDEX entries_by_phone ON entries (phone, idx)',
      'CREATE INDEX projection_pending_by_idx ON projection_pending (idx)',
    ])
    // Entries appended before a restart and not yet sequenced: sequence them now.
    if (this.entryCount() > this.tree.checkpoint().size) this.kick()
  }

  // ---- apps -------------------------------------------------------------------------------

  /**
   * Registers an app (logged as an app-register entry); ids are never reused, not even after
   * revocation. The token goes to KV first: entries are never undone, so nothing may fail after.
   */
  async createApp(id: string, name: string, tokenHash: string, now: number): Promise<CreateAppResult> {
    if (this.appRow(id)) return { ok: false, code: 'app_exists' }
    await this.env.DIRECTORY.put(tokenKey(tokenHash), JSON.stringify({ id, name }))
    const result = this.ctx.storage.transactionSync((): CreateAppResult & { index?: number } => {
      if (this.appRow(id)) return { ok: false, code: 'app_exists' }
      const num = this.sql.exec<{ n: number }>('SELECT COALESCE(MAX(num), 0) + 1 AS n FROM apps').one().n
      if (num > 0xffff) throw new Error('this log can register at most 65535 apps')
      this.sql.exec(
        'INSERT INTO apps (id, num, name, token_hash, created_at) VALUES (?, ?, ?, ?, ?)',
        id,
        num,
        name,
        tokenHash,
        now,
      )
      const at = toSeconds(now)
      const index = this.append({ kind: 'app-register', app: num, time: at / 1000, id }, { op: 'app-register', phone: null, app: id, at, reason: null })
      return { ok: true, num, index }
    })
    if (!result.ok) {
      // Lost a race for the id: the token written above belongs to no one.
      await this.env.DIRECTORY.delete(tokenKey(tokenHash))
      return result
    }
    await this.sequenced(result.index!)
    return { ok: true, num: result.num }
  }

  /** Revokes an app: removes every binding it holds, then logs the revocation. */
  async revokeApp(id: string, now: number): Promise<{ ok: boolean; removed: number }> {
    const app = this.appRow(id)
    if (!app) return { ok: false, removed: 0 }
    const at = toSeconds(now)
    const { removed, last } = this.ctx.storage.transactionSync(() => {
      const rows = this.sql.exec<BindingRow>('SELECT * FROM bindings WHERE app = ? ORDER BY phone', id).toArray()
      let last = -1
      for (const row of rows) last = this.removeBinding(row.phone, id, app.num, 'remove', 'app_revoked', at)
      if (app.revoked_at === null) {
        this.sql.exec('UPDATE apps SET revoked_at = ? WHERE id = ?', now, id)
        last = this.append({ kind: 'app-revoke', app: app.num, time: at / 1000 }, { op: 'app-revoke', phone: null, app: id, at, reason: null })
      }
      return { removed: rows.length, last }
    })
    // Revocation reaches other locations within KV's propagation window (about 60 s); writes
    // are refused at once because bind() re-checks the registry here.
    await this.env.DIRECTORY.delete(tokenKey(app.token_hash))
    if (last >= 0) await this.sequencedAndProjected(last)
    return { ok: true, removed }
  }

  /** True when `id` is registered and not revoked. */
  appActive(id: string): boolean {
    return this.appRow(id)?.revoked_at === null
  }

  // ---- bindings ---------------------------------------------------------------------------

  /**
   * Records (or renews) the binding a successful verification proves, and answers once its
   * entry is sequenced, with a credential and a receipt. Idempotent per verification id: a
   * retried check returns the change it already made.
   */
  async bind(req: BindRequest): Promise<BindResult> {
    return (await this.bindMany([req]))[0]!
  }

  /**
   * {@link bind} for many verifications at once, all recorded in one transaction (all or none),
   * answered together once the last is sequenced. One call instead of one a binding: each
   * Durable Object call costs about as much as the binding's own work (its RPC, and the event
   * that resumes it), which bulk callers (`/dev/seed`) need not pay per binding.
   */
  async bindMany(reqs: BindRequest[]): Promise<BindResult[]> {
    const made = this.ctx.storage.transactionSync(() => reqs.map((req) => this.recordBinding(req)))
    const last = made.reduce((max, m) => ('index' in m ? Math.max(max, m.index) : max), -1)
    if (last >= 0) await this.sequencedAndProjected(last)
    return this.bindResults(made)
  }

  /** Removes one binding on behalf of its app (or its holder); null when there was none. */
  async unbind(phone: string, app: string, reason: 'app' | 'holder', now: number): Promise<{ index: number } | null> {
    const index = this.ctx.storage.transactionSync(() => {
      const num = this.appRow(app)?.num
      const exists = this.sql.exec('SELECT 1 FROM bindings WHERE phone = ? AND app = ?', phone, app).toArray().length > 0
      return exists && num !== undefined ? this.removeBinding(phone, app, num, 'remove', reason, toSeconds(now)) : null
    })
    if (index === null) return null
    await this.sequencedAndProjected(index)
    return { index }
  }

  /**
   * Applies reassigned-number reports: removes every binding of each number verified before its
   * disconnection time. All reports apply in one transaction, or none do.
   */
  async reassign(reports: { phone: string; disconnectedAt: number }[], now: number): Promise<{ removed: number }> {
    const at = toSeconds(now)
    const { removed, last } = this.ctx.storage.transactionSync(() => {
      let removed = 0
      let last = -1
      for (const { phone, disconnectedAt } of reports) {
        const rows = this.sql
          .exec<BindingRow>('SELECT * FROM bindings WHERE phone = ? AND verified_at < ? ORDER BY app', phone, disconnectedAt)
          .toArray()
        for (const row of rows) last = this.removeBinding(phone, row.app, this.appRow(row.app)!.num, 'remove', 'reassigned', at)
        removed += rows.length
      }
      return { removed, last }
    })
    if (last >= 0) await this.sequencedAndProjected(last)
    return { removed }
  }

  /** Removes every binding whose expiry is at or before `now`, in batches; returns how many. */
  async expire(now: number): Promise<{ expired: number }> {
    let expired = 0
    let last = -1
    for (;;) {
      const batch = this.ctx.storage.transactionSync(() => {
        const rows = this.sql
          .exec<BindingRow & { num: number }>(
            `SELECT b.*, a.num FROM bindings b JOIN apps a ON a.id = b.app
             WHERE b.expires_at <= ? ORDER BY b.expires_at, b.phone, b.app LIMIT 500`,
            now,
          )
          .toArray()
        for (const row of rows) last = this.removeBinding(row.phone, row.app, row.num, 'expire', null, toSeconds(now))
        return rows.length
      })
      expired += batch
      if (batch < 500) break
    }
    this.sql.exec('DELETE FROM verifications WHERE at < ?', now - VERIFICATION_RETAIN_MS)
    if (last >= 0) await this.sequencedAndProjected(last)
    return { expired }
  }

  /** The authoritative bindings of a number, sorted by app. */
  bindingsOf(phone: string): Binding[] {
    return this.sql.exec<BindingRow>('SELECT * FROM bindings WHERE phone = ? ORDER BY app', phone).toArray().map(fromRow)
  }

  /** Entries with index ≥ `from`, described, in order, at most `limit`. */
  changesSince(from: number, limit = 1000): Change[] {
    return this.sql
      .exec<EntryRow>('SELECT idx, op, phone, app, at, reason FROM entries WHERE idx >= ? ORDER BY idx LIMIT ?', from, limit)
      .toArray()
      .map((r) => ({ index: r.idx, op: r.op, phone: r.phone, app: r.app, at: r.at, reason: r.reason }))
  }

  /** The entries that touch `phone`, newest first, at most `limit` (what the number's holder is shown). */
  changesFor(phone: string, limit = 100): Change[] {
    return this.sql
      .exec<EntryRow>('SELECT idx, op, phone, app, at, reason FROM entries WHERE phone = ? ORDER BY idx DESC LIMIT ?', phone, limit)
      .toArray()
      .map((r) => ({ index: r.idx, op: r.op, phone: r.phone, app: r.app, at: r.at, reason: r.reason }))
  }

  /** Numbers whose KV projection is not yet written (0 in a healthy directory). */
  pendingProjections(): number {
    return this.sql.exec<{ n: number }>('SELECT COUNT(*) AS n FROM projection_pending').one().n
  }

  // ---- log reads --------------------------------------------------------------------------

  /** The latest signed checkpoint (signing the committed one if a crash left it unsigned). */
  async checkpointNote(): Promise<string> {
    const cp = this.tree.checkpoint()
    return cp.note ?? this.signCommitted(cp.size, cp.root)
  }

  /** Receipts for entries by index, against the latest checkpoint; indexes not yet sequenced are left out. */
  async receipts(indexes: number[]): Promise<EntryReceipt[]> {
    // Size and note from one read: a round committing during an await would pair them wrongly.
    const cp = this.tree.checkpoint()
    const size = cp.size
    const note = cp.note ?? (await this.signCommitted(cp.size, cp.root))
    const read = this.tree.reader()
    const wanted = indexes.filter((index) => Number.isSafeInteger(index) && index >= 0 && index < size)
    const entries = this.entriesAt(wanted)
    const texts = formatTlogProofs(
      note,
      wanted.map((index) => ({ index, hashes: proveRecord(size, index, read) })),
    )
    return wanted.map((index, i) => ({ index, entry: toBase64(entries.get(index)!), receipt: texts[i]! }))
  }

  /**
   * The bytes of a hash tile or entry bundle inside the committed tree, regenerated from
   * storage (R2 is a cache: this answers when an object is missing there); null outside it.
   */
  tileData(tile: TilePathInfo): Uint8Array | null {
    const size = this.tree.checkpoint().size
    if (tile.kind === 'entries') {
      const from = tile.index * TILE_WIDTH
      if (from + tile.width > size) return null
      return encodeBundle(this.entryBytes(from, from + tile.width))
    }
    if (tile.width > tileWidthAt(tile.level, tile.index, size)) return null
    return readTileData(tile, this.tree.reader())
  }

  /** Writes a snapshot of the state as of now (once it is sequenced); null if one exists at that size. */
  async snapshot(): Promise<SnapshotResult> {
    while (this.snapshotting) await this.snapshotting.catch(() => {})
    const run = (async () =>
      writeSnapshot({
        sql: this.sql,
        tree: this.tree,
        bucket: this.env.LOG,
        signer: await this.signer(),
        config: this.config(),
        sequenced: (index) => this.sequenced(index),
      }))()
    this.snapshotting = run.then(() => {})
    try {
      return await run
    } finally {
      this.snapshotting = null
    }
  }

  /** The snapshot sizes kept, newest first. */
  snapshotSizes(): number[] {
    return snapshotSizes(this.sql)
  }

  override async alarm(): Promise<void> {
    if (this.entryCount() > this.tree.checkpoint().size) await this.sequenced(this.entryCount() - 1)
    await this.flush()
  }

  // ---- sequencing -------------------------------------------------------------------------

  /** Resolves once entry `index` is in a committed, signed checkpoint; starts a round if needed. */
  private sequenced(index: number): Promise<void> {
    if (index < 0 || this.tree.checkpoint().size > index) return Promise.resolve()
    return new Promise((resolve, reject) => {
      this.waiters.push({ index, resolve, reject })
      this.kick()
    })
  }

  private async sequencedAndProjected(index: number): Promise<void> {
    await this.sequenced(index)
    await this.projected(index)
  }

  // Schedules a round: at once when the last one started at least roundMs ago, else when it has.
  private kick(): void {
    if (this.rounding || this.roundTimer) return
    let roundMs = 1000
    try {
      roundMs = this.config().roundMs
    } catch {
      // A configuration error surfaces in the round itself, as 503 not_configured to the waiters.
    }
    const delay = Math.max(0, this.lastRoundStart + roundMs - Date.now())
    this.roundTimer = setTimeout(() => {
      this.roundTimer = null
      void this.runRound()
    }, delay)
  }

  private async runRound(): Promise<void> {
    this.rounding = true
    this.lastRoundStart = Date.now()
    try {
      await this.round()
      const size = this.tree.checkpoint().size
      const done = this.waiters.filter((w) => w.index < size)
      this.waiters = this.waiters.filter((w) => w.index >= size)
      for (const w of done) w.resolve()
      this.maybeSnapshot(size)
    } catch (err) {
      this.log.error('sequencing_failed', { error: String(err), retryInMs: RETRY_MS })
      const failed = this.waiters
      this.waiters = []
      const error = rpcError('log_unavailable', 'the change is recorded but not yet in the published log; retry shortly')
      for (const w of failed) w.reject(error)
      this.edge = null
      await this.ctx.storage.setAlarm(Date.now() + RETRY_MS).catch(() => {})
    } finally {
      this.rounding = false
      if (this.waiters.length > 0 || this.entryCount() > this.tree.checkpoint().size) this.kick()
    }
  }

  /**
   * One round: takes the unsequenced entries (at most MAX_ROUND_ENTRIES), writes the tiles and
   * bundles they change to R2 (immutable keys, so a retried round rewrites identical bytes),
   * commits the new size, root and stored hashes, then signs and publishes the checkpoint.
   * A crash before the commit leaves the old checkpoint in force; the next round redoes the work.
   */
  private async round(): Promise<void> {
    const start = this.tree.checkpoint()
    const rows = this.sql
      .exec<{ idx: number; entry: ArrayBuffer }>('SELECT idx, entry FROM entries WHERE idx >= ? ORDER BY idx LIMIT ?', start.size, MAX_ROUND_ENTRIES)
      .toArray()
    if (rows.length === 0) {
      if (!start.note && start.size > 0) await this.signCommitted(start.size, start.root)
      return
    }
    const edge = this.currentEdge().clone()
    const hashes: Uint8Array[] = []
    for (const row of rows) {
      if (row.idx !== edge.size) throw new Error(`entry ${edge.size} is missing`)
      hashes.push(...edge.append(leafHash(new Uint8Array(row.entry))))
    }
    const size = edge.size
    const base = storedHashCount(start.size)
    const read = this.tree.reader({ base, hashes })
    const objects: { key: string; data: Uint8Array }[] = newTiles(start.size, size).map((t) => ({
      key: tilePath(t.level, t.index, t.width),
      data: readTileData(t, read),
    }))
    for (let b = Math.floor(start.size / TILE_WIDTH); b * TILE_WIDTH < size; b++) {
      const from = b * TILE_WIDTH
      const to = Math.min(from + TILE_WIDTH, size)
      objects.push({ key: entriesPath(b, to - from), data: encodeBundle(this.entryBytes(from, to)) })
    }
    await putAll(this.env.LOG, objects)
    const root = edge.root()
    this.ctx.storage.transactionSync(() => this.tree.commit(start.size, size, root, base, hashes, Date.now()))
    this.edge = edge
    await this.signCommitted(size, root)
    this.log.info('round', { from: start.size, to: size, objects: objects.length })
  }

  // Signs the committed checkpoint (Ed25519 is deterministic: re-signing yields the same note),
  // stores the note, then publishes it to R2. A failed R2 write is not fatal: R2 is a cache and
  // /log/checkpoint falls back to this object.
  private async signCommitted(size: number, root: Uint8Array): Promise<string> {
    const signer = await this.signer()
    const note = await signCheckpoint({ origin: this.config().origin, size, rootHash: root, extensions: [] }, signer)
    this.tree.setNote(size, note)
    try {
      await this.env.LOG.put(CHECKPOINT_KEY, note)
    } catch (err) {
      this.log.warn('checkpoint_publish_failed', { size, error: String(err) })
    }
    return note
  }

  private maybeSnapshot(size: number): void {
    if (this.snapshotting) return
    const last = this.sql.exec<{ size: number | null }>('SELECT MAX(size) AS size FROM snapshots').one().size ?? 0
    if (size - last < this.config().snapshotEveryEntries) return
    this.ctx.waitUntil(this.snapshot().catch((err) => this.log.error('snapshot_failed', { error: String(err) })))
  }

  private currentEdge(): RightEdge {
    const size = this.tree.checkpoint().size
    if (!this.edge || this.edge.size !== size) this.edge = RightEdge.fromStoredHashes(size, this.tree.reader())
    return this.edge
  }

  // Configuration errors must cross RPC to the Worker as `503 not_configured`.
  private config(): LogConfig {
    try {
      return readLogConfig(this.env)
    } catch (err) {
      throw err instanceof ApiError ? rpcError('not_configured', err.message) : err
    }
  }

  private async signer(): Promise<NoteSigner> {
    const key = this.env.LOG_SIGNING_KEY
    if (!key) throw rpcError('not_configured', 'LOG_SIGNING_KEY is not set (wrangler secret put LOG_SIGNING_KEY)')
    try {
      return await logSigner(key, this.env.LOG_ORIGIN)
    } catch (err) {
      throw err instanceof ApiError ? rpcError('not_configured', err.message) : err
    }
  }

  // ---- internals --------------------------------------------------------------------------

  private appRow(id: string) {
    return this.sql
      .exec<{ num: number; token_hash: string; revoked_at: number | null }>('SELECT num, token_hash, revoked_at FROM apps WHERE id = ?', id)
      .toArray()[0]
  }

  private entryCount(): number {
    return this.sql.exec<{ n: number }>('SELECT COALESCE(MAX(idx), -1) + 1 AS n FROM entries').one().n
  }

  private entryBytes(from: number, to: number): Uint8Array[] {
    return this.sql
      .exec<{ entry: ArrayBuffer }>('SELECT entry FROM entries WHERE idx >= ? AND idx < ? ORDER BY idx', from, to)
      .toArray()
      .map((r) => new Uint8Array(r.entry))
  }

  // The bytes of the entries at `indexes`, by index, in one query.
  private entriesAt(indexes: number[]): Map<number, Uint8Array> {
    const out = new Map<number, Uint8Array>()
    if (indexes.length === 0) return out
    const rows = this.sql.exec<{ idx: number; entry: ArrayBuffer }>('SELECT idx, entry FROM entries WHERE idx IN (SELECT value FROM json_each(?))', JSON.stringify(indexes))
    for (const row of rows) out.set(row.idx, new Uint8Array(row.entry))
    return out
  }

  // The change one verification makes (call inside a transaction): its entry, or the one a
  // retried verification already made, or the refusal.
  private recordBinding(req: BindRequest): Recorded {
    const done = this.sql.exec<{ idx: number }>('SELECT idx FROM verifications WHERE id = ?', req.verificationId).toArray()[0]
    if (done) return { index: done.idx }
    const app = this.appRow(req.app)
    if (!app || app.revoked_at !== null) return { ok: false, code: 'app_revoked' }
    const at = toSeconds(req.now)
    const expiresAt = at + req.ttlDays * DAY_MS
    const exists = this.sql.exec('SELECT 1 FROM bindings WHERE phone = ? AND app = ?', req.phone, req.app).toArray().length > 0
    const kind = exists ? 'renew' : 'add'
    const entry: LogEntry = { kind, subject: subjectOf(req.phone), app: app.num, time: at / 1000, ttlDays: req.ttlDays }
    if (req.publicKey) entry.keyFingerprint = sha256(fromBase64(req.publicKey))
    const bytes = encodeEntry(entry)
    const index = this.append(bytes, { op: kind, phone: req.phone, app: req.app, at, reason: null })
    this.sql.exec(
      `INSERT INTO bindings (phone, app, verified_at, expires_at, public_key, idx) VALUES (?, ?, ?, ?, ?, ?)
       ON CONFLICT (phone, app) DO UPDATE SET verified_at = excluded.verified_at,
         expires_at = excluded.expires_at, public_key = excluded.public_key, idx = excluded.idx`,
      req.phone,
      req.app,
      at,
      expiresAt,
      req.publicKey,
      index,
    )
    this.sql.exec('INSERT INTO verifications (id, idx, at) VALUES (?, ?, ?)', req.verificationId, index, req.now)
    return { index, op: kind, binding: { phone: req.phone, app: req.app, verifiedAt: at, expiresAt, publicKey: req.publicKey, index }, entry: bytes }
  }

  // The answers for recorded bindings, once sequenced: a credential and a receipt each, all
  // against one checkpoint.
  private async bindResults(made: Recorded[]): Promise<BindResult[]> {
    const signer = await this.signer()
    const origin = this.config().origin
    const indexes = made.flatMap((m) => ('index' in m ? [m.index] : []))
    const receipts = new Map((await this.receipts(indexes)).map((r) => [r.index, r.receipt]))
    return Promise.all(
      made.map(async (m): Promise<BindResult> => {
        if (!('index' in m)) return m
        const { index, op, binding, entry } = 'binding' in m ? m : this.recordedAt(m.index)
        const credential = await signCredential(
          {
            origin,
            phone: binding.phone,
            app: binding.app,
            ...(binding.publicKey ? { publicKey: binding.publicKey } : {}),
            verifiedAt: binding.verifiedAt / 1000,
            expiresAt: binding.expiresAt / 1000,
            index,
            entry,
          },
          signer,
        )
        return { ok: true, binding, index, op, credential, receipt: receipts.get(index)! }
      }),
    )
  }

  // What entry `index` (an add or renew) recorded, read back for a retried verification; the
  // binding may have been renewed or removed since, so its expiry comes from the entry then.
  private recordedAt(index: number): NewEntry {
    const e = this.sql.exec<EntryRow>('SELECT idx, op, phone, app, at FROM entries WHERE idx = ?', index).one()
    const row = this.sql
      .exec<{ public_key: string | null; expires_at: number }>(`SELECT public_key, expires_at FROM bindings WHERE phone = ? AND app = ? AND idx = ?`, e.phone, e.app, index)
      .toArray()[0]
    const entry = this.entryBytes(index, index + 1)[0]!
    const binding: Binding = {
      phone: e.phone!,
      app: e.app,
      verifiedAt: e.at,
      expiresAt: row?.expires_at ?? e.at + ttlDaysOf(entry) * DAY_MS,
      publicKey: row ? row.public_key : null,
      index,
    }
    return { index, op: e.op as 'add' | 'renew', binding, entry }
  }

  private removeBinding(phone: string, app: string, num: number, op: 'remove' | 'expire', reason: RemoveReason | null, at: number): number {
    this.sql.exec('DELETE FROM bindings WHERE phone = ? AND app = ?', phone, app)
    const subject = subjectOf(phone)
    const time = at / 1000
    const entry: LogEntry = op === 'expire' ? { kind: 'expire', subject, app: num, time } : { kind: 'remove', subject, app: num, time, reason: reason! }
    return this.append(entry, { op, phone, app, at, reason })
  }

  /** Appends an entry with the next index and marks its number's projection pending. Call inside a transaction. */
  private append(entry: LogEntry | Uint8Array, d: Omit<EntryRow, 'idx'>): number {
    const index = this.entryCount()
    this.sql.exec(
      'INSERT INTO entries (idx, entry, op, phone, app, at, reason) VALUES (?, ?, ?, ?, ?, ?, ?)',
      index,
      entry instanceof Uint8Array ? entry : encodeEntry(entry),
      d.op,
      d.phone,
      d.app,
      d.at,
      d.reason,
    )
    if (d.phone) {
      this.sql.exec(
        'INSERT INTO projection_pending (phone, idx) VALUES (?, ?) ON CONFLICT (phone) DO UPDATE SET idx = excluded.idx',
        d.phone,
        index,
      )
    }
    return index
  }

  /** Resolves once every entry up to `index` is reflected in KV (or the drain failed and the alarm will retry). */
  private projected(index: number): Promise<void> {
    if (index <= this.projectedThrough) return Promise.resolve()
    return new Promise((resolve) => {
      this.projectionWaiters.push({ index, resolve })
      void this.flush()
    })
  }

  /**
   * Writes pending projections of sequenced entries to KV. Runs one drain at a time (KV is
   * last-write-wins, so two interleaved writers could leave an older state behind); a caller
   * arriving mid-drain gets another pass. Callers wait only for the batch that covers their
   * own entry (see {@link projected}), not for the whole drain.
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
          await this.ctx.storage.setAlarm(Date.now() + RETRY_MS).catch(() => {})
          // The changes are committed and logged; their projection follows from the alarm.
          this.settleProjection(Infinity)
        } finally {
          this.flushing = null
        }
      })()
    }
    return this.flushing
  }

  private settleProjection(through: number): void {
    if (through !== Infinity) this.projectedThrough = Math.max(this.projectedThrough, through)
    const done = this.projectionWaiters.filter((w) => w.index <= through)
    this.projectionWaiters = this.projectionWaiters.filter((w) => w.index > through)
    for (const w of done) w.resolve()
  }

  private async drainProjection(): Promise<void> {
    for (;;) {
      // Only sequenced changes are projected: a lookup never shows a binding the log cannot prove.
      const size = this.tree.checkpoint().size
      const pending = this.sql
        .exec<{ phone: string; idx: number }>(
          'SELECT phone, idx FROM projection_pending WHERE idx < ? ORDER BY idx LIMIT ?',
          size,
          PROJECTION_BATCH,
        )
        .toArray()
      if (pending.length === 0) {
        this.settleProjection(size - 1)
        return
      }
      // The state to write, read in the same synchronous step as the marks: each value covers
      // every change up to its mark's idx. One query for the batch, not one a number.
      const byPhone = new Map<string, ProjectedBinding[]>(pending.map((p) => [p.phone, []]))
      const rows = this.sql.exec<BindingRow>(
        'SELECT * FROM bindings WHERE phone IN (SELECT value FROM json_each(?)) ORDER BY phone, app',
        JSON.stringify(pending.map((p) => p.phone)),
      )
      for (const row of rows) {
        const b = fromRow(row)
        byPhone.get(row.phone)!.push({ app: b.app, verifiedAt: b.verifiedAt, expiresAt: b.expiresAt, index: b.index })
      }
      for (let i = 0; i < pending.length; i += PROJECTION_PARALLEL) {
        await Promise.all(pending.slice(i, i + PROJECTION_PARALLEL).map(({ phone }) => putNumber(this.env.DIRECTORY, phone, byPhone.get(phone)!, Date.now())))
      }
      // The batch is every mark up to its last idx (marks are taken in idx order, one a number),
      // so one range delete clears it. A change that landed while the writes were in flight
      // moved its number's mark past every idx read here: that mark stays for the next pass.
      this.sql.exec('DELETE FROM projection_pending WHERE idx <= ?', pending[pending.length - 1]!.idx)
      // Pending marks are taken in index order and a newer change to a number always has a larger
      // index, so once this batch is written every entry up to its last index is projected.
      this.settleProjection(pending.length < PROJECTION_BATCH ? size - 1 : pending[pending.length - 1]!.idx)
      if (pending.length < PROJECTION_BATCH) return
    }
  }
}

function fromRow(r: BindingRow): Binding {
  return { phone: r.phone, app: r.app, verifiedAt: r.verified_at, expiresAt: r.expires_at, publicKey: r.public_key, index: r.idx }
}
