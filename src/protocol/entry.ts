/**
 * Log entries: the compact, versioned binary form of every directory change. The directory's
 * state is the deterministic fold of these entries ({@link DirectoryState}), so a mirror that
 * replays the log holds exactly what the directory serves.
 *
 * Version 2 layout (integers big-endian, except every time, which is little-endian):
 * ```
 * byte 0   version = 2
 * byte 1   kind (low 4 bits) | flags << 4
 *          kinds: 1 add, 2 renew, 3 remove, 4 expire, 8 app-register, 9 app-revoke
 *          flags: 0x1 key fingerprint present (add, renew)
 *                 0x2 subject is a 32-byte keyed label instead of a number (reserved: a later
 *                     mode that hides numbers from the log; version 2 decoders refuse it)
 * kinds 1-4: subject u56 (the E.164 digits as an integer), time u32le (seconds), app u16
 *   add, renew: ttlDays u16 [, 32-byte SHA-256 of the bound public key]
 *   remove:     reason u8 (1 app, 2 holder, 3 reassigned, 4 app_revoked)
 *   expire:     nothing more
 * app-register: app u16, time u32le, idLength u8, id (ASCII)
 * app-revoke:   app u16, time u32le
 * ```
 * A minimal add is 17 bytes. The order and the little-endian time are for the wire: entry
 * bundles are served gzip'd, and gzip codes a run of repeated bytes as one cheap match but every
 * other byte as a literal. Consecutive entries differ in the number's low bytes, the time's low
 * byte and the app; what they share (the time's high bytes, the app's high byte, the TTL, the
 * next entry's length prefix, version, kind and the number's leading zero bytes) then lies in
 * two runs. That takes a bundle of minimal adds from about 9.2 to 8.4 bytes an entry, same
 * size raw (version 1, the same fields with a big-endian time after the app, is not accepted).
 * @module
 */

/** The E.164 number `+<digits>` as an integer, and back. */
export type Subject = number

/** Why a binding was removed. */
export type RemoveReason = 'app' | 'holder' | 'reassigned' | 'app_revoked'

/** One log entry. Times are whole seconds since the epoch. */
export type LogEntry =
  | { kind: 'add' | 'renew'; subject: Subject; app: number; time: number; ttlDays: number; keyFingerprint?: Uint8Array }
  | { kind: 'remove'; subject: Subject; app: number; time: number; reason: RemoveReason }
  | { kind: 'expire'; subject: Subject; app: number; time: number }
  | { kind: 'app-register'; app: number; time: number; id: string }
  | { kind: 'app-revoke'; app: number; time: number }

/** An entry that is not well-formed version 2. */
export class EntryError extends Error {
  override readonly name = 'EntryError'
}

const VERSION = 2
const KINDS = { add: 1, renew: 2, remove: 3, expire: 4, 'app-register': 8, 'app-revoke': 9 } as const
const KIND_BY_CODE: (LogEntry['kind'] | undefined)[] = []
for (const [kind, code] of Object.entries(KINDS)) KIND_BY_CODE[code] = kind as LogEntry['kind']
const REASONS: RemoveReason[] = ['app', 'holder', 'reassigned', 'app_revoked']
const FLAG_KEY = 0x1
const FLAG_LABEL = 0x2
const MAX_SUBJECT = 999_999_999_999_999
const MIN_SUBJECT = 10 // "+1" followed by one digit is the shortest thing E.164 digits can be
const U16 = 0xffff
const U32 = 0xffff_ffff

/** App ids a log may hold: lowercase letters, digits, `.` and `-`, 2 to 64 characters. */
export const APP_ID = /^[a-z0-9.-]{2,64}$/

/**
 * App ids that may be registered from now on: {@link APP_ID} but `..`, the one such id that URL
 * parsing rewrites (a dot segment: `/v1/admin/apps/..` arrives as `/v1/admin/`), so that every
 * new app can be named in a path. A log may still hold a `..` registered earlier.
 */
export const NEW_APP_ID = /^(?!\.\.$)[a-z0-9.-]{2,64}$/

/**
 * The path segment that names app `id`: the id itself, or for `..`, which a URL cannot carry as
 * is (nor percent-encoded once, `%2E%2E` being a dot segment too), `%252E%252E`.
 */
export function appIdPathSegment(id: string): string {
  return id === '..' ? '%252E%252E' : encodeURIComponent(id)
}

/**
 * The app id a path segment names, once the router has percent-decoded it: app ids hold no `%`,
 * so a `%` left means the id was encoded twice ({@link appIdPathSegment}) and is decoded once
 * more. Anything that does not decode is returned as is (and fails {@link APP_ID}).
 */
export function appIdFromPathSegment(decoded: string): string {
  if (!decoded.includes('%')) return decoded
  try {
    return decodeURIComponent(decoded)
  } catch {
    return decoded
  }
}

