/**
 * The mirror store's data model (fixed by the protocol) and its validation.
 * @module
 */
import { StoreError } from './errors.ts'

/** Largest subject: E.164 has at most 15 digits, so every subject is below 2^50. */
export const MAX_SUBJECT = 999_999_999_999_999
/** Log indexes are below 2^40. */
export const MAX_LOG_INDEX = 2 ** 40 - 1
/** The most bindings one subject may hold (the index keeps the count in 14 bits). */
export const MAX_BINDINGS = 16_383
/** Seconds per day, for `expiresAt = verifiedAt + ttlDays × DAY`. */
export const DAY = 86_400

/** One binding of a number to an app. Times are seconds since the epoch. */
export interface Binding {
  /** The app's num (u16). */
  app: number
  /** Log index of the entry that created this binding (< 2^40). */
  index: number
  /** When the number was verified (u32 seconds). */
  verifiedAt: number
  /** Days the verification stays valid (u16). */
  ttlDays: number
  /** The SHA-256 fingerprint (32 bytes) of a key the app registered, when it did (rare). */
  keyFingerprint?: Uint8Array
}

/** A subject (E.164 digits as an integer) and its bindings, sorted by app num. */
export interface SubjectRecord {
  subject: number
  bindings: Binding[]
}

/** A replacement of one subject's bindings; an empty `bindings` deletes the subject. */
export type SubjectChange = SubjectRecord

/** An entry of the app table. */
export interface AppInfo {
  num: number
  id: string
  revoked: boolean
}

/** What a commit persists together with its batch. */
export interface CommitMeta {
  /** Log size after this batch. Must not decrease. */
  treeSize: number
  /** The signed checkpoint note text for `treeSize`. */
  checkpoint: string
  /** The right edge of the tree (32-byte hashes) at `treeSize`. */
  rightEdge: Uint8Array[]
  /** The complete app table after this batch. */
  apps: AppInfo[]
  /** The raw log entries of this batch, kept for re-verification. */
  entries?: Uint8Array[]
}

/** Written once per store: what the mirror trusts and where it syncs from. */
export interface Pinned {
  /** The log's verifier key (signed-note vkey string). */
  logKey: string
  /** The directory's base URL. */
  directoryUrl: string
}

/** Throws `StoreError('invalid')` unless `subject` is an integer in [1, MAX_SUBJECT]. */
export function checkSubject(subject: number): void {
  if (!Number.isSafeInteger(subject) || subject < 1 || subject > MAX_SUBJECT) {
    throw new StoreError('invalid', `subject out of range: ${subject}`)
  }
}

/** Throws `StoreError('invalid')` unless the bindings are well-formed and strictly sorted by app. */
export function checkBindings(bindings: readonly Binding[]): void {
  if (bindings.length > MAX_BINDINGS) throw new StoreError('invalid', `more than ${MAX_BINDINGS} bindings`)
  let previous = -1
  for (const b of bindings) {
    if (!isUint(b.app, 0xffff) || b.app <= previous) {
      throw new StoreError('invalid', `binding apps must be u16, strictly ascending (got ${b.app})`)
    }
    previous = b.app
    if (!isUint(b.index, MAX_LOG_INDEX)) throw new StoreError('invalid', `binding index out of range: ${b.index}`)
    if (!isUint(b.verifiedAt, 0xffffffff)) throw new StoreError('invalid', `verifiedAt out of range: ${b.verifiedAt}`)
    if (!isUint(b.ttlDays, 0xffff)) throw new StoreError('invalid', `ttlDays out of range: ${b.ttlDays}`)
    if (b.keyFingerprint !== undefined && (!(b.keyFingerprint instanceof Uint8Array) || b.keyFingerprint.length !== 32)) {
      throw new StoreError('invalid', 'key fingerprints must be 32 bytes')
    }
  }
}

/** Throws `StoreError('invalid')` unless the metadata is well-formed. */
export function checkMeta(meta: CommitMeta): void {
  if (!Number.isSafeInteger(meta.treeSize) || meta.treeSize < 0) throw new StoreError('invalid', 'treeSize must be a non-negative integer')
  if (typeof meta.checkpoint !== 'string') throw new StoreError('invalid', 'checkpoint must be a string')
  for (const h of meta.rightEdge) {
    if (!(h instanceof Uint8Array) || h.length !== 32) throw new StoreError('invalid', 'right-edge hashes must be 32 bytes')
  }
  const nums = new Set<number>()
  for (const a of meta.apps) {
    if (!isUint(a.num, 0xffff) || nums.has(a.num)) throw new StoreError('invalid', `bad or duplicate app num ${a.num}`)
    if (typeof a.id !== 'string' || typeof a.revoked !== 'boolean') throw new StoreError('invalid', 'app id must be a string, revoked a boolean')
    nums.add(a.num)
  }
  for (const e of meta.entries ?? []) {
    if (!(e instanceof Uint8Array)) throw new StoreError('invalid', 'entries must be byte arrays')
  }
}

function isUint(x: number, max: number): boolean {
  return Number.isSafeInteger(x) && x >= 0 && x <= max
}
