/**
 * The ports the write path runs against. The core (this folder) holds every rule and every
 * protocol step; a port only stores or moves bytes. Production implements them with a Durable
 * Object's SQLite, R2 and KV (`src/adapters/`); `./memory/` implements them in memory, with
 * failures that tests inject on chosen calls.
 *
 * Each contract says what must be durable when, and what may be eventually consistent.
 * @module
 */
import type { LogEntry, Subject } from '../protocol/entry.ts'
import type { Hash } from '../protocol/merkle.ts'
import type { StateBinding } from '../protocol/state.ts'

/** Structured log lines (src/log.ts writes them as JSON). Never pass a raw phone number or code. */
export interface Logger {
  info(event: string, fields?: Record<string, unknown>): void
  warn(event: string, fields?: Record<string, unknown>): void
  error(event: string, fields?: Record<string, unknown>): void
}

/** Epoch milliseconds. Injected, so that tests and the core agree on time. */
export type Clock = () => number

/** Timers, injected so that tests can run rounds and retries by hand. */
export interface Timers {
  /** Calls `fn` after about `ms`; returns a handle for {@link cancel}. */
  after(ms: number, fn: () => void): unknown
  cancel(handle: unknown): void
  /** Asks the platform to call the owner's `tick()` at `at` even if the process restarts (an alarm). */
  wakeAt(at: number): Promise<void>
}

// ---- immutable objects ----------------------------------------------------------------------

/**
 * ObjectStore: the log's public objects (R2 in production): tiles, entry bundles, snapshots and
 * the latest checkpoint and snapshot manifest.
 *
 * - `put` resolves once the object is durable and visible to every later `get` (R2 is strongly
 *   consistent); a rejected `put` may or may not have stored the object.
 * - Tiles, bundles and snapshot data are written under keys that name their content, with
 *   deterministic bytes, so a retried `put` writes the same bytes and readers never see a key
 *   change. Only `checkpoint` and `snapshot/latest` are overwritten.
 * - Tiles and bundles are authoritative here: nothing else keeps a copy once a round commits.
 */
export interface ObjectStore {
  get(key: string): Promise<Uint8Array | null>
  put(key: string, data: Uint8Array | string): Promise<void>
  delete(keys: string[]): Promise<void>
  /** Starts a multipart upload of `key` (R2 multipart: parts of equal size but the last). */
  startUpload(key: string): Promise<string>
  /** Uploads part `part` (from 1) of upload `id`; resolves to its tag, once durable. */
  putPart(key: string, id: string, part: number, data: Uint8Array): Promise<string>
  /** Completes an upload: the object becomes visible, whole, under `key`. */
  completeUpload(key: string, id: string, parts: { part: number; tag: string }[]): Promise<void>
  abortUpload(key: string, id: string): Promise<void>
}

// ---- the sequencer's transactional store ---------------------------------------------------

/** An app as the registry keeps it. */
export interface AppRecord {
  num: number
  id: string
  name: string
  tokenHash: string
  createdAt: number
  /** `revoking`: its bindings are being removed; no new binding is accepted. */
  status: 'active' | 'revoking' | 'revoked'
  /** Bindings it holds in the log's state (what the fold counts for `app-revoke`). */
  bindings: number
  /** Log index of its `app-register` entry, and of its `app-revoke` entry once revoked. */
  registeredIndex: number
  revokedIndex: number | null
}

/** The committed tree: size, root and what the next round continues from. */
export interface TreeState {
  size: number
  root: Hash
  /** The signed checkpoint of this size; null between a commit and its signature. */
  note: string | null
  /** The right edge: the perfect subtree roots, left to right. */
  edge: Hash[]
  /** Per tile level, the hashes of its partial (last, not full) tile, concatenated. */
  partialTiles: Uint8Array[]
  /** The entries of the partial (last, not full) entry bundle. */
  partialBundle: Uint8Array[]
}

/** What the sequencer answered for one appended batch, kept so a retry gets the same answer. */
export interface SourceRecord {
  seq: number
  results: AppendResult[]
}

/** One appended entry's fate: its log index, or why it was refused. */
export type AppendResult = { index: number } | { refused: AppendRefusal }

/** Why the sequencer refused an entry: its app is not registered or no longer binds, or an earlier refused entry of the same batch changed the same binding. */
export type AppendRefusal = 'app_unknown' | 'app_revoked' | 'depends_on_refused'

