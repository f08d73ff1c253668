/**
 * The durable store: a directory holding
 * ```
 * HEAD                 manifest, atomically replaced on every commit (see head.ts)
 * LOCK                 pid lock of the process that has the store open (see lock.ts)
 * base-<gen>.bin       every record at one tree size, written once (see base-file.ts)
 * journal-<gen>.log    checksummed frames, one per committed batch, on top of the base
 * entries-<gen>.log    checksummed frames of raw log entries since the last bootstrap
 * ```
 * Commit protocol: append the batch frame to the journal and the entries frame to the entries
 * file, fdatasync both; write HEAD naming the new committed lengths and metadata to a temp file,
 * fsync it, rename it over HEAD, fsync the directory; only then apply the batch to the
 * in-memory index. A crash at any point leaves HEAD either old (the appended bytes lie beyond
 * its committed lengths and are truncated on open) or new (everything it names is on disk).
 * Open reads HEAD, loads the base, replays the committed journal, and refuses
 * (`StoreError('corrupt')`) if any committed byte fails its checksum.
 * @module
 */
import { closeSync, ftruncateSync, fstatSync, fsyncSync, mkdirSync, openSync, readdirSync, statSync } from 'node:fs'
import { type FileHandle, open } from 'node:fs/promises'
import { dirname, join, resolve } from 'node:path'
import { fileFrames } from './bytes.ts'
import { baseRecords, type BuildOrder, loadBase, writeBase } from './base-file.ts'
import { StoreError } from './errors.ts'
import { fsyncDir, removeIfExists } from './fsutil.ts'
import { type BaseRef, fromHex, HEAD_FORMAT, type Head, readHead, toHex, writeHead } from './head.ts'
import { applyBatchBody, applyEncodedBatch, decodeEntries, type EntryBatch, encodeBatch, encodeEntries } from './journal-codec.ts'
import { acquireLock, type Lock } from './lock.ts'
import { IndexBuilder, type IndexMemory, type LoadPolicy, type ReadonlyIndex, SubjectIndex } from './subject-index.ts'
import { type AppInfo, type Binding, type CommitMeta, checkBindings, checkMeta, checkSubject, type Pinned, type SubjectChange, type SubjectRecord } from './types.ts'

/** Options of `openStore`. */
export interface OpenOptions {
  /** Load-factor policy of the in-memory index. */
  load?: LoadPolicy
}

/** Sizes, for monitoring and compaction policy. */
export interface StoreStats {
  generation: number
  treeSize: number
  records: number
  bindings: number
  baseBytes: number
  journalBytes: number
  journalCommits: number
  entriesBytes: number
  /** True when the journal exceeds max(16 MiB, a quarter of the base): time to `compact()`. */
  shouldCompact: boolean
  memory: IndexMemory
}

const STORE_FILE = /^(base|journal|entries)-\d+\.(bin|log)(\.tmp)?$|^\.HEAD\.tmp$/

/** Opens (creating if needed) the store in `dir`, taking its lock. */
export async function openStore(dir: string, options: OpenOptions = {}): Promise<MirrorStore> {
  mkdirSync(dir, { recursive: true })
  const lock = acquireLock(join(dir, 'LOCK'))
  try {
    let head = readHead(join(dir, 'HEAD'))
    if (!head) {
      const leftovers = readdirSync(dir).filter((f) => STORE_FILE.test(f) && !f.endsWith('.tmp'))
      if (leftovers.length > 0) throw new StoreError('corrupt', `HEAD is missing but store files exist: ${leftovers.join(', ')}`)
      head = emptyHead()
      await writeHead(join(dir, 'HEAD'), head)
      await fsyncDir(dirname(resolve(dir)))
    }
    const index = loadState(dir, head, options.load)
    const journal = prepareAppendFile(join(dir, head.journal.file), head.journal.bytes, 'journal')
    const entries = prepareAppendFile(join(dir, head.entries.file), head.entries.bytes, 'entries')
    if (head.origin && head.origin.file !== head.base?.file) checkLength(join(dir, head.origin.file), head.origin.bytes, 'origin base file')
    for (const f of readdirSync(dir)) if (STORE_FILE.test(f) && !referenced(head, f)) await removeIfExists(join(dir, f))
    return new MirrorStore(dir, lock, head, index, await open(journal, 'r+'), await open(entries, 'r+'), options.load)
  } catch (err) {
    lock.release()
    throw err
  }
}

