/**
 * A binding shard: the current bindings of the subjects it owns ({@link shardOf}), and every
 * change to them. Commands (a verification's add or renew, a removal by an app or a holder, a
 * reassigned number, expiry, an app's revocation) become log entries here, checked against the
 * subject's record with the fold's own record rules ({@link nextRecord}) before anything is
 * written: the directory cannot write what a mirror would refuse.
 *
 * Commands that arrive together are planned together and sent to the sequencer as one batch
 * (one batch in flight per shard, so each plan starts from committed state). A batch's life:
 * 1. plan every command against the records, as changed by the commands before it;
 * 2. store the batch as the shard's intent, then send its entries to the sequencer;
 * 3. with their indexes back, commit the changes in one transaction and drop the intent.
 * A restart between 2 and 3 finds the intent and sends the batch again: the sequencer answers a
 * repeated batch as it did the first time, so nothing is lost or applied twice. The commands
 * then wait, outside the batch, until their entries are in a signed checkpoint and their
 * subjects' projections are written.
 * @module
 */
import { fromBase64 } from '../protocol/bytes.ts'
import { signCredential } from '../protocol/credential.ts'
import { decodeEntry, encodeEntry, type RemoveReason, type Subject } from '../protocol/entry.ts'
import type { NoteSigner } from '../protocol/note.ts'
import { expiresAt, nextRecord, type BindingEntry } from '../protocol/state.ts'
import { sha256 } from '@noble/hashes/sha2.js'
import type { AppendRefusal, AppendResult, Clock, EntryLog, Intent, IntentChange, Logger, ProjectedBinding, ProjectionSink, ShardStore, StoredBinding, SubjectRecord, Timers } from './ports.ts'
import { ConfigError, isRefusal, logUnavailable, refuse, type Refusal } from './refusals.ts'

/** What a shard runs on. */
export interface ShardDeps {
  id: number
  store: ShardStore
  log: EntryLog
  projection: ProjectionSink
  signer(): Promise<NoteSigner>
  origin(): string
  clock: Clock
  timers: Timers
  logger: Logger
}

/** A verification to record: the proven number, the app and its key. */
export interface BindCommand {
  subject: Subject
  /** The number in E.164, for the credential; never stored. */
  phone: string
  app: number
  appId: string
  publicKey: string | null
  /** The verification (challenge) id: a repeated check records nothing new. */
  verificationId: string
  /** Epoch ms. */
  now: number
  ttlDays: number
}

/** A binding as commands answer it (times in epoch ms). */
export interface Binding {
  phone: string
  app: string
  verifiedAt: number
  expiresAt: number
  publicKey: string | null
  index: number
}

/** A recorded verification: its binding, entry index, credential and receipt. */
export type BindOutcome = { ok: true; op: 'add' | 'renew'; binding: Binding; index: number; credential: string; receipt: string } | Refusal

/** What a change did. */
export type ChangeOp = 'add' | 'renew' | 'remove' | 'expire'

/** One log entry of a subject, as its holder sees it (`at` in epoch ms). */
export interface Change {
  index: number
  op: ChangeOp
  app: string
  at: number
  reason: RemoveReason | null
}

/** Most changes one batch sends. */
export const MAX_BATCH_CHANGES = 512
/** How long the shard remembers a verification (a retried check within it gets the same answer). */
export const VERIFICATION_RETAIN_MS = 24 * 3_600_000
const PROJECTION_BATCH = 512
const PROJECTION_PARALLEL = 64
const RETRY_MS = 5_000
const SEQ_KEY = 'seq'
const RETAIN_KEY = 'retainFrom'
const SWEEP_KEY = 'sweep'
const APP_KEY = 'app:'

// What planning a command gave: changes to send, an answer needing no entry (now or later),
// or "plan again in the next batch" (it depends on a change of this batch).
type Planned =
  | { changes: PlannedChange[]; finish(indexes: number[]): Promise<unknown> }
  | { result: unknown }
  | { later: Promise<unknown> }
  | { again: true }
