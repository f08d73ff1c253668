/**
 * Log entries: the compact, versioned binary form of every directory change. The directory's
 * state is the deterministic fold of these entries ({@link DirectoryState}), so a mirror that
 * replays the log holds exactly what the directory serves.
 *
 * Version 1 layout (big-endian):
 * ```
 * byte 0   version = 1
 * byte 1   kind (low 4 bits) | flags << 4
 *          kinds: 1 add, 2 renew, 3 remove, 4 expire, 8 app-register, 9 app-revoke
 *          flags: 0x1 key fingerprint present (add, renew)
 *                 0x2 subject is a 32-byte keyed label instead of a number (reserved: a later
 *                     mode that hides numbers from the log; version 1 decoders refuse it)
 * kinds 1-4: subject u56 (the E.164 digits as an integer), app u16, time u32 (seconds)
 *   add, renew: ttlDays u16 [, 32-byte SHA-256 of the bound public key]
 *   remove:     reason u8 (1 app, 2 holder, 3 reassigned, 4 app_revoked)
 *   expire:     nothing more
 * app-register: app u16, time u32, idLength u8, id (ASCII)
 * app-revoke:   app u16, time u32
 * ```
 * A minimal add is 17 bytes.
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

/** An entry that is not well-formed version 1. */
export class EntryError extends Error {
  override readonly name = 'EntryError'
}

const VERSION = 1
const KINDS = { add: 1, renew: 2, remove: 3, expire: 4, 'app-register': 8, 'app-revoke': 9 } as const
const KIND_BY_CODE = new Map(Object.entries(KINDS).map(([k, v]) => [v as number, k as LogEntry['kind']]))
const REASONS: RemoveReason[] = ['app', 'holder', 'reassigned', 'app_revoked']
const FLAG_KEY = 0x1
const FLAG_LABEL = 0x2
const APP_ID = /^[a-z0-9.-]{2,64}$/
const MAX_SUBJECT = 999_999_999_999_999
const MIN_SUBJECT = 10 // "+1" followed by one digit is the shortest thing E.164 digits can be
const U16 = 0xffff
const U32 = 0xffff_ffff

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
      const out = new Uint8Array(17 + (fp ? 32 : 0))
      head(out, e.kind, fp ? FLAG_KEY : 0, e.subject, e.app, e.time)
      out[15] = e.ttlDays >>> 8
      out[16] = e.ttlDays & 0xff
      if (fp) out.set(fp, 17)
      return out
    }
    case 'remove': {
      checkSubject(e.subject)
      const reason = REASONS.indexOf(e.reason)
      if (reason < 0) throw new EntryError('unknown remove reason')
      const out = new Uint8Array(16)
      head(out, e.kind, 0, e.subject, e.app, e.time)
      out[15] = reason + 1
      return out
    }
    case 'expire': {
      checkSubject(e.subject)
      const out = new Uint8Array(15)
      head(out, e.kind, 0, e.subject, e.app, e.time)
      return out
    }
    case 'app-register': {
      if (!APP_ID.test(e.id)) throw new EntryError('invalid app id')
      const out = new Uint8Array(9 + e.id.length)
      appHead(out, e.kind, e.app, e.time)
      out[8] = e.id.length
      for (let i = 0; i < e.id.length; i++) out[9 + i] = e.id.charCodeAt(i)
      return out
    }
    case 'app-revoke': {
      const out = new Uint8Array(8)
      appHead(out, e.kind, e.app, e.time)
      return out
    }
  }
}

/** Decodes an entry strictly: exact length, known version, kind and flags; throws {@link EntryError}. */
export function decodeEntry(bytes: Uint8Array): LogEntry {
  if (bytes.length < 8) throw new EntryError('entry too short')
  if (bytes[0] !== VERSION) throw new EntryError(`unsupported entry version ${bytes[0]}`)
  const kind = KIND_BY_CODE.get(bytes[1]! & 0x0f)
  const flags = bytes[1]! >>> 4
  if (!kind) throw new EntryError(`unknown entry kind ${bytes[1]! & 0x0f}`)
  if (flags & FLAG_LABEL) throw new EntryError('keyed-label entries are not supported by this version')
  const hasKey = (flags & FLAG_KEY) !== 0
  if (flags & ~FLAG_KEY || (hasKey && kind !== 'add' && kind !== 'renew')) throw new EntryError('invalid entry flags')
  const length = (n: number) => {
    if (bytes.length !== n) throw new EntryError(`${kind} entry must be ${n} bytes, got ${bytes.length}`)
  }
  if (kind === 'app-register' || kind === 'app-revoke') {
    const app = u16(bytes, 2)
    const time = u32(bytes, 4)
    if (kind === 'app-revoke') {
      length(8)
      return { kind, app, time }
    }
    if (bytes.length < 9) throw new EntryError('entry too short')
    length(9 + bytes[8]!)
    const id = String.fromCharCode(...bytes.subarray(9))
    if (!APP_ID.test(id)) throw new EntryError('invalid app id')
    return { kind, app, time, id }
  }
  if (bytes.length < 15) throw new EntryError('entry too short')
  let subject = 0
  for (let i = 2; i < 9; i++) subject = subject * 256 + bytes[i]!
  checkSubject(subject)
  const app = u16(bytes, 9)
  const time = u32(bytes, 11)
  switch (kind) {
    case 'add':
    case 'renew': {
      length(hasKey ? 49 : 17)
      const ttlDays = u16(bytes, 15)
      if (ttlDays === 0) throw new EntryError('ttlDays must be at least 1')
      const e: LogEntry = { kind, subject, app, time, ttlDays }
      if (hasKey) e.keyFingerprint = bytes.slice(17, 49)
      return e
    }
    case 'remove': {
      length(16)
      const reason = REASONS[bytes[15]! - 1]
      if (!reason) throw new EntryError('unknown remove reason')
      return { kind, subject, app, time, reason }
    }
    default:
      length(15)
      return { kind: 'expire', subject, app, time }
  }
}

function head(out: Uint8Array, kind: LogEntry['kind'], flags: number, subject: number, app: number, time: number): void {
  out[0] = VERSION
  out[1] = KINDS[kind] | (flags << 4)
  let s = subject
  for (let i = 8; i >= 2; i--) {
    out[i] = s % 256
    s = Math.floor(s / 256)
  }
  out[9] = app >>> 8
  out[10] = app & 0xff
  writeU32(out, 11, time)
}

function appHead(out: Uint8Array, kind: LogEntry['kind'], app: number, time: number): void {
  out[0] = VERSION
  out[1] = KINDS[kind]
  out[2] = app >>> 8
  out[3] = app & 0xff
  writeU32(out, 4, time)
}

function writeU32(out: Uint8Array, at: number, v: number): void {
  out[at] = v >>> 24
  out[at + 1] = (v >>> 16) & 0xff
  out[at + 2] = (v >>> 8) & 0xff
  out[at + 3] = v & 0xff
}

const u16 = (b: Uint8Array, at: number) => (b[at]! << 8) | b[at + 1]!
const u32 = (b: Uint8Array, at: number) => ((b[at]! << 24) >>> 0) + (b[at + 1]! << 16) + (b[at + 2]! << 8) + b[at + 3]!

function checkUint(v: number, max: number, what: string): void {
  if (!Number.isInteger(v) || v < 0 || v > max) throw new EntryError(`${what} out of range`)
}

function checkSubject(s: number): void {
  if (!Number.isSafeInteger(s) || s < MIN_SUBJECT || s > MAX_SUBJECT) throw new EntryError('subject out of range')
}