function emptyHead(): Head {
  return {
    format: HEAD_FORMAT,
    generation: 0,
    base: null,
    origin: null,
    journal: { file: 'journal-0.log', bytes: 0, commits: 0 },
    entries: { file: 'entries-0.log', bytes: 0, from: 0 },
    treeSize: 0,
    checkpoint: '',
    rightEdge: [],
    apps: [],
    pinned: null,
  }
}

function referenced(head: Head, file: string): boolean {
  return file === head.base?.file || file === head.origin?.file || file === head.journal.file || file === head.entries.file
}

/** Loads the base and replays the committed journal, checking every committed byte. */
function loadState(dir: string, head: Head, load?: LoadPolicy): SubjectIndex {
  let index: SubjectIndex
  let treeSize = 0
  if (head.base) {
    const { index: loaded, info } = loadBase(join(dir, head.base.file), head.base.bytes, load)
    if (info.treeSize !== head.base.treeSize || info.records !== head.base.records) {
      throw new StoreError('corrupt', `base file ${head.base.file} does not match HEAD`)
    }
    index = loaded
    treeSize = info.treeSize
  } else {
    index = SubjectIndex.empty(load)
  }
  const path = join(dir, head.journal.file)
  checkLength(path, head.journal.bytes, 'journal')
  let commits = 0
  for (const { body, offset } of fileFrames(path, head.journal.bytes, `journal ${head.journal.file}`)) {
    let batchSize: number
    try {
      batchSize = applyBatchBody(index, body)
    } catch (err) {
      if (err instanceof StoreError && err.code === 'invalid') throw new StoreError('corrupt', `journal: invalid batch at byte ${offset}: ${err.message}`, { cause: err })
      throw err
    }
    if (batchSize < treeSize) throw new StoreError('corrupt', `journal: tree size decreases at byte ${offset}`)
    treeSize = batchSize
    commits++
  }
  if (commits !== head.journal.commits || treeSize !== head.treeSize) {
    throw new StoreError('corrupt', `journal holds ${commits} commits to tree size ${treeSize}; HEAD says ${head.journal.commits} to ${head.treeSize}`)
  }
  return index
}

/** Throws 'corrupt' unless `path` exists with at least `committed` bytes (a missing empty file is fine). */
function checkLength(path: string, committed: number, what: string): void {
  let size: number
  try {
    size = statSync(path).size
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT' && committed === 0) return
    throw new StoreError('corrupt', `${what} ${path} is missing`, { cause: err })
  }
  if (size < committed) throw new StoreError('corrupt', `${what} ${path} has ${size} bytes, fewer than the ${committed} committed`)
}

/** Creates `path` if missing and cuts it to its committed length (discarding a torn tail); returns it. */
function prepareAppendFile(path: string, committed: number, what: string): string {
  checkLength(path, committed, what)
  const fd = openSync(path, 'a+')
  try {
    if (fstatSync(fd).size > committed) {
      ftruncateSync(fd, committed)
      fsyncSync(fd)
    }
  } finally {
    closeSync(fd)
  }
  return path
}

/** Writes all of `data` at `position`. */
async function writeAt(handle: FileHandle, data: Uint8Array, position: number): Promise<void> {
  let done = 0
  while (done < data.length) {
    const { bytesWritten } = await handle.write(data, done, data.length - done, position + done)
    done += bytesWritten
  }
}

/**
 * An open store. Lookups go through `index` (always the committed state; the same object for the
 * store's life). Mutations (`commit`, `bootstrap`, `compact`, `pin`) run one at a time, in call
 * order. After an I/O failure the store refuses further use (`StoreError('closed')`): close it
 * and reopen, which recovers the last committed state.
 */