type PlannedChange = IntentChange & { subject: Subject }

interface Work {
  plan(overlay: Overlay): Planned
  resolve(value: unknown): void
}

/** Records as changed by the changes planned so far in a batch. */
class Overlay {
  readonly records = new Map<Subject, StoredBinding[]>()
  readonly verifications = new Set<string>()
  constructor(private readonly store: ShardStore) {}
  record(subject: Subject): StoredBinding[] {
    return this.records.get(subject) ?? this.store.record(subject)
  }
}

/** See the module comment. One instance per shard, in one thread. */
export class BindingShard {
  readonly #d: ShardDeps
  #queue: Work[] = []
  #running = false
  #recovering: Promise<void> | null = null
  #batch: Promise<void> | null = null
  // Projection: one drain at a time; waiters wait for their own index.
  #projecting: Promise<void> | null = null
  #projectAgain = false
  #projectedThrough = -1
  #projectionWaiters: { index: number; resolve: () => void }[] = []
  #sequencedSize = 0

  constructor(deps: ShardDeps) {
    this.#d = deps
  }

  // ---- commands ---------------------------------------------------------------------------

  /** Records the verifications' bindings (adds or renews) and answers once each is sequenced, with a credential and a receipt. */
  bind(cmds: BindCommand[]): Promise<BindOutcome[]> {
    for (const cmd of cmds) this.#rememberApp(cmd.app, cmd.appId)
    return Promise.all(cmds.map((cmd) => this.#submit<BindOutcome>((resolve) => ({ resolve, plan: (overlay) => this.#planBind(cmd, overlay) }))))
  }

  /** Removes the binding of `subject` to app `appId` on behalf of its app or its holder. */
  unbind(subject: Subject, appId: string, reason: 'app' | 'holder', now: number): Promise<{ ok: true; index: number } | Refusal> {
    return this.#submit((resolve) => ({
      resolve,
      plan: (overlay) => {
        const app = this.#appNum(appId)
        const binding = app === null ? undefined : overlay.record(subject).find((b) => b.app === app)
        if (app === null || !binding) return { result: refuse('binding_not_found', `this number is not bound to ${appId}`) }
        const change = this.#change(overlay, subject, { kind: 'remove', subject, app, time: seconds(now), reason }, now)
        return { changes: [change], finish: ([index]) => this.#settled([index!], () => ({ ok: true, index: index! })) }
      },
    }))
  }

