/**
 * Writing snapshots in bounded memory, in steps that survive restarts.
 *
 * A snapshot is the state at a signed tree size N, read from the shards in pages "as of N"
 * (shards keep replaced bindings readable until no snapshot may need them, see
 * {@link Appended.retainFrom}), while writes go on. The file is the format of
 * src/protocol/snapshot.ts byte for byte: its header, then eight columns each preceded by its
 * length. So the job first measures (one pass in subject order, one in log order, counting
 * bytes with the very encoders that write them), then writes the header and each column with
 * one pass of its own. Output goes through gzip and a multipart upload of equal parts; each
 * step's output is one gzip member (a gzip file may hold several, read as one stream), and
 * the SHA-256 the manifest names is kept as resumable state. After each step the job's state
 * is stored; a restart continues from the last step. The manifest is signed and published
 * only once the data object is complete.
 * @module
 */
import { concat, fromBase64, toBase64, utf8 } from '../protocol/bytes.ts'
import type { Subject } from '../protocol/entry.ts'
import { RightEdge } from '../protocol/merkle.ts'
import { signNote, type NoteSigner } from '../protocol/note.ts'
import { Sha256Stream, type Sha256State } from '../protocol/sha256.ts'
import { formatManifest, type SnapshotApp } from '../protocol/snapshot.ts'
import type { Appended, AppRecord, Clock, Logger, LogStore, ObjectStore, ShardClient } from './ports.ts'
import type { Refusal } from './refusals.ts'
import { COLUMNS, CountingSink, encodeRecord, encodeTime, finishColumn, freshEncoder, INDEX_COLUMN, varint, VERIFIED_COLUMN, type ByteSink, type EncoderState } from './snapshot-encoder.ts'
import { mergedBindingsByIndex, mergedRecords } from './shard-merge.ts'

/** Object keys of snapshots. */
export const LATEST_SNAPSHOT_KEY = 'snapshot/latest'
export const snapshotManifestKey = (size: number) => `snapshot/${size}/manifest`
export const snapshotDataKey = (size: number) => `snapshot/${size}/data`

/** Bytes of every multipart part but the last (R2 wants equal parts of at least 5 MiB). */
export const SNAPSHOT_PART_BYTES = 8 * 1024 * 1024
/** Records (or bindings) a step reads at most, measuring or writing. */
export const MEASURE_STEP = 200_000
/**
 * Steps a background job runs per invocation (a round's end or an alarm) before it asks to be
 * woken again: one step is a measuring page or one multipart part, so no invocation of the
 * Durable Object spends more than a step's CPU on a snapshot, whatever the state's size.
 */
export const BACKGROUND_STEPS = 1

const MAGIC = utf8('WHODIS-SNAPSHOT-1\n')
const JOB_KEY = 'snapshot:job'
const KEPT_KEY = 'snapshot:kept'
const CARRY_KEY = 'snapshot:carry'
const PENDING = Symbol('pending')

/** A written snapshot. */
export interface SnapshotInfo {
  size: number
  records: number
  bytes: number
}

/** The written snapshot, or null when one at this size already exists. */
export type SnapshotResult = SnapshotInfo | null

/** What the job runs on. */
export interface SnapshotJobDeps {
  store: LogStore
  objects: ObjectStore
  shards: ShardClient
  signer(): Promise<NoteSigner>
  config(): { origin: string; snapshotEveryEntries: number; snapshotsKept: number }
  clock: Clock
  log: Logger
  /** Resolves (null) once entry `index` is in a signed checkpoint. */
  sequenced(index: number): Promise<Refusal | null>
  apps(): AppRecord[]
  nextIndex(): number
  /** Bytes of every multipart part but the last. */
  partBytes: number
  /** Asks for another invocation soon (the sequencer's alarm) to continue a background job. */
  later(): void
}

// Everything a job needs to continue, as stored between steps.
interface JobState {
  size: number
  root: string
  edge: string[]
  apps: SnapshotApp[]
  /** 0: measure in subject order; 1: measure times; 2: write; 3: written, the manifest remains. */
  stage: 0 | 1 | 2 | 3
  /** In the write stage: -1 the header, then the column being written. */
  column: number
  /** The subject or log index the current pass resumes after. */
  afterSubject: Subject | null
  afterIndex: number
  encoders: EncoderState[]
  records: number
  bindings: number
  lengths: number[]
  upload: string | null
  parts: { part: number; tag: string }[]
  sha: Sha256State
  bytes: number
}