export class MirrorStore {
  private readonly live: SubjectIndex
  private tail: Promise<unknown> = Promise.resolve()
  private failure: unknown = null
  private closed = false
  private edge: Uint8Array[]

  /** @internal Use `openStore`. */
  constructor(
    readonly dir: string,
    private readonly lock: Lock,
    private head: Head,
    index: SubjectIndex,
    private journal: FileHandle,
    private entries: FileHandle,
    private readonly load?: LoadPolicy,
  ) {
    this.live = index
    this.edge = head.rightEdge.map(fromHex)
  }

  /** The committed state's lookup index. Slot numbers from it are valid until the next mutation. */
  get index(): ReadonlyIndex {
    return this.live
  }

  /** Log size of the committed state. */
  get treeSize(): number {
    return this.head.treeSize
  }

  /** The signed checkpoint text of the committed state ('' before the first commit). */
  get checkpoint(): string {
    return this.head.checkpoint
  }

  /** Right edge of the tree at `treeSize` (copies). */
  get rightEdge(): Uint8Array[] {
    return this.edge.map((h) => h.slice())
  }

  /** The app table of the committed state (copies). */
  get apps(): AppInfo[] {
    return this.head.apps.map((a) => ({ ...a }))
  }

  /** What the store is pinned to, if `pin` was called. */
  get pinned(): Pinned | null {
    return this.head.pinned && { ...this.head.pinned }
  }

  /** Log index of the first entry in `entryBatches()` (the tree size of the last bootstrap, less the entries it was given). */
  get entriesFrom(): number {
    return this.head.entries.from
  }

  /** The bindings of `subject` in the committed state, or undefined. */
  get(subject: number): Binding[] | undefined {
    return this.live.get(subject)
  }

  /** Sizes of the store's parts. */
  stats(): StoreStats {
    const baseBytes = this.head.base?.bytes ?? 0
    return {
      generation: this.head.generation,
      treeSize: this.head.treeSize,
      records: this.live.size,
      bindings: this.live.bindingCount,
      baseBytes,
      journalBytes: this.head.journal.bytes,
      journalCommits: this.head.journal.commits,
      entriesBytes: this.head.entries.bytes,
      shouldCompact: this.head.journal.bytes > Math.max(16 << 20, baseBytes / 4),
      memory: this.live.memoryBytes(),
    }
  }

  /**
   * Durably commits a batch of replacements (empty bindings delete) together with its metadata,
   * then makes it visible. Throws 'invalid' or 'stale' (treeSize below the committed one) before
   * writing anything.
   */
  commit(changes: readonly SubjectChange[], meta: CommitMeta): Promise<void> {
    return this.exclusive(async () => {
      for (const c of changes) {
        checkSubject(c.subject)
        checkBindings(c.bindings)
      }
      this.checkNext(meta)
      const encoded = encodeBatch(meta.treeSize, changes)
      const batch = encoded.frame
      const entries = meta.entries?.length ? encodeEntries(meta.treeSize, meta.entries) : undefined
      const head = this.head
      const next: Head = {
        ...this.withMeta(meta),
        journal: { ...head.journal, bytes: head.journal.bytes + batch.length, commits: head.journal.commits + 1 },
        entries: { ...head.entries, bytes: head.entries.bytes + (entries?.length ?? 0) },
      }
      await this.durably(async () => {
        await Promise.all([
          writeAt(this.journal, batch, head.journal.bytes).then(() => this.journal.datasync()),
          entries && writeAt(this.entries, entries, head.entries.bytes).then(() => this.entries.datasync()),
        ])
        await writeHead(join(this.dir, 'HEAD'), next)
      })
      this.setHead(next)
      // Apply what was written (taken from the caller's objects when they were encoded, not the
      // objects now, which may have changed since). Only running out of memory can fail here; the
      // store then refuses further mutations.
      await this.durably(async () => applyEncodedBatch(this.live, encoded))
    })
  }