/** Bytes of a minimal add or renew; with a key fingerprint, {@link MAX_BINDING_ENTRY}. */
export const MIN_BINDING_ENTRY = 17
/** Bytes of the longest binding entry (an add or renew with a key fingerprint). */
export const MAX_BINDING_ENTRY = 49

/** The subject of an E.164 number (`+16505550011` → 16505550011); throws on a non-E.164 string. */
export function subjectOf(e164: string): Subject {
  if (!/^\+[1-9][0-9]{1,14}$/.test(e164)) throw new EntryError(`not an E.164 number`)
  return Number(e164.slice(1))
}

/** The E.164 form of a subject. */
export function e164Of(subject: Subject): string {
  return `+${subject}`
}

/** Encodes an entry; throws {@link EntryError} when a field is out of range. */
export function encodeEntry(e: LogEntry): Uint8Array {
  checkUint(e.app, U16, 'app')
  checkUint(e.time, U32, 'time')
  switch (e.kind) {
    case 'add':
    case 'renew': {
      checkSubject(e.subject)
      checkUint(e.ttlDays, U16, 'ttlDays')
      if (e.ttlDays === 0) throw new EntryError('ttlDays must be at least 1')
      const fp = e.keyFingerprint
      if (fp && fp.length !== 32) throw new EntryError('key fingerprint must be 32 bytes')
      const out = new Uint8Array(fp ? MAX_BINDING_ENTRY : MIN_BINDING_ENTRY)
      encodeBindingEntryInto(e.kind, e.subject, e.app, e.time, e.ttlDays, fp, out, 0)
      return out
    }
    case 'remove': {
      checkSubject(e.subject)
      const reason = REASONS.indexOf(e.reason)
      if (reason < 0) throw new EntryError('unknown remove reason')
      const out = new Uint8Array(16)
      writeSubjectHead(out, 0, KINDS.remove, e.subject, e.time, e.app)
      out[15] = reason + 1
      return out
    }
    case 'expire': {
      checkSubject(e.subject)
      const out = new Uint8Array(15)
      writeSubjectHead(out, 0, KINDS.expire, e.subject, e.time, e.app)
      return out
    }
    case 'app-register': {
      if (!APP_ID.test(e.id)) throw new EntryError('invalid app id')
      const out = new Uint8Array(9 + e.id.length)
      writeAppHead(out, KINDS[e.kind], e.app, e.time)
      out[8] = e.id.length
      for (let i = 0; i < e.id.length; i++) out[9 + i] = e.id.charCodeAt(i)
      return out
    }
    case 'app-revoke': {
      const out = new Uint8Array(8)
      writeAppHead(out, KINDS[e.kind], e.app, e.time)
      return out
    }
  }
}

/**
 * Writes the add or renew entry `{kind, subject, app, time, ttlDays, keyFingerprint}` at
 * `out[at..]` and returns its length (17, or 49 with a key), or -1 when {@link encodeEntry}
 * would refuse a field (then nothing was written). `encodeEntry` without the entry object or a
 * fresh array, for checking millions of snapshot bindings against the log's leaf hashes.
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
  if (!Number.isInteger(app) || app < 0 || app > U16) return -1
  if (!Number.isInteger(time) || time < 0 || time > U32) return -1
  if (!Number.isSafeInteger(subject) || subject < MIN_SUBJECT || subject > MAX_SUBJECT) return -1
  if (!Number.isInteger(ttlDays) || ttlDays < 1 || ttlDays > U16) return -1
  if (keyFingerprint && keyFingerprint.length !== 32) return -1
  writeSubjectHead(out, at, (kind === 'add' ? KINDS.add : KINDS.renew) | ((keyFingerprint ? FLAG_KEY : 0) << 4), subject, time, app)
  out[at + 15] = ttlDays >>> 8
  out[at + 16] = ttlDays & 0xff
  if (!keyFingerprint) return MIN_BINDING_ENTRY
  out.set(keyFingerprint, at + MIN_BINDING_ENTRY)
  return MAX_BINDING_ENTRY
}

/** Decodes an entry strictly: exact length, known version, kind and flags; throws {@link EntryError}. */
export function decodeEntry(bytes: Uint8Array): LogEntry {
  const n = bytes.length
  if (n < 8) throw new EntryError('entry too short')
  if (bytes[0] !== VERSION) throw new EntryError(`unsupported entry version ${bytes[0]}`)
  const kind = KIND_BY_CODE[bytes[1]! & 0x0f]
  const flags = bytes[1]! >>> 4
  if (!kind) throw new EntryError(`unknown entry kind ${bytes[1]! & 0x0f}`)
  if (flags & FLAG_LABEL) throw new EntryError('keyed-label entries are not supported by this version')
  const hasKey = (flags & FLAG_KEY) !== 0
  if (flags & ~FLAG_KEY || (hasKey && kind !== 'add' && kind !== 'renew')) throw new EntryError('invalid entry flags')
  if (kind === 'app-register' || kind === 'app-revoke') {
    const app = u16(bytes, 2)
    const time = u32le(bytes, 4)
    if (kind === 'app-revoke') {
      checkLength(kind, n, 8)
      return { kind, app, time }
    }
    if (n < 9) throw new EntryError('entry too short')
    checkLength(kind, n, 9 + bytes[8]!)
    const id = String.fromCharCode(...bytes.subarray(9))
    if (!APP_ID.test(id)) throw new EntryError('invalid app id')
    return { kind, app, time, id }
  }
  if (n < 15) throw new EntryError('entry too short')
  const subject = readSubject(bytes)
  checkSubject(subject)
  const time = u32le(bytes, 9)
  const app = u16(bytes, 13)
  switch (kind) {
    case 'add':
    case 'renew': {
      checkLength(kind, n, hasKey ? MAX_BINDING_ENTRY : MIN_BINDING_ENTRY)
      const ttlDays = u16(bytes, 15)
      if (ttlDays === 0) throw new EntryError('ttlDays must be at least 1')
      return hasKey
        ? { kind, subject, app, time, ttlDays, keyFingerprint: bytes.slice(MIN_BINDING_ENTRY, MAX_BINDING_ENTRY) }
        : { kind, subject, app, time, ttlDays }
    }
    case 'remove': {
      checkLength(kind, n, 16)
      const reason = REASONS[bytes[15]! - 1]
      if (!reason) throw new EntryError('unknown remove reason')
      return { kind, subject, app, time, reason }
    }
    default:
      checkLength(kind, n, 15)
      return { kind: 'expire', subject, app, time }
  }
}