  /** Removes every binding of `subject` verified before `disconnectedAt` (epoch ms): the number was reassigned. */
  reassign(subject: Subject, disconnectedAt: number, now: number): Promise<{ ok: true; removed: number } | Refusal> {
    return this.#submit((resolve) => ({
      resolve,
      plan: (overlay) => {
        const stale = overlay.record(subject).filter((b) => b.verifiedAt * 1000 < disconnectedAt)
        if (stale.length === 0) return { result: { ok: true, removed: 0 } }
        const changes = stale.map((b) => this.#change(overlay, subject, { kind: 'remove', subject, app: b.app, time: seconds(now), reason: 'reassigned' }, now))
        return { changes, finish: (indexes) => this.#settled(indexes, () => ({ ok: true, removed: indexes.length })) }
      },
    }))
  }

  /** Expires up to `limit` bindings due at `now` (epoch ms); `more` while others are due. */
  expire(now: number, limit = 500): Promise<{ ok: true; expired: number; more: boolean } | Refusal> {
    this.#d.store.pruneVerifications(now - VERIFICATION_RETAIN_MS)
    return this.#submit((resolve) => ({
      resolve,
      plan: (overlay) => {
        const due = this.#d.store.due(seconds(now), limit).filter(({ subject, binding }) => overlay.record(subject).some((b) => b.app === binding.app && b.index === binding.index))
        if (due.length === 0) return { result: { ok: true, expired: 0, more: false } }
        const changes = due.map(({ subject, binding }) => this.#change(overlay, subject, { kind: 'expire', subject, app: binding.app, time: seconds(now) }, now))
        return { changes, finish: (indexes) => this.#settled(indexes, () => ({ ok: true, expired: indexes.length, more: due.length === limit })) }
      },
    }))
  }

  /**
   * The expiry sweep: expires everything due at `now` in batches of `limit`. The sweep is
   * recorded first, so an interrupted one is finished by the alarm ({@link tick}).
   */
  async sweep(now: number, limit = 500): Promise<{ ok: true; expired: number } | Refusal> {
    this.#d.store.setMeta(SWEEP_KEY, String(now))
    void this.#d.timers.wakeAt(this.#d.clock() + RETRY_MS).catch(() => {})
    let expired = 0
    for (;;) {
      const r = await this.expire(now, limit)
      if (isRefusal(r)) return r
      expired += r.expired
      if (!r.more) break
    }
    this.#d.store.setMeta(SWEEP_KEY, null)
    return { ok: true, expired }
  }

  /** Removes up to `limit` bindings of app `app` (it is being revoked); `more` while some remain. */
  removeApp(app: number, limit: number, now = this.#d.clock()): Promise<{ ok: true; removed: number; more: boolean } | Refusal> {
    return this.#submit((resolve) => ({
      resolve,
      plan: (overlay) => {
        const held = this.#d.store.ofApp(app, limit).filter(({ subject, binding }) => overlay.record(subject).some((b) => b.app === binding.app))
        if (held.length === 0) return { result: { ok: true, removed: 0, more: false } }
        const changes = held.map(({ subject }) => this.#change(overlay, subject, { kind: 'remove', subject, app, time: seconds(now), reason: 'app_revoked' }, now))
        return { changes, finish: (indexes) => this.#settled(indexes, () => ({ ok: true, removed: indexes.length, more: held.length === limit })) }
      },
    }))
  }

  // ---- reads ------------------------------------------------------------------------------

  /** The current bindings of `subject`, by app id (authoritative: the projection may lag). */
  bindingsOf(subject: Subject, phone: string): Binding[] {
    return this.#d.store
      .record(subject)
      .map((b) => this.#view(phone, b))
      .sort((a, b) => (a.app < b.app ? -1 : a.app > b.app ? 1 : 0))
  }

  /** `subject`'s log entries, newest first, at most `limit`. */
  history(subject: Subject, limit: number): Change[] {
    return this.#d.store.history(subject, limit).map(({ index, entry }) => ({
      index,
      op: entry.kind as ChangeOp,
      app: this.#appId(entry.app),
      at: entry.time * 1000,
      reason: entry.kind === 'remove' ? entry.reason : null,
    }))
  }

  /** Records as of tree size `size` (for snapshots), once every change this shard sent below it is committed. */
  async recordsAsOf(size: number, after: Subject | null, limit: number): Promise<SubjectRecord[]> {
    await this.#settledBatches()
    return this.#d.store.recordsAsOf(size, after, limit)
  }

  /** Bindings as of tree size `size` by log index (for snapshots), as {@link recordsAsOf}. */
  async bindingsByIndexAsOf(size: number, after: number, limit: number): Promise<StoredBinding[]> {
    await this.#settledBatches()
    return this.#d.store.bindingsByIndexAsOf(size, after, limit)
  }

  /** Subjects whose projection is not yet written (0 in a healthy shard). */
  pendingProjections(): number {
    return this.#d.store.pendingCount()
  }

  /** The alarm: finishes an interrupted batch and writes projections that failed. */
  async tick(): Promise<void> {
    await this.#recover()
    const sweep = this.#d.store.meta(SWEEP_KEY)
    if (sweep !== null) await this.sweep(Number(sweep))
    const marks = this.#d.store.pending(Number.MAX_SAFE_INTEGER, 1)
    if (marks.length > 0) {
      const result = await this.#d.log.sequenced([marks[0]!.index])
      if (result.ok) {
        this.#sequencedSize = Math.max(this.#sequencedSize, result.size)
        await this.#project()
      }
    }
  }

  // ---- batches ----------------------------------------------------------------------------

  #submit<T>(make: (resolve: (value: T) => void) => Work): Promise<T> {
    return new Promise<T>((resolve) => {
      this.#queue.push(make(resolve))
      void this.#run()
    })
  }

  async #run(): Promise<void> {
    if (this.#running) return
    this.#running = true
    try {
      while (this.#queue.length > 0) {
        const batch = this.#batch = this.#runBatch(this.#queue.splice(0))
        await batch
      }
    } finally {
      this.#batch = null
      this.#running = false
    }
  }

  // Waits until no batch is between its send and its commit.
  async #settledBatches(): Promise<void> {
    await this.#recover()
    while (this.#batch) await this.#batch.catch(() => {})
  }

  async #runBatch(works: Work[]): Promise<void> {
    try {
      await this.#recover()
    } catch (err) {
      this.#d.logger.error('shard_recovery_failed', { shard: this.#d.id, error: String(err), retryInMs: RETRY_MS })
      void this.#d.timers.wakeAt(this.#d.clock() + RETRY_MS).catch(() => {})
      for (const w of works) w.resolve(logUnavailable())
      return
    }
    const overlay = new Overlay(this.#d.store)
    const planned: { work: Work; changes: PlannedChange[]; finish: (indexes: number[]) => Promise<unknown> }[] = []
    let count = 0
    for (const work of works) {
      if (count >= MAX_BATCH_CHANGES) {
        this.#queue.push(work)
        continue
      }
      let plan: Planned
      try {
        plan = work.plan(overlay)
      } catch (err) {
        this.#d.logger.error('plan_failed', { shard: this.#d.id, error: String(err) })
        work.resolve(logUnavailable())
        continue
      }
      if ('again' in plan) {
        this.#queue.push(work)
        continue
      }
      if ('result' in plan) {
        work.resolve(plan.result)
        continue
      }
      if ('later' in plan) {
        plan.later.then(work.resolve, (err: unknown) => work.resolve(this.#failure(err)))
        continue
      }
      planned.push({ work, changes: plan.changes, finish: plan.finish })
      count += plan.changes.length
    }
    if (planned.length === 0) return
    const changes = planned.flatMap((p) => p.changes)
    const { store } = this.#d
    const seq = Number(store.meta(SEQ_KEY) ?? 0) + 1
    const intent: Intent = { seq, changes: changes.map(({ entry, publicKey, verificationId, at }) => ({ entry, publicKey, verificationId, at })) }
    try {
      store.transaction(() => {
        store.setMeta(SEQ_KEY, String(seq))
        store.setIntent(intent)
      })
    } catch (err) {
      // Nothing is recorded: the commands may be sent again as they are. (Uncaught, it left them unanswered.)
      this.#d.logger.error('intent_failed', { shard: this.#d.id, error: String(err) })
      for (const p of planned) p.work.resolve(logUnavailable())
      return
    }
    let results: AppendResult[]
    try {
      results = await this.#send(intent)
    } catch (err) {
      // The intent stays: the next batch (or the alarm) sends it again and commits what it gets.
      this.#d.logger.error('append_failed', { shard: this.#d.id, error: String(err), retryInMs: RETRY_MS })
      void this.#d.timers.wakeAt(this.#d.clock() + RETRY_MS).catch(() => {})
      for (const p of planned) p.work.resolve(logUnavailable())
      return
    }
    let at = 0
    for (const p of planned) {
      const mine = results.slice(at, at + p.changes.length)
      at += p.changes.length
      const refused = mine.find((r) => 'refused' in r) as { refused: AppendRefusal } | undefined
      if (!refused) {
        const indexes = mine.map((r) => (r as { index: number }).index)
        void p.finish(indexes).then(p.work.resolve, (err: unknown) => p.work.resolve(this.#failure(err)))
      } else if (refused.refused === 'depends_on_refused') {
        this.#queue.push(p.work)
      } else {
        p.work.resolve(refused.refused === 'app_revoked' ? refuse('app_revoked', 'this app has been revoked') : refuse('app_not_found', 'this app is not registered'))
      }
    }
  }

  // The refusal for a command that failed after its change was recorded.
  #failure(err: unknown): Refusal {
    if (err instanceof ConfigError) return refuse('not_configured', err.message)
    this.#d.logger.error('command_failed', { shard: this.#d.id, error: String(err) })
    return logUnavailable()
  }

  // Sends an intent and commits what the sequencer accepted; the intent is cleared in the same transaction.
  async #send(intent: Intent): Promise<AppendResult[]> {
    const appended = await this.#d.log.append(this.#d.id, intent.seq, intent.changes.map((c) => c.entry))
    const { store } = this.#d
    store.transaction(() => {
      intent.changes.forEach((change, i) => {
        const r = appended.results[i]!
        if ('index' in r) this.#commit(change, r.index)
      })
      store.setIntent(null)
      store.setMeta(RETAIN_KEY, String(appended.retainFrom))
    })
    this.#d.store.prune(appended.retainFrom, 1000)
    return appended.results
  }

  // Finishes a batch a restart interrupted (see the module comment).
  #recover(): Promise<void> {
    if (!this.#recovering) {
      this.#recovering = (async () => {
        const intent = this.#d.store.intent()
        if (intent) await this.#send(intent)
      })().finally(() => (this.#recovering = null))
    }
    return this.#recovering
  }

  // Records one accepted change at its log index. Call inside a transaction.
  #commit(change: IntentChange, index: number): void {
    const { store } = this.#d
    const entry = decodeEntry(change.entry) as BindingEntry
    const subject = entry.subject
    if (entry.kind === 'add' || entry.kind === 'renew') {
      const binding: StoredBinding = {
        app: entry.app,
        index,
        verifiedAt: entry.time,
        ttlDays: entry.ttlDays,
        publicKey: change.publicKey,
        renewed: entry.kind === 'renew',
      }
      if (entry.keyFingerprint) binding.keyFingerprint = entry.keyFingerprint
      store.putBinding(subject, binding)
      if (change.verificationId) store.putVerification(change.verificationId, index, change.at)
    } else {
      store.removeBinding(subject, entry.app, index)
    }
    store.addHistory(subject, index, change.entry)
    store.markPending(subject, index)
  }

  // Plans one change: checks it with the fold's record rules against the overlay, then applies it there.
  #change(overlay: Overlay, subject: Subject, entry: BindingEntry, at: number, extra: { publicKey?: string | null; verificationId?: string } = {}): PlannedChange {
    const current = overlay.record(subject)
    // A placeholder index: the rules do not depend on it, and the real one comes from the sequencer.
    const next = nextRecord(current, entry, -1)
    // The fold keeps the bindings it does not touch (the same objects) and makes the new one.
    overlay.records.set(
      subject,
      next.map((b) => (current.includes(b as StoredBinding) ? (b as StoredBinding) : { ...b, publicKey: extra.publicKey ?? null, renewed: entry.kind === 'renew' })),
    )
    return { subject, entry: encodeEntry(entry), publicKey: extra.publicKey ?? null, verificationId: extra.verificationId ?? null, at }
  }

  // Waits until `indexes` are signed and their subjects projected, then builds the answer.
  async #settled<T>(indexes: number[], answer: (receipts: string[], note: string) => T | Promise<T>): Promise<T | Refusal> {
    const result = await this.#d.log.sequenced(indexes)
    if (!result.ok) return result.code === 'not_configured' ? refuse('not_configured', result.message) : logUnavailable()
    this.#sequencedSize = Math.max(this.#sequencedSize, result.size)
    await this.#projected(Math.max(...indexes))
    return answer(result.receipts, result.note)
  }

  // ---- the projection ----------------------------------------------------------------------

  // Resolves once every change up to `index` is in the projection (or the drain failed and the alarm retries).
  #projected(index: number): Promise<void> {
    if (index <= this.#projectedThrough) return Promise.resolve()
    return new Promise((resolve) => {
      this.#projectionWaiters.push({ index, resolve })
      void this.#project()
    })
  }

  /**
   * Writes the projections of sequenced changes. One drain at a time (the projection is
   * last-write-wins, so two interleaved writers could leave an older state behind); a caller
   * arriving mid-drain gets another pass.
   */
  #project(): Promise<void> {
    this.#projectAgain = true
    if (!this.#projecting) {
      this.#projecting = (async () => {
        try {
          while (this.#projectAgain) {
            this.#projectAgain = false
            await this.#drain()
          }
        } catch (err) {
          this.#d.logger.error('projection_failed', { shard: this.#d.id, error: String(err), retryInMs: RETRY_MS })
          await this.#d.timers.wakeAt(this.#d.clock() + RETRY_MS).catch(() => {})
          // The changes are committed and logged; their projection follows from the alarm.
          this.#settleProjection(Infinity)
        } finally {
          this.#projecting = null
        }
      })()
    }
    return this.#projecting
  }

  #settleProjection(through: number): void {
    if (through !== Infinity) this.#projectedThrough = Math.max(this.#projectedThrough, through)
    const done = this.#projectionWaiters.filter((w) => w.index <= through)
    this.#projectionWaiters = this.#projectionWaiters.filter((w) => w.index > through)
    for (const w of done) w.resolve()
  }

  async #drain(): Promise<void> {
    const { store, projection } = this.#d
    for (;;) {
      // Only sequenced changes are projected: a lookup never shows a binding the log cannot prove.
      const size = this.#sequencedSize
      const pending = store.pending(size, PROJECTION_BATCH)
      if (pending.length === 0) {
        this.#settleProjection(size - 1)
        return
      }
      // Each value is read in the same synchronous step as the marks, so it covers every change up to its mark.
      const values = pending.map(({ subject }) => ({ subject, bindings: store.record(subject).map((b) => projectedBinding(subject, b, this.#appId(b.app))) }))
      const now = this.#d.clock()
      for (let i = 0; i < values.length; i += PROJECTION_PARALLEL) {
        await Promise.all(values.slice(i, i + PROJECTION_PARALLEL).map((v) => projection.put(v.subject, v.bindings, now)))
      }
      // Marks are taken in index order, one a subject, so one range delete clears the batch; a
      // change that landed meanwhile moved its subject's mark past every index read here.
      const last = pending[pending.length - 1]!.index
      store.clearPending(last)
      this.#settleProjection(pending.length < PROJECTION_BATCH ? size - 1 : last)
      if (pending.length < PROJECTION_BATCH) return
    }
  }

  // ---- apps ---------------------------------------------------------------------------------

  #appId(num: number): string {
    return this.#d.store.meta(APP_KEY + num) ?? `#${num}`
  }

  #appNum(id: string): number | null {
    const num = this.#d.store.meta(`${APP_KEY}id:${id}`)
    return num === null ? null : Number(num)
  }

  #rememberApp(num: number, id: string): void {
    if (this.#d.store.meta(APP_KEY + num) === id) return
    this.#d.store.transaction(() => {
      this.#d.store.setMeta(APP_KEY + num, id)
      this.#d.store.setMeta(`${APP_KEY}id:${id}`, String(num))
    })
  }

  #view(phone: string, b: StoredBinding): Binding {
    return { phone, app: this.#appId(b.app), verifiedAt: b.verifiedAt * 1000, expiresAt: expiresAt(b) * 1000, publicKey: b.publicKey, index: b.index }
  }

  // ---- verifications ------------------------------------------------------------------------

  // Plans one verification: an add or a renew, or (checked again) what is true now.
  #planBind(cmd: BindCommand, overlay: Overlay): Planned {
    const recorded = this.#d.store.verification(cmd.verificationId)
    if (recorded !== null) return { later: this.#replay(cmd, recorded) }
    if (overlay.verifications.has(cmd.verificationId)) return { again: true }
    overlay.verifications.add(cmd.verificationId)
    const current = overlay.record(cmd.subject)
    const kind = current.some((b) => b.app === cmd.app) ? 'renew' : 'add'
    const entry: BindingEntry = { kind, subject: cmd.subject, app: cmd.app, time: seconds(cmd.now), ttlDays: cmd.ttlDays }
    if (cmd.publicKey) entry.keyFingerprint = sha256(fromBase64(cmd.publicKey))
    const change = this.#change(overlay, cmd.subject, entry, cmd.now, { publicKey: cmd.publicKey, verificationId: cmd.verificationId })
    return {
      changes: [change],
      finish: ([index]) =>
        this.#settled([index!], async ([receipt]) => {
          const binding = this.#d.store.record(cmd.subject).find((b) => b.app === cmd.app && b.index === index) ?? {
            app: cmd.app,
            index: index!,
            verifiedAt: entry.time,
            ttlDays: cmd.ttlDays,
            publicKey: cmd.publicKey,
            renewed: kind === 'renew',
          }
          return this.#bound(cmd, binding, receipt!)
        }),
    }
  }

  // A verification checked again: what is true now of the binding it made.
  async #replay(cmd: BindCommand, recorded: number): Promise<BindOutcome> {
    const binding = this.#d.store.record(cmd.subject).find((b) => b.app === cmd.app && b.index >= recorded)
    if (!binding) return refuse('binding_removed', 'the binding this code recorded has since been removed; start a new verification')
    const result = await this.#settled([binding.index], (receipts) => receipts)
    if (isRefusal(result)) return result
    return this.#bound(cmd, binding, result[0]!)
  }

  async #bound(cmd: BindCommand, b: StoredBinding, receipt: string): Promise<BindOutcome> {
    const credential = await signCredential(
      {
        origin: this.#d.origin(),
        phone: cmd.phone,
        app: cmd.appId,
        ...(b.publicKey ? { publicKey: b.publicKey } : {}),
        verifiedAt: b.verifiedAt,
        expiresAt: expiresAt(b),
        index: b.index,
        entry: bindingEntry(cmd.subject, b),
      },
      await this.#d.signer(),
    )
    return { ok: true, op: b.renewed ? 'renew' : 'add', binding: this.#view(cmd.phone, b), index: b.index, credential, receipt }
  }
}

/** A binding as the projection holds it. */
function projectedBinding(subject: Subject, b: StoredBinding, appId: string): ProjectedBinding {
  return { app: b.app, appId, verifiedAt: b.verifiedAt, expiresAt: expiresAt(b), index: b.index, entry: bindingEntry(subject, b) }
}

/** The add or renew entry that made binding `b` of `subject`, re-encoded exactly. */
export function bindingEntry(subject: Subject, b: StoredBinding): Uint8Array {
  const entry: BindingEntry = { kind: b.renewed ? 'renew' : 'add', subject, app: b.app, time: b.verifiedAt, ttlDays: b.ttlDays }
  if (b.keyFingerprint) entry.keyFingerprint = b.keyFingerprint
  return encodeEntry(entry)
}

/** Whole seconds of an epoch-ms time. */
function seconds(ms: number): number {
  return Math.floor(ms / 1000)
}