/** See the module comment. */
export class SnapshotJob {
  readonly #d: SnapshotJobDeps
  #running: Promise<unknown> | null = null
  /** Steps run by this instance (tests read it to see a job resumed). */
  steps = 0

  constructor(deps: SnapshotJobDeps) {
    this.#d = deps
  }

  /** The snapshots kept, newest first. */
  sizes(): number[] {
    return this.#kept().map((k) => k.size)
  }

  /** Writes a snapshot at the current log size (finishing an interrupted job first); null if that size has one. */
  async run(stepRecords = MEASURE_STEP): Promise<SnapshotResult> {
    return (await this.#exclusive(() => this.#run(stepRecords, Infinity))) as SnapshotResult
  }

  // One job at a time: a call waits for the one running.
  async #exclusive<T>(fn: () => Promise<T>): Promise<T> {
    while (this.#running) await this.#running.catch(() => {})
    const run = fn()
    this.#running = run
    try {
      return await run
    } finally {
      this.#running = null
    }
  }

  // Runs a background job's next BACKGROUND_STEPS steps, and asks to be woken for the rest.
  async #background(): Promise<void> {
    const result = await this.#exclusive(() => this.#run(MEASURE_STEP, BACKGROUND_STEPS))
    if (result === PENDING) this.#d.later()
  }

  /** The size of the snapshot being written, if any: shards keep what it reads (see {@link Appended.retainFrom}). */
  activeSize(): number | null {
    const text = this.#d.store.meta(JOB_KEY)
    return text ? (JSON.parse(text) as JobState).size : null
  }

  /** Continues an interrupted or unfinished job by its next steps, if there is one. */
  async resume(): Promise<void> {
    if (this.#running || !this.#d.store.meta(JOB_KEY)) return
    await this.#background()
  }

  /** Starts a job in the background when the log has grown by the configured number of entries. */
  maybeStart(size: number): void {
    if (this.#running) return
    const last = this.sizes()[0] ?? 0
    let every: number
    try {
      every = this.#d.config().snapshotEveryEntries
    } catch {
      return
    }
    if (size - last < every && !this.#d.store.meta(JOB_KEY)) return
    void this.#background().catch((err) => this.#d.log.error('snapshot_failed', { error: String(err) }))
  }

  // Runs up to `maxSteps` steps of the job (started if there is none): its result, or PENDING.
  async #run(stepRecords: number, maxSteps: number): Promise<SnapshotResult | typeof PENDING> {
    let job = this.#load()
    if (!job) {
      const failure = await this.#d.sequenced(this.#d.nextIndex() - 1)
      if (failure) throw new Error(failure.message)
      // Synchronous from here to the job's first save: the size, root and edge are one tree's.
      const tree = this.#d.store.tree()
      if (this.sizes().includes(tree.size)) return null
      job = this.#start(tree.size, tree.root, tree.edge)
    }
    for (let taken = 1; !(await this.#step(job, stepRecords)); taken++) {
      this.steps++
      if (taken >= maxSteps) return PENDING
    }
    this.steps++
    return this.#finish(job)
  }

  #start(size: number, root: Uint8Array, edge: Uint8Array[]): JobState {
    const apps = this.#d
      .apps()
      .filter((a) => a.registeredIndex < size)
      .map((a) => ({ num: a.num, id: a.id, revoked: a.revokedIndex !== null && a.revokedIndex < size }))
      .sort((a, b) => a.num - b.num)
    const job: JobState = {
      size,
      root: toBase64(root),
      edge: edge.map(toBase64),
      apps,
      stage: 0,
      column: -1,
      afterSubject: null,
      afterIndex: -1,
      encoders: COLUMNS.map(() => freshEncoder()),
      records: 0,
      bindings: 0,
      lengths: COLUMNS.map(() => 0),
      upload: null,
      parts: [],
      sha: new Sha256Stream().state(),
      bytes: 0,
    }
    this.#save(job, new Uint8Array(0))
    return job
  }

  // One step; true when the whole file is written.
  async #step(job: JobState, budget: number): Promise<boolean> {
    if (job.stage === 0) return this.#measureRecords(job, budget)
    if (job.stage === 1) return this.#measureTimes(job, budget)
    // Completed uploads cannot be completed again: a failure after the data is whole retries only the manifest.
    if (job.stage === 3) return true
    return this.#write(job, budget)
  }

  async #measureRecords(job: JobState, budget: number): Promise<boolean> {
    const counters = COLUMNS.map(() => new CountingSink())
    const source = mergedRecords(this.#d.shards, job.size, job.afterSubject)
    for (let n = 0; n < budget; n++) {
      const record = await source.next()
      if (!record) {
        finishColumn(INDEX_COLUMN, job.encoders[INDEX_COLUMN]!, job.size, counters[INDEX_COLUMN]!)
        this.#addCounts(job, counters)
        job.stage = 1
        job.encoders = COLUMNS.map(() => freshEncoder())
        this.#save(job)
        return false
      }
      for (let c = 0; c < COLUMNS.length; c++) if (c !== VERIFIED_COLUMN) encodeRecord(c, job.encoders[c]!, record, job.size, counters[c]!)
      job.records++
      job.bindings += record.bindings.length
      job.afterSubject = record.subject
    }
    this.#addCounts(job, counters)
    this.#save(job)
    return false
  }

  async #measureTimes(job: JobState, budget: number): Promise<boolean> {
    const counter = new CountingSink()
    const source = mergedBindingsByIndex(this.#d.shards, job.size, job.afterIndex)
    for (let n = 0; n < budget; n++) {
      const binding = await source.next()
      if (!binding) {
        job.lengths[VERIFIED_COLUMN]! += counter.count
        job.stage = 2
        job.column = -1
        job.afterIndex = -1
        job.afterSubject = null
        job.encoders = COLUMNS.map(() => freshEncoder())
        this.#save(job)
        return false
      }
      encodeTime(job.encoders[VERIFIED_COLUMN]!, binding, counter)
      job.afterIndex = binding.index
    }
    job.lengths[VERIFIED_COLUMN]! += counter.count
    this.#save(job)
    return false
  }

  #addCounts(job: JobState, counters: CountingSink[]): void {
    counters.forEach((c, i) => (job.lengths[i]! += c.count))
  }

