/**
 * The log sequencer: the one place that orders entries. It keeps the app registry, takes
 * batches of entries from the binding shards (each shard has already checked its entries
 * against its subjects' records with the fold's record rules), checks every entry against the
 * fold's app rules in log order, and pools them; rounds then publish them.
 *
 * A round (about `roundMs` apart under load, at once when idle):
 * 1. plans the tree growth from the committed tree and the pool ({@link planRound});
 * 2. writes the new tiles and bundles to the object store (immutable keys, deterministic bytes,
 *    so a retried round rewrites the same bytes);
 * 3. commits the new tree in one transaction that refuses if the tree moved since step 1 — the
 *    commit is the authority on what the log holds;
 * 4. signs the checkpoint (Ed25519 is deterministic: re-signing after a crash gives the same
 *    note), stores the note, and publishes it.
 * A crash before step 3 leaves the old tree in force and the pool intact; a crash after it
 * leaves a committed tree that the next round or alarm signs. Entries are never changed once
 * pooled, so every signed checkpoint is a prefix of one sequence: two inconsistent checkpoints
 * cannot exist.
 * @module
 */
import { toBase64 } from '../protocol/bytes.ts'
import { signCheckpoint } from '../protocol/checkpoint.ts'
import { decodeBundle, entriesPath, TILE_WIDTH } from '../protocol/tiles.ts'
import { decodeEntry, encodeEntry, type LogEntry } from '../protocol/entry.ts'
import { EMPTY_ROOT } from '../protocol/merkle.ts'
import type { NoteSigner } from '../protocol/note.ts'
import { applyAppRules, checkAppRules, FoldError, type StateApp } from '../protocol/state.ts'
import type { Appended, AppendResult, AppRecord, Clock, Logger, LogStore, ObjectStore, SequencedResult, ShardClient, Timers, TokenSink, TreeState } from './ports.ts'
import { objectTileFetcher, receiptsFor, TileCache } from './receipts.ts'
import { ConfigError, logUnavailable, refuse, type Refusal } from './refusals.ts'
import { SNAPSHOT_PART_BYTES, SnapshotJob, type SnapshotResult } from './snapshot-job.ts'
import { planRound } from './tree-round.ts'

/** How the sequencer paces rounds and snapshots. */
export interface SequencerConfig {
  origin: string
  roundMs: number
  snapshotEveryEntries: number
  snapshotsKept: number
}

/** What the sequencer runs on. `config` and `signer` throw {@link ConfigError} when a setting is missing. */
export interface SequencerDeps {
  store: LogStore
  objects: ObjectStore
  tokens: TokenSink
  shards: ShardClient
  config(): SequencerConfig
  signer(): Promise<NoteSigner>
  clock: Clock
  timers: Timers
  log: Logger
  /** Bytes of a snapshot's multipart parts (default {@link SNAPSHOT_PART_BYTES}). */
  partBytes?: number
  /** Bindings a revocation removes per call to a shard (default {@link REVOKE_BATCH}). */
  revokeBatch?: number
}

/** A log entry with its index, as {@link LogSequencer.entries} reads them back. */
export interface IndexedEntry {
  index: number
  entry: LogEntry
}

/** Most entries one round sequences (16 bundles). */
export const MAX_ROUND_ENTRIES = 4096
/** Bindings a revocation removes per call to a shard. */
export const REVOKE_BATCH = 500
/** How long a failed round or job waits before the alarm retries it. */
const RETRY_MS = 5_000
const REVOKE_JOB = 'revoke:'

type Waiter = { index: number; resolve: (failure: Refusal | null) => void }

/** See the module comment. One instance per log, in one thread. */
export class LogSequencer {
  readonly #d: SequencerDeps
  readonly #tiles = new TileCache()
  #apps: Map<number, AppRecord>
  #waiters: Waiter[] = []
  #rounding = false
  #roundTimer: unknown = null
  #lastRoundStart = 0
  // The tiles of the last signed round, which prove its entries without a read.
  #fresh: { size: number; tiles: Map<string, Uint8Array> } | null = null
  readonly #revoking = new Map<number, Promise<number>>()
  readonly #snapshots: SnapshotJob

