/**
 * Credentials: a statement signed by the log key that a number is bound to an app (and,
 * optionally, to a user public key), with its issue and expiry times and the log entry that
 * recorded it. An app presents one to another app, which checks it offline with the pinned log
 * key (the SPIN-style flow of the design essay).
 *
 * The body is a signed note whose first line can never be a checkpoint's origin:
 * ```
 * whodis.credential/v1
 * <log origin>
 * phone +16505550011
 * app appa
 * [key <base64url public key>]
 * verified <seconds since epoch>
 * expires <seconds since epoch>
 * index <log index>
 * entry <base64 of the log entry bytes>
 * ```
 * The entry is the exact leaf the log holds at `index`, so a receipt (inclusion proof) for it
 * ties the credential to the public log; every field above is checked against it.
 * @module
 */
import { sha256 } from '@noble/hashes/sha2.js'
import { constantTimeEqual, fromBase64, toBase64, toBase64Url } from './bytes.ts'
import { decodeEntry, e164Of, EntryError, type LogEntry } from './entry.ts'
import type { NoteVerifierKey } from './note-keys.ts'
import { NoteError, openNote, signNote, type NoteSigner } from './note.ts'
import { DAY_SECONDS } from './state.ts'

const HEADER = 'whodis.credential/v1'

/** What a credential states. Times are seconds since the epoch. */
export interface Credential {
  origin: string
  phone: string
  app: string
  publicKey?: string
  verifiedAt: number
  expiresAt: number
  index: number
  /** The log entry bytes (an add or renew). */
  entry: Uint8Array
}

/** Why a credential was refused. */
export class CredentialError extends Error {
  override readonly name = 'CredentialError'
  constructor(
    readonly code: 'malformed' | 'bad_signature' | 'wrong_log' | 'mismatch' | 'expired',
    message: string,
  ) {
    super(message)
  }
}

/** The note body of a credential. */
export function formatCredential(c: Credential): string {
  return (
    `${HEADER}\n${c.origin}\nphone ${c.phone}\napp ${c.app}\n` +
    (c.publicKey ? `key ${c.publicKey}\n` : '') +
    `verified ${c.verifiedAt}\nexpires ${c.expiresAt}\nindex ${c.index}\nentry ${toBase64(c.entry)}\n`
  )
}

/** Signs a credential with the log key. */
export async function signCredential(c: Credential, signer: NoteSigner): Promise<string> {
  checkConsistent(c)
  return signNote(formatCredential(c), signer)
}

const BODY =
  /^whodis\.credential\/v1\n([^\n]+)\nphone (\+[1-9][0-9]{1,14})\napp ([a-z0-9.-]{2,64})\n(?:key ([A-Za-z0-9_-]{43,1366})\n)?verified (0|[1-9][0-9]{0,9})\nexpires (0|[1-9][0-9]{0,10})\nindex (0|[1-9][0-9]{0,15})\nentry ([A-Za-z0-9+/]+={0,2})\n$/

/** Parses a credential body strictly and checks it against its entry; throws {@link CredentialError}. */
export function parseCredential(text: string): Credential {
  const m = BODY.exec(text)
  if (!m) throw new CredentialError('malformed', 'not a whodis credential')
  let entry: Uint8Array
  try {
    entry = fromBase64(m[8]!)
  } catch {
    throw new CredentialError('malformed', 'credential entry is not base64')
  }
  const c: Credential = {
    origin: m[1]!,
    phone: m[2]!,
    app: m[3]!,
    verifiedAt: Number(m[5]),
    expiresAt: Number(m[6]),
    index: Number(m[7]),
    entry,
  }
  if (m[4]) c.publicKey = m[4]
  if (!Number.isSafeInteger(c.index)) throw new CredentialError('malformed', 'credential index out of range')
  checkConsistent(c)
  return c
}

/**
 * Verifies a credential note with the pinned log key, offline: the signature, the log origin,
 * every field against the embedded entry and, when `nowSeconds` is given, that it has not
 * expired. Returns what it states.
 */
export async function verifyCredential(
  note: string,
  logKey: NoteVerifierKey,
  opts: { nowSeconds?: number } = {},
): Promise<Credential> {
  let text: string
  try {
    text = (await openNote(note, [logKey])).text
  } catch (err) {
    if (err instanceof NoteError) {
      throw new CredentialError(err.code === 'malformed' || err.code === 'too_big' ? 'malformed' : 'bad_signature', err.message)
    }
    throw err
  }
  const c = parseCredential(text)
  if (c.origin !== logKey.name) throw new CredentialError('wrong_log', `credential is from log ${c.origin}, not ${logKey.name}`)
  if (opts.nowSeconds !== undefined && opts.nowSeconds >= c.expiresAt) {
    throw new CredentialError('expired', 'credential has expired')
  }
  return c
}

// The human-readable fields must say exactly what the entry says.
function checkConsistent(c: Credential): void {
  let e: LogEntry
  try {
    e = decodeEntry(c.entry)
  } catch (err) {
    if (err instanceof EntryError) throw new CredentialError('malformed', `credential entry: ${err.message}`)
    throw err
  }
  const mismatch = (what: string) => new CredentialError('mismatch', `credential ${what} does not match its log entry`)
  if (e.kind !== 'add' && e.kind !== 'renew') throw mismatch('entry kind')
  if (e164Of(e.subject) !== c.phone) throw mismatch('phone')
  if (e.time !== c.verifiedAt) throw mismatch('verified time')
  if (e.time + e.ttlDays * DAY_SECONDS !== c.expiresAt) throw mismatch('expiry')
  if (c.publicKey) {
    let key: Uint8Array
    try {
      key = fromBase64(c.publicKey)
    } catch {
      throw new CredentialError('malformed', 'credential key is not base64url')
    }
    if (toBase64Url(key) !== c.publicKey) throw new CredentialError('malformed', 'credential key is not canonical base64url')
    if (!e.keyFingerprint || !constantTimeEqual(sha256(key), e.keyFingerprint)) throw mismatch('key')
  } else if (e.keyFingerprint) {
    throw mismatch('key')
  }
}