/**
 * LogStore: the sequencer's state (the sequencer Durable Object's SQLite in production).
 *
 * - Every method is synchronous; {@link transaction} runs `fn` atomically: all of its writes are
 *   durable together when it returns, or none are when it throws. A caller's answer is sent
 *   only after the transaction that made it.
 * - Small by design, whatever the size of the log: the pool of entries not yet sequenced, the
 *   tree's right edge and partial tiles, the registry of at most 65,535 apps, one record per
 *   binding shard, and the snapshot jobs.
 */
export interface LogStore {
  transaction<T>(fn: () => T): T
  /** The committed tree (the empty tree before the first round). */
  tree(): TreeState
  /**
   * Commits a round: the new tree replaces the old one and the pool below `next.size` is dropped.
   * Refuses (throws {@link TreeMovedError}) unless the committed size is still `expectedSize`:
   * so no two rounds ever extend the same tree.
   */
  commitTree(expectedSize: number, next: TreeState): void
  /** Records the signature of the committed tree of `size` (ignored if the tree has moved). */
  setNote(size: number, note: string): void

  /** The next log index to assign (the log's size once everything pending is sequenced). */
  nextIndex(): number
  /** Appends entry `index` (= {@link nextIndex}) to the pool. */
  pushPool(index: number, entry: Uint8Array): void
  /** Pool entries with index ≥ `from`, in order, at most `limit`. */
  pool(from: number, limit: number): { index: number; entry: Uint8Array }[]

  apps(): AppRecord[]
  putApp(app: AppRecord): void

  source(source: number): SourceRecord | null
  putSource(source: number, record: SourceRecord): void

  /** A small value by key (jobs, settings); null when absent. */
  meta(key: string): string | null
  setMeta(key: string, value: string | null): void
}

/** Thrown by {@link LogStore.commitTree} when the tree moved since the round began. */
export class TreeMovedError extends Error {
  override readonly name = 'TreeMovedError'
}

// ---- the binding shards --------------------------------------------------------------------

/** A binding as a shard stores it: the fold's binding plus the public key itself. */
export interface StoredBinding extends StateBinding {
  /** The bound public key (base64url), whose SHA-256 is `keyFingerprint`; null when none. */
  publicKey: string | null
  /** Whether the entry that made it was a `renew` (else an `add`): with the fields above, it re-encodes that entry exactly. */
  renewed: boolean
}

/** One subject's record at a tree size: its bindings, sorted by app num. */
export interface SubjectRecord {
  subject: Subject
  bindings: StoredBinding[]
}

/** A log entry as the holder of its subject sees it. */
export interface HistoryItem {
  index: number
  entry: LogEntry
}

/** One change of a batch: its entry and what the shard records with it. */
export interface IntentChange {
  entry: Uint8Array
  /** The public key an add or renew binds (its entry holds only the fingerprint). */
  publicKey: string | null
  /** The verification an add or renew records. */
  verificationId: string | null
  /** Epoch ms of the command. */
  at: number
}

/** A batch of changes sent to the sequencer and not yet settled: what a restart must finish. */
export interface Intent {
  seq: number
  changes: IntentChange[]
}

/**
 * ShardStore: the current bindings of the subjects one shard owns (a binding-shard Durable
 * Object's SQLite in production), with what the shard needs around them.
 *
 * - Synchronous; {@link transaction} is atomic as in {@link LogStore}.
 * - Versioned: replacing or removing a binding keeps the old version readable by the `asOf`
 *   reads until {@link prune} drops it, so a snapshot read in pages over minutes sees exactly
 *   the state at its tree size while writes go on.
 */
export interface ShardStore {
  transaction<T>(fn: () => T): T
  /** The current bindings of `subject`, sorted by app num. */
  record(subject: Subject): StoredBinding[]
  /** Makes `binding` the current binding of (`subject`, `binding.app`) from log index `binding.index` on. */
  putBinding(subject: Subject, binding: StoredBinding): void
  /** Ends the current binding of (`subject`, `app`) at log index `index`. */
  removeBinding(subject: Subject, app: number, index: number): void
  /** Current bindings whose expiry (seconds) is at or before `nowSeconds`, soonest first, at most `limit`. */
  due(nowSeconds: number, limit: number): { subject: Subject; binding: StoredBinding }[]
  /** Current bindings of app `app`, at most `limit`. */
  ofApp(app: number, limit: number): { subject: Subject; binding: StoredBinding }[]
  /** Records as of tree size `size` with subject > `after` (null: from the first), by subject, at most `limit`. */
  recordsAsOf(size: number, after: Subject | null, limit: number): SubjectRecord[]
  /** Bindings as of tree size `size` with index > `after`, by index, at most `limit`. */
  bindingsByIndexAsOf(size: number, after: number, limit: number): StoredBinding[]
  /**
   * Drops versions that ended before log index `before`, at most `limit`; returns how many. The
   * sequencer says how far a shard may prune (see {@link Appended.retainFrom}).
   */
  prune(before: number, limit: number): number
  /** Counts of current subjects and bindings. */
  counts(): { subjects: number; bindings: number }