  constructor(deps: SequencerDeps) {
    this.#d = deps
    this.#apps = new Map(deps.store.apps().map((a) => [a.num, a]))
    this.#snapshots = new SnapshotJob({
      store: deps.store,
      objects: deps.objects,
      shards: deps.shards,
      signer: deps.signer,
      config: deps.config,
      clock: deps.clock,
      log: deps.log,
      sequenced: (index) => this.#whenSequenced(index),
      apps: () => [...this.#apps.values()],
      nextIndex: () => deps.store.nextIndex(),
      partBytes: deps.partBytes ?? SNAPSHOT_PART_BYTES,
      later: () => void deps.timers.wakeAt(deps.clock()).catch(() => {}),
    })
    // Entries pooled before a restart and not yet sequenced: sequence them now.
    if (deps.store.nextIndex() > deps.store.tree().size) this.#kick()
  }

  // ---- the registry ---------------------------------------------------------------------

  /** The registry, by app num. */
  apps(): AppRecord[] {
    return [...this.#apps.values()].sort((a, b) => a.num - b.num)
  }

  /** The app with id `id`, if registered. */
  app(id: string): AppRecord | undefined {
    for (const a of this.#apps.values()) if (a.id === id) return a
    return undefined
  }

  /**
   * Registers an app (an `app-register` entry) once it is sequenced. Ids are never reused, not
   * even after revocation. The token is published first: entries are never undone, so nothing
   * may fail after the entry.
   */
  async registerApp(id: string, name: string, tokenHash: string): Promise<{ ok: true; num: number } | Refusal> {
    if (this.app(id) || this.#reserved.has(id)) return refuse('app_exists', `app ${id} already exists (ids are never reused)`)
    // The num and id are reserved before the token is written, so concurrent registrations never take the same.
    const num = Math.max(0, ...this.#apps.keys(), ...this.#reserved.values()) + 1
    if (num > 0xffff) return refuse('registry_full', 'this log can register at most 65535 apps')
    this.#reserved.set(id, num)
    try {
      await this.#d.tokens.put(tokenHash, { id, name, num })
      const now = this.#d.clock()
      const made = this.#transaction(() => {
        const index = this.#appendOwn({ kind: 'app-register', app: num, time: seconds(now), id })
        const app: AppRecord = { num, id, name, tokenHash, createdAt: now, status: 'active', bindings: 0, registeredIndex: index, revokedIndex: null }
        this.#d.store.putApp(app)
        return { app, index }
      })
      this.#apps.set(num, made.app)
      const failure = await this.#whenSequenced(made.index)
      return failure ?? { ok: true, num }
    } finally {
      this.#reserved.delete(id)
    }
  }

  // Registrations between their checks and their commit: id → num.
  readonly #reserved = new Map<string, number>()

  /**
   * Revokes an app: no new binding of it is accepted from now on, its token is withdrawn, every
   * binding it holds is removed (shard by shard, in bounded batches that resume after a restart),
   * and then the revocation is logged. Resolves once it is done.
   */
  async revokeApp(id: string): Promise<{ ok: true; removed: number } | Refusal> {
    const app = this.app(id)
    if (!app) return refuse('app_not_found', `no app ${id}`)
    if (app.status === 'active') {
      this.#transaction(() => {
        app.status = 'revoking'
        this.#d.store.putApp(app)
        this.#d.store.setMeta(REVOKE_JOB + app.num, JSON.stringify({ shard: 0, removed: 0 }))
      })
    }
    return { ok: true, removed: await this.#revoke(app.num) }
  }

  #revokeJob(num: number): { shard: number; removed: number } | null {
    const text = this.#d.store.meta(REVOKE_JOB + num)
    return text ? JSON.parse(text) : null
  }

  // Runs (or joins) the revocation of app `num`; resolves to the bindings it removed.
  #revoke(num: number): Promise<number> {
    let run = this.#revoking.get(num)
    if (!run) {
      run = this.#runRevocation(num).finally(() => this.#revoking.delete(num))
      this.#revoking.set(num, run)
    }
    return run
  }

  async #runRevocation(num: number): Promise<number> {
    const { store, shards } = this.#d
    const app = this.#apps.get(num)!
    if (app.status === 'revoked') return 0
    // Writes stopped with the status (see append); reads stop within KV's propagation window. On
    // every run, so that a failed delete is retried with the batches, before the revocation is logged.
    await this.#d.tokens.delete(app.tokenHash)
    let job = this.#revokeJob(num) ?? { shard: 0, removed: 0 }
    while (job.shard < shards.count) {
      const r = await shards.removeApp(job.shard, num, this.#d.revokeBatch ?? REVOKE_BATCH)
      if ('code' in r) throw new Error(`shard ${job.shard} could not remove bindings of app ${app.id}: ${r.message}`)
      job = { shard: r.more ? job.shard : job.shard + 1, removed: job.removed + r.removed }
      store.setMeta(REVOKE_JOB + num, JSON.stringify(job))
    }
    const index = this.#transaction(() => {
      const at = this.#appendOwn({ kind: 'app-revoke', app: num, time: seconds(this.#d.clock()) })
      app.status = 'revoked'
      app.revokedIndex = at
      store.putApp(app)
      store.setMeta(REVOKE_JOB + num, null)
      return at
    })
    const failure = await this.#whenSequenced(index)
    if (failure) throw new Error(failure.message)
    return job.removed
  }

  // A transaction over the store and the in-memory registry: if it throws, the registry is read back.
  #transaction<T>(fn: () => T): T {
    try {
      return this.#d.store.transaction(fn)
    } catch (err) {
      this.#apps = new Map(this.#d.store.apps().map((a) => [a.num, a]))
      throw err
    }
  }

  // ---- entries from the shards ----------------------------------------------------------

  /**
   * Appends batch `seq` of shard `source`; see {@link EntryLog.append}. Every entry is checked
   * with the fold's app rules against the registry as of its place in the log; a refused entry
   * also refuses the later entries of the batch that change the same binding, since the shard
   * planned them on top of it.
   */
  append(source: number, seq: number, entries: readonly Uint8Array[]): Appended {
    const { store } = this.#d
    const held = store.source(source)
    if (held && held.seq === seq) return { results: held.results, retainFrom: this.#retainFrom() }
    if (held && seq < held.seq) throw new Error(`shard ${source} sent batch ${seq} after batch ${held.seq}`)
    const results = this.#transaction(() => {
      const results: AppendResult[] = []
      const poisoned = new Set<string>()
      const touched = new Set<AppRecord>()
      const ledger = this.#ledger()
      let index = store.nextIndex()
      for (const bytes of entries) {
        const entry = decodeEntry(bytes)
        if (entry.kind === 'app-register' || entry.kind === 'app-revoke') throw new Error('a shard sent an app entry')
        const key = `${entry.subject}/${entry.app}`
        const app = this.#apps.get(entry.app)
        let refusal: AppendResult | null = null
        if (poisoned.has(key)) refusal = { refused: 'depends_on_refused' }
        else if (!app) refusal = { refused: 'app_unknown' }
        else if ((entry.kind === 'add' || entry.kind === 'renew') && app.status !== 'active') refusal = { refused: 'app_revoked' }
        if (refusal) {
          poisoned.add(key)
          results.push(refusal)
          continue
        }
        // The fold's own app rules, on the registry as the log has it at this index.
        const state = ledger.get(entry.app)!
        applyAppRules(ledger, checkAppRules(ledger, entry, index), entry)
        app!.bindings = state.bindings
        touched.add(app!)
        store.pushPool(index, bytes)
        results.push({ index: index++ })
      }
      for (const app of touched) store.putApp(app)
      store.putSource(source, { seq, results })
      return results
    })
    if (results.some((r) => 'index' in r)) this.#kick()
    return { results, retainFrom: this.#retainFrom() }
  }

  // See Appended.retainFrom.
  #retainFrom(): number {
    return Math.min(this.#snapshots.activeSize() ?? Infinity, this.#d.store.tree().size)
  }

  /** See {@link EntryLog.sequenced}. */
  async sequenced(indexes: number[]): Promise<SequencedResult> {
    const wanted = indexes.filter((i) => Number.isSafeInteger(i) && i >= 0)
    const failure = await this.#whenSequenced(Math.max(-1, ...wanted))
    if (failure) return { ok: false, code: failure.code as 'log_unavailable' | 'not_configured', message: failure.message }
    const tree = this.#d.store.tree()
    const note = tree.note ?? (await this.#sign(tree))
    const fresh = this.#fresh?.size === tree.size ? this.#fresh.tiles : undefined
    const receipts = await receiptsFor(tree.size, note, wanted, objectTileFetcher(this.#d.objects, this.#tiles, fresh))
    return { ok: true, size: tree.size, note, receipts }
  }

  /** The latest signed checkpoint (signing the committed tree if a crash left it unsigned). */
  async checkpointNote(): Promise<string> {
    const tree = this.#d.store.tree()
    return tree.note ?? this.#sign(tree)
  }

  /** Entries `from` .. `from + limit` (those that exist), read back from the published bundles and the pool. */
  async entries(from: number, limit: number): Promise<IndexedEntry[]> {
    const { store, objects } = this.#d
    const tree = store.tree()
    const end = Math.min(store.nextIndex(), from + limit)
    const out: IndexedEntry[] = []
    for (let b = Math.floor(from / TILE_WIDTH); b * TILE_WIDTH < Math.min(end, tree.size); b++) {
      const width = Math.min(TILE_WIDTH, tree.size - b * TILE_WIDTH)
      const data = await objects.get(entriesPath(b, width))
      if (!data) throw new Error(`entry bundle ${entriesPath(b, width)} is missing from the object store`)
      decodeBundle(data, width).forEach((bytes, i) => {
        const index = b * TILE_WIDTH + i
        if (index >= from && index < end) out.push({ index, entry: decodeEntry(bytes) })
      })
    }
    for (const p of store.pool(Math.max(from, tree.size), end - Math.max(from, tree.size))) out.push({ index: p.index, entry: decodeEntry(p.entry) })
    return out
  }

  /**
   * App `id`'s app-register entry (its bytes, base64) with its receipt against the latest
   * checkpoint: what ties the app's id to the number its binding entries carry.
   */
  async appRegistration(id: string): Promise<{ index: number; entry: string; receipt: string } | Refusal> {
    const app = this.app(id)
    if (!app) return refuse('app_not_found', `no app ${id} is registered in the log`)
    const result = await this.sequenced([app.registeredIndex])
    if (!result.ok) return refuse(result.code, result.message)
    const entry = encodeEntry({ kind: 'app-register', app: app.num, time: seconds(app.createdAt), id: app.id })
    return { index: app.registeredIndex, entry: toBase64(entry), receipt: result.receipts[0]! }
  }

  // ---- snapshots --------------------------------------------------------------------------

  /** Writes a snapshot of the log at its current size (once sequenced); null if one exists at that size. */
  snapshot(): Promise<SnapshotResult> {
    return this.#snapshots.run()
  }

  /** The snapshot sizes kept, newest first. */
  snapshotSizes(): number[] {
    return this.#snapshots.sizes()
  }

  // ---- time -------------------------------------------------------------------------------

  /** The alarm: retries what failed (a round, a revocation, a snapshot). */
  async tick(): Promise<void> {
    const { store } = this.#d
    if (store.nextIndex() > store.tree().size || !store.tree().note) {
      const failure = await this.#whenSequenced(store.nextIndex() - 1)
      if (failure) return
    }
    for (const app of this.#apps.values()) {
      if (app.status === 'revoking') await this.#revoke(app.num).catch((err: unknown) => this.#retryLater('revocation_failed', err))
    }
    await this.#snapshots.resume().catch((err) => this.#retryLater('snapshot_failed', err))
  }

  #retryLater(event: string, err: unknown): void {
    this.#d.log.error(event, { error: String(err), retryInMs: RETRY_MS })
    void this.#d.timers.wakeAt(this.#d.clock() + RETRY_MS).catch(() => {})
  }

  // ---- rounds -----------------------------------------------------------------------------

  // Appends one of the sequencer's own entries (app entries), after the fold's app rules. Call inside a transaction.
  #appendOwn(entry: LogEntry): number {
    const { store } = this.#d
    const index = store.nextIndex()
    const ledger = this.#ledger()
    checkAppRules(ledger, entry, index)
    store.pushPool(index, encodeEntry(entry))
    this.#kick()
    return index
  }

  // The registry as the fold sees it (a revoking app is not revoked yet).
  #ledger(): Map<number, StateApp> {
    const out = new Map<number, StateApp>()
    for (const a of this.#apps.values()) out.set(a.num, { num: a.num, id: a.id, revoked: a.status === 'revoked', bindings: a.bindings })
    return out
  }

  // Resolves once entry `index` is in a signed checkpoint (null), or why it is not yet.
  #whenSequenced(index: number): Promise<Refusal | null> {
    const tree = this.#d.store.tree()
    if (index < 0 || (tree.size > index && tree.note)) return Promise.resolve(null)
    return new Promise((resolve) => {
      this.#waiters.push({ index, resolve })
      this.#kick()
    })
  }

  // Schedules a round: at once when the last one started at least roundMs ago, else when it has.
  #kick(): void {
    if (this.#rounding || this.#roundTimer !== null) return
    let roundMs = 1000
    try {
      roundMs = this.#d.config().roundMs
    } catch {
      // A configuration error surfaces in the round itself, as not_configured to the waiters.
    }
    const delay = Math.max(0, this.#lastRoundStart + roundMs - this.#d.clock())
    this.#roundTimer = this.#d.timers.after(delay, () => {
      this.#roundTimer = null
      void this.#runRound()
    })
  }

  async #runRound(): Promise<void> {
    this.#rounding = true
    this.#lastRoundStart = this.#d.clock()
    try {
      const size = await this.#round()
      this.#settle((w) => w.index < size, null)
      this.#snapshots.maybeStart(size)
    } catch (err) {
      const failure = err instanceof ConfigError ? refuse('not_configured', err.message) : logUnavailable()
      this.#d.log.error('sequencing_failed', { error: String(err), retryInMs: RETRY_MS })
      this.#settle(() => true, failure)
      this.#fresh = null
      await this.#d.timers.wakeAt(this.#d.clock() + RETRY_MS).catch(() => {})
    } finally {
      this.#rounding = false
      const tree = this.#d.store.tree()
      if (this.#waiters.length > 0 || this.#d.store.nextIndex() > tree.size) this.#kick()
    }
  }

  #settle(which: (w: Waiter) => boolean, failure: Refusal | null): void {
    const done = this.#waiters.filter(which)
    this.#waiters = this.#waiters.filter((w) => !which(w))
    for (const w of done) w.resolve(failure)
  }

  // One round (see the module comment); returns the signed tree size.
  async #round(): Promise<number> {
    const { store, objects } = this.#d
    const start = store.tree()
    const pool = store.pool(start.size, MAX_ROUND_ENTRIES)
    if (pool.length === 0) {
      if (!start.note && start.size > 0) await this.#sign(start)
      return start.size
    }
    pool.forEach((p, i) => {
      if (p.index !== start.size + i) throw new Error(`entry ${start.size + i} is missing from the pool`)
    })
    const plan = planRound(start, pool.map((p) => p.entry))
    for (let i = 0; i < plan.objects.length; i += 16) {
      await Promise.all(plan.objects.slice(i, i + 16).map((o) => objects.put(o.key, o.data)))
    }
    store.transaction(() => store.commitTree(start.size, plan.next))
    this.#fresh = { size: plan.next.size, tiles: plan.tiles }
    await this.#sign(plan.next)
    this.#d.log.info('round', { from: start.size, to: plan.next.size, objects: plan.objects.length })
    return plan.next.size
  }

  // Signs a committed tree, stores the note, then publishes it. A failed publish is not fatal:
  // the edge falls back to the stored note, and the next round publishes again.
  async #sign(tree: TreeState): Promise<string> {
    const { origin } = this.#d.config()
    const note = await signCheckpoint({ origin, size: tree.size, rootHash: tree.size === 0 ? EMPTY_ROOT : tree.root, extensions: [] }, await this.#d.signer())
    this.#d.store.setNote(tree.size, note)
    try {
      await this.#d.objects.put(CHECKPOINT_KEY, note)
    } catch (err) {
      this.#d.log.warn('checkpoint_publish_failed', { size: tree.size, error: String(err) })
    }
    return note
  }
}

/** Object key of the latest signed checkpoint. */
export const CHECKPOINT_KEY = 'checkpoint'

/** Whole seconds of an epoch-ms time (log entries carry seconds). */
export function seconds(ms: number): number {
  return Math.floor(ms / 1000)
}

export { FoldError }