  // Writes until a part has been uploaded, `budget` records (or bindings) are written, or the
  // file ends: a column that compresses well would otherwise take millions of records to a part.
  async #write(job: JobState, budget: number): Promise<boolean> {
    const out = new PartWriter(this.#d.objects, snapshotDataKey(job.size), job, this.#carry(), this.#d.partBytes)
    const startParts = job.parts.length
    const tally = { items: 0 }
    const enough = () => job.parts.length > startParts || tally.items >= budget
    let done = false
    while (!enough()) {
      if (job.column === -1) {
        this.#header(job, out)
        job.column = 0
        continue
      }
      if (job.column === COLUMNS.length) {
        done = true
        break
      }
      const c = job.column
      const state = job.encoders[c]!
      // The column's length, once, before its first byte.
      if (!state.opened) {
        varint(out, job.lengths[c]!)
        state.opened = true
      }
      const more = c === VERIFIED_COLUMN ? await this.#writeTimes(job, out, tally, enough) : await this.#writeRecords(job, c, out, tally, enough)
      if (!more) {
        finishColumn(c, state, job.size, out)
        job.column++
        job.afterSubject = null
        job.afterIndex = -1
      }
      await out.drain()
    }
    let carry: Uint8Array
    try {
      carry = await out.close(done)
    } catch (err) {
      // A completed upload cannot be completed again, and a crash between the completion and the
      // save below leaves a job that would try: the file is written again from its header, byte
      // for byte the same, in a new upload.
      if (done && job.upload !== null) this.#restartWrite(job)
      throw err
    }
    if (done) job.stage = 3
    this.#save(job, carry)
    return done
  }