  /**
   * Replaces the whole state with `records` (strictly ascending by subject, each with at least
   * one binding) at `meta.treeSize`: writes a new base file, empties the journal, restarts the
   * entries file with `meta.entries`, if any (taken as the entries just before `meta.treeSize`).
   * Lookups see the old state until it is committed.
   */
  bootstrap(records: Iterable<SubjectRecord> | AsyncIterable<SubjectRecord>, meta: CommitMeta): Promise<void> {
    return this.exclusive(async () => {
      this.checkNext(meta)
      if ((meta.entries?.length ?? 0) > meta.treeSize) throw new StoreError('invalid', 'more entries than the tree size')
      const builder = new IndexBuilder()
      for await (const r of records) builder.add(r)
      await this.switchTo(builder.finish(this.load), meta)
    })
  }

  /** The body of a bootstrap: writes `index` as the new generation's base and commits it. */
  private async switchTo(index: SubjectIndex, meta: CommitMeta, order?: BuildOrder): Promise<void> {
    const gen = this.head.generation + 1
    const base = await this.durably(() => this.writeBaseFile(gen, meta.treeSize, index, order))
    const entries = meta.entries?.length ? encodeEntries(meta.treeSize, meta.entries) : new Uint8Array(0)
    const next: Head = {
      ...this.withMeta(meta),
      generation: gen,
      base,
      origin: base,
      journal: { file: `journal-${gen}.log`, bytes: 0, commits: 0 },
      entries: { file: `entries-${gen}.log`, bytes: entries.length, from: meta.treeSize - (meta.entries?.length ?? 0) },
    }
    await this.switchGeneration(next, entries)
    this.live.adopt(index)
  }

  /**
   * `bootstrap` with the records already built into an index (`IndexBuilder.finish()`), which
   * the store takes over: the caller must not use `index` afterwards. `order`, the subjects and
   * binding counts the index was built from, lets the base file be written without a lookup per
   * record (see `writeBase`).
   */
  bootstrapIndex(index: SubjectIndex, meta: CommitMeta, order?: BuildOrder): Promise<void> {
    return this.exclusive(async () => {
      this.checkNext(meta)
      if ((meta.entries?.length ?? 0) > meta.treeSize) throw new StoreError('invalid', 'more entries than the tree size')
      await this.switchTo(index, meta, order)
    })
  }

  /**
   * Empties the state (tree size 0, no checkpoint, no apps), keeping what the store is pinned
   * to: the start of a replay from entry 0. One atomic switch of generation, like a bootstrap.
   */
  restart(): Promise<void> {
    return this.exclusive(async () => {
      const gen = this.head.generation + 1
      const next: Head = {
        ...this.head,
        generation: gen,
        base: null,
        origin: null,
        journal: { file: `journal-${gen}.log`, bytes: 0, commits: 0 },
        entries: { file: `entries-${gen}.log`, bytes: 0, from: 0 },
        treeSize: 0,
        checkpoint: '',
        rightEdge: [],
        apps: [],
      }
      await this.switchGeneration(next)
      this.live.adopt(SubjectIndex.empty(this.load))
    })
  }

  /** Rewrites the base from the current state and empties the journal (entries are kept). */
  compact(): Promise<void> {
    return this.exclusive(async () => {
      const gen = this.head.generation + 1
      const base = await this.durably(() => this.writeBaseFile(gen, this.head.treeSize, this.live))
      const next: Head = { ...this.head, generation: gen, base, journal: { file: `journal-${gen}.log`, bytes: 0, commits: 0 } }
      await this.switchGeneration(next)
    })
  }

  /** Records the trusted log key and directory URL; once set they can't change ('pinned'). */
  pin(pinned: Pinned): Promise<void> {
    return this.exclusive(async () => {
      if (typeof pinned.logKey !== 'string' || typeof pinned.directoryUrl !== 'string') throw new StoreError('invalid', 'pinned values must be strings')
      const current = this.head.pinned
      if (current) {
        if (current.logKey === pinned.logKey && current.directoryUrl === pinned.directoryUrl) return
        throw new StoreError('pinned', `store is pinned to ${current.logKey} at ${current.directoryUrl}`)
      }
      const next: Head = { ...this.head, pinned: { logKey: pinned.logKey, directoryUrl: pinned.directoryUrl } }
      await this.durably(() => writeHead(join(this.dir, 'HEAD'), next))
      this.setHead(next)
    })
  }