/**
 * The subject an encoded entry names, read from its bytes without decoding or checking it: 0
 * for an app entry or anything not version 2. For looking ahead (a mirror loads the records
 * of the next entries before it folds them); the fold itself decodes strictly.
 */
export function subjectOfEncoded(bytes: Uint8Array): Subject {
  if (bytes.length < 15 || bytes[0] !== VERSION) return 0
  const kind = bytes[1]! & 0x0f
  if (kind < KINDS.add || kind > KINDS.expire) return 0
  return readSubject(bytes)
}

/** The TTL in days of an encoded add or renew entry. */
export function ttlDaysOf(bindingEntry: Uint8Array): number {
  return u16(bindingEntry, 15)
}

// Version, kind byte, subject u56, time u32le, app u16: bytes 0-14 of kinds 1-4.
function writeSubjectHead(out: Uint8Array, at: number, kindByte: number, subject: number, time: number, app: number): void {
  out[at] = VERSION
  out[at + 1] = kindByte
  const lo = subject % 2 ** 32
  const hi = (subject - lo) / 2 ** 32
  out[at + 2] = (hi >>> 16) & 0xff
  out[at + 3] = (hi >>> 8) & 0xff
  out[at + 4] = hi & 0xff
  out[at + 5] = lo >>> 24
  out[at + 6] = (lo >>> 16) & 0xff
  out[at + 7] = (lo >>> 8) & 0xff
  out[at + 8] = lo & 0xff
  writeU32le(out, at + 9, time)
  out[at + 13] = app >>> 8
  out[at + 14] = app & 0xff
}

// The subject u56 at bytes 2-8 (below 2^50: its high 24 bits and low 32 each fit an int).
function readSubject(b: Uint8Array): Subject {
  return ((b[2]! << 16) | (b[3]! << 8) | b[4]!) * 2 ** 32 + (((b[5]! << 24) | (b[6]! << 16) | (b[7]! << 8) | b[8]!) >>> 0)
}

function writeAppHead(out: Uint8Array, kindByte: number, app: number, time: number): void {
  out[0] = VERSION
  out[1] = kindByte
  out[2] = app >>> 8
  out[3] = app & 0xff
  writeU32le(out, 4, time)
}

function writeU32le(out: Uint8Array, at: number, v: number): void {
  out[at] = v & 0xff
  out[at + 1] = (v >>> 8) & 0xff
  out[at + 2] = (v >>> 16) & 0xff
  out[at + 3] = v >>> 24
}

const u16 = (b: Uint8Array, at: number) => (b[at]! << 8) | b[at + 1]!
const u32le = (b: Uint8Array, at: number) => (b[at]! | (b[at + 1]! << 8) | (b[at + 2]! << 16) | (b[at + 3]! << 24)) >>> 0

function checkLength(kind: LogEntry['kind'], got: number, want: number): void {
  if (got !== want) throw new EntryError(`${kind} entry must be ${want} bytes, got ${got}`)
}

function checkUint(v: number, max: number, what: string): void {
  if (!Number.isInteger(v) || v < 0 || v > max) throw new EntryError(`${what} out of range`)
}

function checkSubject(s: number): void {
  if (!Number.isSafeInteger(s) || s < MIN_SUBJECT || s > MAX_SUBJECT) throw new EntryError('subject out of range')
}