  /** Appends entry `index` (its bytes) to `subject`'s history (what its holder is shown). */
  addHistory(subject: Subject, index: number, entry: Uint8Array): void
  /** `subject`'s history, newest first, at most `limit`. */
  history(subject: Subject, limit: number): HistoryItem[]

  /** The entry index a verification recorded, or null. */
  verification(id: string): number | null
  putVerification(id: string, index: number, at: number): void
  /** Forgets verifications recorded before `before` (epoch ms). */
  pruneVerifications(before: number): void

  /** Marks `subject`'s projection stale as of entry `index`. */
  markPending(subject: Subject, index: number): void
  /** Stale subjects whose mark is below `size`, by mark, at most `limit`. */
  pending(size: number, limit: number): { subject: Subject; index: number }[]
  /** Clears the marks at or below `index`. */
  clearPending(index: number): void
  /** How many subjects are stale. */
  pendingCount(): number

  /** The batch in flight to the sequencer, if any. */
  intent(): Intent | null
  setIntent(intent: Intent | null): void

  meta(key: string): string | null
  setMeta(key: string, value: string | null): void
}

// ---- the lookup projection -----------------------------------------------------------------

/** A binding as lookups read it at the edge (times in seconds). */
export interface ProjectedBinding {
  app: number
  appId: string
  verifiedAt: number
  expiresAt: number
  /** Log index of the entry that added or last renewed it. */
  index: number
  /** That entry's bytes, so a lookup's receipt needs no bundle read. */
  entry: Uint8Array
}

/**
 * ProjectionSink: what lookups read at the edge (KV in production). Eventually consistent:
 * a write may take about a minute to be seen everywhere, and two writers of one key race, so
 * each subject is written by the one shard that owns it, one write at a time. Nothing is ever
 * read back from it as the truth.
 */
export interface ProjectionSink {
  /** Writes `subject`'s bindings (none: deletes it). */
  put(subject: Subject, bindings: ProjectedBinding[], now: number): Promise<void>
}

// ---- between the parts ---------------------------------------------------------------------

/** The sequencer as a shard reaches it (RPC in production). */
export interface EntryLog {
  /**
   * Appends entries from shard `source` as batch `seq` (one batch in flight per shard): each
   * gets its log index, in order, or a refusal. Idempotent: the same (source, seq) gets the same
   * answer. Resolves once the entries are durable in the pool, before they are sequenced.
   */
  append(source: number, seq: number, entries: Uint8Array[]): Promise<Appended>
  /**
   * Resolves once every index in `indexes` is in a signed checkpoint: the checkpoint and each
   * index's receipt (C2SP tlog-proof), or why the log cannot say yet.
   */
  sequenced(indexes: number[]): Promise<SequencedResult>
}

/** The answer to {@link EntryLog.append}. */
export interface Appended {
  results: AppendResult[]
  /**
   * Replaced bindings that ended at or after this log index must stay readable: a snapshot may
   * read the state as of any size from here on. The smallest size of a snapshot being written,
   * else the signed tree size, which every later snapshot's size is at least.
   */
  retainFrom: number
}

/** The answer to {@link EntryLog.sequenced}. */
export type SequencedResult =
  | { ok: true; size: number; note: string; receipts: string[] }
  | { ok: false; code: 'log_unavailable' | 'not_configured'; message: string }

/** The shards as the sequencer reaches them (RPC in production). */
export interface ShardClient {
  /** How many shards there are; subject s lives in shard {@link shardOf}(s, count). */
  readonly count: number
  /** Removes up to `limit` bindings of app `app` in shard `shard`; `more` while some remain. */
  removeApp(shard: number, app: number, limit: number): Promise<{ removed: number; more: boolean } | { code: string; message: string }>
  /** Records of shard `shard` as of tree size `size` (see {@link ShardStore.recordsAsOf}). */
  recordsAsOf(shard: number, size: number, after: Subject | null, limit: number): Promise<SubjectRecord[]>
  /** Bindings of shard `shard` as of `size`, by index (see {@link ShardStore.bindingsByIndexAsOf}). */
  bindingsByIndexAsOf(shard: number, size: number, after: number, limit: number): Promise<StoredBinding[]>
}

/** Where an app's token is published for the edge to authenticate it (KV in production). */
export interface TokenSink {
  put(tokenHash: string, app: { id: string; name: string; num: number }): Promise<void>
  delete(tokenHash: string): Promise<void>
}
