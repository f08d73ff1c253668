/**
 * Binary encoding of a committed batch (a journal frame body) and of a batch's raw log entries
 * (an entries frame body). Varints throughout:
 * ```
 * batch:   treeSize, changeCount, per change: subject, bindingCount,
 *          per binding: app, index, verifiedAt, ttlDays, flags (1 = 32-byte key fingerprint follows)
 * entries: treeSize, entryCount, per entry: length, bytes
 * ```
 * @module
 */
import { ByteReader, ByteWriter } from '../../../src/protocol/varint.ts'
import { frame } from './bytes.ts'
import { StoreError } from './errors.ts'
import type { SubjectIndex } from './subject-index.ts'
import { MAX_BINDINGS, MAX_LOG_INDEX, MAX_SUBJECT, type SubjectChange } from './types.ts'

/** A decoded entries frame: the raw log entries that took the log to `treeSize`. */
export interface EntryBatch {
  treeSize: number
  entries: Uint8Array[]
}

/**
 * A batch encoded for the journal, and the same changes in the index's binding layout, taken
 * from the caller's objects in the same pass: what a commit writes and then applies.
 */
export interface EncodedBatch {
  /** The journal frame (header + body). */
  frame: Uint8Array
  subjects: Float64Array
  counts: Uint32Array
  /** Bindings, 4 words each, change after change. */
  words: Uint32Array
  /** Key fingerprints by binding ordinal in `words`. */
  keys: Map<number, Uint8Array>
}

const TWO32 = 2 ** 32

/** Encodes a batch (see {@link EncodedBatch}); the changes must be valid (`checkSubject`, `checkBindings`). */
export function encodeBatch(treeSize: number, changes: readonly SubjectChange[]): EncodedBatch {
  let bindings = 0
  for (const c of changes) bindings += c.bindings.length
  const w = new ByteWriter(64 + changes.length * 12 + bindings * 16)
  const out: EncodedBatch = {
    frame: new Uint8Array(0),
    subjects: new Float64Array(changes.length),
    counts: new Uint32Array(changes.length),
    words: new Uint32Array(bindings * 4),
    keys: new Map(),
  }
  w.varint(treeSize)
  w.varint(changes.length)
  let ordinal = 0
  for (let i = 0; i < changes.length; i++) {
    const c = changes[i]!
    w.varint(c.subject)
    w.varint(c.bindings.length)
    out.subjects[i] = c.subject
    out.counts[i] = c.bindings.length
    for (const b of c.bindings) {
      const key = b.keyFingerprint
      w.varint(b.app)
      w.varint(b.index)
      w.varint(b.verifiedAt)
      w.varint(b.ttlDays)
      w.varint(key ? 1 : 0)
      if (key) {
        w.bytes(key)
        out.keys.set(ordinal, key.slice())
      }
      const j = ordinal * 4
      out.words[j] = b.app + b.ttlDays * 65536
      out.words[j + 1] = b.verifiedAt
      out.words[j + 2] = b.index >>> 0
      out.words[j + 3] = Math.floor(b.index / TWO32) + (key ? 1 << 8 : 0)
      ordinal++
    }
  }
  out.frame = frame(w.finish())
  return out
}

/** Applies an {@link EncodedBatch} to `index` (its changes were validated before encoding). */
export function applyEncodedBatch(index: SubjectIndex, batch: EncodedBatch): void {
  let at = 0
  const n = batch.subjects.length
  for (let group = 0; group < n; group += PREFETCH_GROUP) {
    const to = Math.min(n, group + PREFETCH_GROUP)
    index.prefetch(batch.subjects.subarray(group, to), to - group)
    for (let i = group; i < to; i++) {
      const count = batch.counts[i]!
      index.putEncoded(batch.subjects[i]!, count, batch.words, at, batch.keys)
      at += count
    }
  }
  index.endApply()
}

/** Changes whose slots {@link applyEncodedBatch} loads together before applying them. */
const PREFETCH_GROUP = 32

/**
 * Applies a journal frame body to `index` without decoding it into objects: the whole batch is
 * checked first (as `SubjectIndex.apply` checks changes: malformed bytes are
 * `StoreError('corrupt')`, invalid changes `StoreError('invalid')`, and nothing is applied),
 * then applied. Returns the batch's tree size. What a reopen replays the journal with.
 */