  #restartWrite(job: JobState): void {
    Object.assign(job, { column: -1, afterSubject: null, afterIndex: -1, encoders: COLUMNS.map(() => freshEncoder()), upload: null, parts: [], sha: new Sha256Stream().state(), bytes: 0 })
    this.#save(job, new Uint8Array(0))
  }

  async #writeRecords(job: JobState, c: number, out: PartWriter, tally: { items: number }, enough: () => boolean): Promise<boolean> {
    const source = mergedRecords(this.#d.shards, job.size, job.afterSubject)
    for (;;) {
      const record = await source.next()
      if (!record) return false
      encodeRecord(c, job.encoders[c]!, record, job.size, out)
      job.afterSubject = record.subject
      tally.items++
      if (out.pending > 65_536) await out.drain()
      if (enough()) return true
    }
  }

  async #writeTimes(job: JobState, out: PartWriter, tally: { items: number }, enough: () => boolean): Promise<boolean> {
    const source = mergedBindingsByIndex(this.#d.shards, job.size, job.afterIndex)
    for (;;) {
      const binding = await source.next()
      if (!binding) return false
      encodeTime(job.encoders[VERIFIED_COLUMN]!, binding, out)
      job.afterIndex = binding.index
      tally.items++
      if (out.pending > 65_536) await out.drain()
      if (enough()) return true
    }
  }

  #header(job: JobState, out: ByteSink): void {
    out.bytes(MAGIC)
    varint(out, job.size)
    varint(out, job.edge.length)
    for (const h of job.edge) out.bytes(fromBase64(h))
    varint(out, job.apps.length)
    for (const app of job.apps) {
      varint(out, app.num)
      varint(out, app.revoked ? 1 : 0)
      const id = utf8(app.id)
      varint(out, id.length)
      out.bytes(id)
    }
    varint(out, job.records)
    varint(out, job.bindings)
  }

  async #finish(job: JobState): Promise<SnapshotInfo> {
    const { store, objects } = this.#d
    const config = this.#d.config()
    const edge = new RightEdge(job.size, job.edge.map(fromBase64))
    if (toBase64(edge.root()) !== job.root) throw new Error('snapshot right edge does not give the tree root')
    const manifest = await signNote(
      formatManifest({ origin: config.origin, treeSize: job.size, rootHash: fromBase64(job.root), records: job.records, bytes: job.bytes, sha256: Sha256Stream.from(job.sha).digest() }),
      await this.#d.signer(),
    )
    await objects.put(snapshotManifestKey(job.size), manifest)
    await objects.put(LATEST_SNAPSHOT_KEY, manifest)
    const kept = [{ size: job.size, records: job.records, bytes: job.bytes, at: this.#d.clock() }, ...this.#kept().filter((k) => k.size !== job.size)]
    const drop = kept.slice(config.snapshotsKept)
    store.transaction(() => {
      store.setMeta(KEPT_KEY, JSON.stringify(kept.slice(0, config.snapshotsKept)))
      store.setMeta(JOB_KEY, null)
      this.#clearCarry()
    })
    for (const k of drop) await objects.delete([snapshotDataKey(k.size), snapshotManifestKey(k.size)])
    this.#d.log.info('snapshot_written', { size: job.size, records: job.records, bytes: job.bytes })
    return { size: job.size, records: job.records, bytes: job.bytes }
  }

  #kept(): { size: number; records: number; bytes: number; at: number }[] {
    const text = this.#d.store.meta(KEPT_KEY)
    return text ? JSON.parse(text) : []
  }

  #load(): JobState | null {
    const text = this.#d.store.meta(JOB_KEY)
    return text ? (JSON.parse(text) as JobState) : null
  }

  // Stores the job and, when given, the bytes carried to the next part (in rows of 1 MiB).
  #save(job: JobState, carry?: Uint8Array): void {
    const { store } = this.#d
    store.transaction(() => {
      store.setMeta(JOB_KEY, JSON.stringify(job))
      if (carry) {
        this.#clearCarry()
        const chunks = Math.ceil(carry.length / CARRY_CHUNK)
        for (let i = 0; i < chunks; i++) store.setMeta(`${CARRY_KEY}:${i}`, toBase64(carry.subarray(i * CARRY_CHUNK, (i + 1) * CARRY_CHUNK)))
        store.setMeta(`${CARRY_KEY}:count`, String(chunks))
      }
    })
  }

  #carry(): Uint8Array {
    const { store } = this.#d
    const chunks = Number(store.meta(`${CARRY_KEY}:count`) ?? 0)
    return concat(...Array.from({ length: chunks }, (_, i) => fromBase64(store.meta(`${CARRY_KEY}:${i}`)!)))
  }

  #clearCarry(): void {
    const { store } = this.#d
    const chunks = Number(store.meta(`${CARRY_KEY}:count`) ?? 0)
    for (let i = 0; i < chunks; i++) store.setMeta(`${CARRY_KEY}:${i}`, null)
    store.setMeta(`${CARRY_KEY}:count`, null)
  }
}