  /** The committed raw-entry batches since the last bootstrap, in order (checksums verified). */
  *entryBatches(): Generator<EntryBatch> {
    const { file, bytes } = this.head.entries
    for (const { body } of fileFrames(join(this.dir, file), bytes, `entries ${file}`)) yield decodeEntries(body)
  }

  /** The records of the last bootstrap (empty if the store was synced from tree size 0). */
  *originRecords(): Generator<SubjectRecord> {
    const origin = this.head.origin
    if (origin) yield* baseRecords(join(this.dir, origin.file), origin.bytes)
  }

  /** Refuses new mutations, waits for the pending ones, closes the files and releases the lock. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    await this.tail
    await Promise.allSettled([this.journal.close(), this.entries.close()])
    this.lock.release()
  }

  /** Queues `fn` after the pending mutations; refused once `close` was called or a write failed. */
  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    if (this.closed) return Promise.reject(new StoreError('closed', 'store is closed'))
    const run = this.tail.then(() => {
      if (this.failure) throw new StoreError('closed', 'store failed on an earlier write; reopen it', { cause: this.failure })
      return fn()
    })
    this.tail = run.catch(() => {})
    return run
  }

  /** Runs an I/O step; a failure poisons the store (the disk state is recovered by reopening). */
  private async durably<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn()
    } catch (err) {
      this.failure = err
      if (err instanceof StoreError) throw err
      throw new StoreError('io', `store write failed: ${(err as Error).message}`, { cause: err })
    }
  }

  private checkNext(meta: CommitMeta): void {
    checkMeta(meta)
    if (meta.treeSize < this.head.treeSize) throw new StoreError('stale', `tree size ${meta.treeSize} is below the committed ${this.head.treeSize}`)
  }

  private withMeta(meta: CommitMeta): Head {
    return {
      ...this.head,
      treeSize: meta.treeSize,
      checkpoint: meta.checkpoint,
      rightEdge: meta.rightEdge.map(toHex),
      apps: meta.apps.map((a) => ({ num: a.num, id: a.id, revoked: a.revoked })),
    }
  }

  private setHead(head: Head): void {
    this.head = head
    this.edge = head.rightEdge.map(fromHex)
  }

  private async writeBaseFile(gen: number, treeSize: number, index: ReadonlyIndex, order?: BuildOrder): Promise<BaseRef> {
    const file = `base-${gen}.bin`
    const info = await writeBase(join(this.dir, file), treeSize, index, order)
    return { file, bytes: info.bytes, treeSize, records: info.records }
  }

  /** Creates the new generation's journal (and entries) files, commits `next`, removes what it no longer names. */
  private async switchGeneration(next: Head, entriesPrefix?: Uint8Array): Promise<void> {
    const old = this.head
    const journal = await this.durably(async () => {
      const journal = await open(join(this.dir, next.journal.file), 'w+')
      await journal.sync()
      let entries = this.entries
      if (next.entries.file !== old.entries.file) {
        entries = await open(join(this.dir, next.entries.file), 'w+')
        if (entriesPrefix?.length) await writeAt(entries, entriesPrefix, 0)
        await entries.sync()
      }
      await fsyncDir(this.dir)
      await writeHead(join(this.dir, 'HEAD'), next)
      return { journal, entries }
    })
    const previous = { journal: this.journal, entries: this.entries }
    this.journal = journal.journal
    this.entries = journal.entries
    this.setHead(next)
    await previous.journal.close().catch(() => {})
    if (previous.entries !== this.entries) await previous.entries.close().catch(() => {})
    for (const f of [old.base?.file, old.origin?.file, old.journal.file, old.entries.file]) {
      if (f && !referenced(next, f)) await removeIfExists(join(this.dir, f)).catch(() => {})
    }
  }
}
