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
import type { Binding, SubjectChange } from './types.ts'

/** A decoded journal frame. */
export interface JournalBatch {
  treeSize: number
  changes: SubjectChange[]
}

/** A decoded entries frame: the raw log entries that took the log to `treeSize`. */
export interface EntryBatch {
  treeSize: number
  entries: Uint8Array[]
}

/** The journal frame (header + body) of a batch. */
export function encodeBatch(treeSize: number, changes: readonly SubjectChange[]): Uint8Array {
  const w = new ByteWriter(64 + changes.length * 24)
  w.varint(treeSize)
  w.varint(changes.length)
  for (const c of changes) {
    w.varint(c.subject)
    w.varint(c.bindings.length)
    for (const b of c.bindings) {
      w.varint(b.app)
      w.varint(b.index)
      w.varint(b.verifiedAt)
      w.varint(b.ttlDays)
      w.varint(b.keyFingerprint ? 1 : 0)
      if (b.keyFingerprint) w.bytes(b.keyFingerprint)
    }
  }
  return frame(w.finish())
}

/** Decodes a journal frame body; malformed bytes throw `StoreError('corrupt')`. */
export function decodeBatch(body: Uint8Array): JournalBatch {
  return asCorrupt('journal', () => readBatch(new ByteReader(body)))
}

function readBatch(r: ByteReader): JournalBatch {
  const treeSize = r.varint()
  const count = r.varint()
  const changes: SubjectChange[] = []
  for (let i = 0; i < count; i++) {
    const subject = r.varint()
    const n = r.varint()
    const bindings: Binding[] = []
    for (let k = 0; k < n; k++) {
      const b: Binding = { app: r.varint(), index: r.varint(), verifiedAt: r.varint(), ttlDays: r.varint() }
      const flags = r.varint()
      if (flags > 1) throw new StoreError('corrupt', 'journal: bad binding flags')
      if (flags === 1) b.keyFingerprint = r.bytes(32).slice()
      bindings.push(b)
    }
    changes.push({ subject, bindings })
  }
  if (!r.done) throw new StoreError('corrupt', 'journal: trailing bytes in a batch')
  return { treeSize, changes }
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