export function applyBatchBody(index: SubjectIndex, body: Uint8Array): number {
  const treeSize = asCorrupt('journal', () => walkBatch(new ByteReader(body), null))
  walkBatch(new ByteReader(body), index)
  index.endApply()
  return treeSize
}

let scratch = new Uint32Array(64 * 4)
const scratchKeys = new Map<number, Uint8Array>()

/** Reads a batch; with `index` null only checks it, else applies each change (already checked). */
function walkBatch(r: ByteReader, index: SubjectIndex | null): number {
  const treeSize = r.varint()
  const count = r.varint()
  for (let i = 0; i < count; i++) {
    const subject = r.varint()
    const n = r.varint()
    if (index === null) {
      if (subject < 1 || subject > MAX_SUBJECT) throw new StoreError('invalid', `subject out of range: ${subject}`)
      if (n > MAX_BINDINGS) throw new StoreError('invalid', `more than ${MAX_BINDINGS} bindings`)
    }
    if (n * 4 > scratch.length) scratch = new Uint32Array(n * 4)
    let previous = -1
    for (let k = 0; k < n; k++) {
      const app = r.varint()
      const logIndex = r.varint()
      const verifiedAt = r.varint()
      const ttlDays = r.varint()
      const flags = r.varint()
      if (flags > 1) throw new StoreError('corrupt', 'journal: bad binding flags')
      const key = flags === 1 ? r.bytes(32) : undefined
      if (index === null) {
        if (app > 0xffff || app <= previous) throw new StoreError('invalid', `binding apps must be u16, strictly ascending (got ${app})`)
        if (logIndex > MAX_LOG_INDEX) throw new StoreError('invalid', `binding index out of range: ${logIndex}`)
        if (verifiedAt > 0xffffffff) throw new StoreError('invalid', `verifiedAt out of range: ${verifiedAt}`)
        if (ttlDays > 0xffff) throw new StoreError('invalid', `ttlDays out of range: ${ttlDays}`)
        previous = app
        continue
      }
      const j = k * 4
      scratch[j] = app + ttlDays * 65536
      scratch[j + 1] = verifiedAt
      scratch[j + 2] = logIndex >>> 0
      scratch[j + 3] = Math.floor(logIndex / TWO32) + (key ? 1 << 8 : 0)
      if (key) scratchKeys.set(k, key)
    }
    if (index !== null) {
      index.putEncoded(subject, n, scratch, 0, scratchKeys)
      scratchKeys.clear()
    }
  }
  if (!r.done) throw new StoreError('corrupt', 'journal: trailing bytes in a batch')
  return treeSize
}

/** The entries frame (header + body) of a batch's raw log entries. */
export function encodeEntries(treeSize: number, entries: readonly Uint8Array[]): Uint8Array {
  const w = new ByteWriter(16 + entries.reduce((n, e) => n + e.length + 3, 0))
  w.varint(treeSize)
  w.varint(entries.length)
  for (const e of entries) {
    w.varint(e.length)
    w.bytes(e)
  }
  return frame(w.finish())
}

/** Decodes an entries frame body; malformed bytes throw `StoreError('corrupt')`. */
export function decodeEntries(body: Uint8Array): EntryBatch {
  return asCorrupt('entries', () => readEntries(new ByteReader(body)))
}

function readEntries(r: ByteReader): EntryBatch {
  const treeSize = r.varint()
  const count = r.varint()
  const entries: Uint8Array[] = []
  for (let i = 0; i < count; i++) entries.push(r.bytes(r.varint()).slice())
  if (!r.done) throw new StoreError('corrupt', 'entries: trailing bytes in a batch')
  return { treeSize, entries }
}

// The varint reader throws plain Errors on truncation; in a committed frame that is corruption.
function asCorrupt<T>(what: string, read: () => T): T {
  try {
    return read()
  } catch (err) {
    if (err instanceof StoreError) throw err
    throw new StoreError('corrupt', `${what}: ${(err as Error).message}`)
  }
}