const CARRY_CHUNK = 1 << 20

/**
 * Uncompressed bytes in, gzip member out, cut into equal parts of the multipart upload. The
 * bytes of the last, unfinished part are carried between steps.
 */
class PartWriter implements ByteSink {
  readonly #objects: ObjectStore
  readonly #key: string
  readonly #job: JobState
  readonly #sha: Sha256Stream
  #buffer = new Uint8Array(65_536 + 64)
  #fill = 0
  #carry: Uint8Array
  #carryFill: number
  readonly #writer: WritableStreamDefaultWriter<Uint8Array>
  readonly #pump: Promise<void>

  readonly #partBytes: number

  constructor(objects: ObjectStore, key: string, job: JobState, carry: Uint8Array, partBytes: number) {
    this.#objects = objects
    this.#key = key
    this.#job = job
    this.#partBytes = partBytes
    this.#sha = Sha256Stream.from(job.sha)
    this.#carry = new Uint8Array(partBytes)
    this.#carry.set(carry)
    this.#carryFill = carry.length
    const gzip = new CompressionStream('gzip')
    this.#writer = gzip.writable.getWriter() as WritableStreamDefaultWriter<Uint8Array>
    const reader = gzip.readable.getReader()
    this.#pump = (async () => {
      for (;;) {
        const { done, value } = await reader.read()
        if (done) return
        await this.#compressed(value as Uint8Array)
      }
    })()
    // A failed part upload errors the gzip stream, so that a write waiting on it fails instead of
    // waiting forever; close() reports the failure itself.
    this.#pump.catch((err: unknown) => this.#writer.abort(err).catch(() => {}))
  }

  /** Uncompressed bytes not yet handed to gzip. */
  get pending(): number {
    return this.#fill
  }

  byte(b: number): void {
    if (this.#fill === this.#buffer.length) this.#grow(1)
    this.#buffer[this.#fill++] = b
  }

  bytes(data: Uint8Array): void {
    if (this.#fill + data.length > this.#buffer.length) this.#grow(data.length)
    this.#buffer.set(data, this.#fill)
    this.#fill += data.length
  }

  /** Hands the buffered bytes to gzip, waiting for it (and any part upload) to keep up. */
  async drain(): Promise<void> {
    if (this.#fill === 0) return
    const chunk = this.#buffer.slice(0, this.#fill)
    this.#fill = 0
    // Resolves once gzip took it; gzip in turn waits for its output (and part uploads) to be taken.
    await this.#writer.write(chunk)
  }

  /** Ends this step's gzip member; with `last`, uploads the final part and completes the object. Returns the carry. */
  async close(last: boolean): Promise<Uint8Array> {
    await this.drain()
    await this.#writer.close()
    await this.#pump
    this.#job.sha = this.#sha.state()
    const carry = this.#carry.slice(0, this.#carryFill)
    if (!last) return carry
    if (this.#job.upload === null) {
      await this.#objects.put(this.#key, carry)
    } else {
      if (carry.length > 0) {
        const part = this.#job.parts.length + 1
        this.#job.parts.push({ part, tag: await this.#objects.putPart(this.#key, this.#job.upload, part, carry) })
      }
      await this.#objects.completeUpload(this.#key, this.#job.upload, this.#job.parts)
    }
    return new Uint8Array(0)
  }

  #grow(n: number): void {
    const next = new Uint8Array(Math.max(this.#buffer.length * 2, this.#fill + n))
    next.set(this.#buffer.subarray(0, this.#fill))
    this.#buffer = next
  }

  async #compressed(data: Uint8Array): Promise<void> {
    this.#sha.update(data)
    this.#job.bytes += data.length
    let at = 0
    while (at < data.length) {
      const take = Math.min(data.length - at, this.#partBytes - this.#carryFill)
      this.#carry.set(data.subarray(at, at + take), this.#carryFill)
      this.#carryFill += take
      at += take
      if (this.#carryFill === this.#partBytes) {
        this.#job.upload ??= await this.#objects.startUpload(this.#key)
        const part = this.#job.parts.length + 1
        const tag = await this.#objects.putPart(this.#key, this.#job.upload, part, this.#carry.slice())
        this.#job.parts.push({ part, tag })
        this.#carryFill = 0
      }
    }
  }
}
