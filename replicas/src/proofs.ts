/**
 * `?proof=1`, computed locally: for each binding, the log entry that made it and a C2SP
 * tlog-proof of that entry against the mirror's own signed checkpoint, exactly as the
 * directory formats them. Nothing is fetched, so proving a lookup reveals nothing.
 *
 * The entry's bytes are not stored: a binding holds every field of the add or renew entry that
 * made it, so the mirror re-encodes both candidates and keeps the one whose leaf hash is the
 * log's hash at that index (a snapshot binding is checked the same way at bootstrap).
 * @module
 */
import { encodeEntry, EntryError, type LogEntry, type Subject } from '../../src/protocol/entry.ts'
import { leafHash, proveRecord, storedHashIndex, type Hash } from '../../src/protocol/merkle.ts'
import type { StateBinding } from '../../src/protocol/state.ts'
import { formatTlogProof } from '../../src/protocol/tlog-proof.ts'
import { MirrorError } from './errors.ts'
import type { HashFile } from './hashes.ts'
import { sameBytes } from './verify-range.ts'

/** The held checkpoint a receipt proves against. */
export interface ProofCheckpoint {
  note: string
  size: number
}

/** The verified leaf hash of entry `index`, or null when it is not held. */
export type LeafReader = (index: number) => Hash | null

/** A {@link LeafReader} over the first `count` stored hashes of `hashes`. */
export function leafReader(hashes: HashFile, count: number = hashes.validCount): LeafReader {
  return (index) => {
    const at = storedHashIndex(0, index)
    return at < count ? hashes.reader([at])[0]! : null
  }
}

/**
 * The bytes of the entry at `binding.index` that created `binding` of `subject`, checked
 * against the log's leaf hash; null when neither an add nor a renew with these fields is there.
 */
export function entryOfBinding(subject: Subject, binding: StateBinding, leafAt: LeafReader): Uint8Array | null {
  const leaf = leafAt(binding.index)
  if (!leaf) return null
  for (const kind of ['add', 'renew'] as const) {
    const entry: LogEntry = { kind, subject, app: binding.app, time: binding.verifiedAt, ttlDays: binding.ttlDays }
    if (binding.keyFingerprint) entry.keyFingerprint = binding.keyFingerprint
    let bytes: Uint8Array
    try {
      bytes = encodeEntry(entry)
    } catch (err) {
      if (err instanceof EntryError) return null
      throw err
    }
    if (sameBytes(leafHash(bytes), leaf)) return bytes
  }
  return null
}

/** The receipt (C2SP tlog-proof) of entry `index` against `checkpoint`, from the held hashes. */
export function receiptFor(index: number, checkpoint: ProofCheckpoint, hashes: HashFile): string {
  if (index >= checkpoint.size) throw new MirrorError('internal', `entry ${index} is not in the held tree of size ${checkpoint.size}`)
  return formatTlogProof({ index, hashes: proveRecord(checkpoint.size, index, hashes.reader), checkpoint: checkpoint.note })
}

/** Entry and receipt of a binding, or a `store` error if the held state and hashes disagree. */
export function proveBinding(
  subject: Subject,
  binding: StateBinding,
  checkpoint: ProofCheckpoint,
  hashes: HashFile,
): { index: number; entry: Uint8Array; receipt: string } {
  const entry = entryOfBinding(subject, binding, leafReader(hashes))
  if (!entry) {
    throw new MirrorError('store', `a held binding to app ${binding.app} does not match log entry ${binding.index}; run verify`)
  }
  return { index: binding.index, entry, receipt: receiptFor(binding.index, checkpoint, hashes) }
}
