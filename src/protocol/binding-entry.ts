/**
 * The bytes of the `add` or `renew` entry that made a binding, written into a caller's buffer:
 * `encodeEntry` without the entry object and the fresh array, for checking millions of snapshot
 * bindings against the log's leaf hashes. Same bytes as `encodeEntry` (the tests compare them).
 * @module
 */

const VERSION = 1
const KIND_ADD = 1
const KIND_RENEW = 2
const FLAG_KEY = 0x1
const MIN_SUBJECT = 10
const MAX_SUBJECT = 999_999_999_999_999

/** Bytes of the longest binding entry (an add or renew with a key fingerprint). */
export const MAX_BINDING_ENTRY = 49

/**
 * Writes the entry `{kind, subject, app, time, ttlDays, keyFingerprint}` at `out[at..]` and
 * returns its length (17, or 49 with a key), or -1 when `encodeEntry` would refuse a field
 * (then nothing meaningful was written).
 */
export function encodeBindingEntryInto(
  kind: 'add' | 'renew',
  subject: number,
  app: number,
  time: number,
  ttlDays: number,
  keyFingerprint: Uint8Array | undefined,
  out: Uint8Array,
  at: number,
): number {
  if (!Number.isInteger(app) || app < 0 || app > 0xffff) return -1
  if (!Number.isInteger(time) || time < 0 || time > 0xffff_ffff) return -1
  if (!Number.isSafeInteger(subject) || subject < MIN_SUBJECT || subject > MAX_SUBJECT) return -1
  if (!Number.isInteger(ttlDays) || ttlDays < 1 || ttlDays > 0xffff) return -1
  if (keyFingerprint && keyFingerprint.length !== 32) return -1
  out[at] = VERSION
  out[at + 1] = (kind === 'add' ? KIND_ADD : KIND_RENEW) | ((keyFingerprint ? FLAG_KEY : 0) << 4)
  // Subject: 7 bytes big-endian (below 2^50, so the high part fits an int).
  const lo = subject % 2 ** 32
  const hi = (subject - lo) / 2 ** 32
  out[at + 2] = (hi >>> 16) & 0xff
  out[at + 3] = (hi >>> 8) & 0xff
  out[at + 4] = hi & 0xff
  out[at + 5] = lo >>> 24
  out[at + 6] = (lo >>> 16) & 0xff
  out[at + 7] = (lo >>> 8) & 0xff
  out[at + 8] = lo & 0xff
  out[at + 9] = app >>> 8
  out[at + 10] = app & 0xff
  out[at + 11] = time >>> 24
  out[at + 12] = (time >>> 16) & 0xff
  out[at + 13] = (time >>> 8) & 0xff
  out[at + 14] = time & 0xff
  out[at + 15] = ttlDays >>> 8
  out[at + 16] = ttlDays & 0xff
  if (!keyFingerprint) return 17
  out.set(keyFingerprint, at + 17)
  return 49
}
