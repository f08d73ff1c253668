/**
 * C2SP signed notes (https://c2sp.org/signed-note), byte for byte as Go's
 * `golang.org/x/mod/sumdb/note` writes and reads them:
 *
 *     <text, ending in "\n">
 *     <blank line>
 *     — <key name> <base64(4-byte key id || Ed25519 signature)>\n   (one or more)
 *
 * The text is everything up to and including the newline before the LAST blank line, so it
 * may itself contain blank lines and lines starting with "— ".
 * @module
 */
import { concat, fromStdBase64, toBase64, toHex, utf8 } from './bytes.ts'
import { signerFromSeed, verifyEd25519 } from './ed25519.ts'
import { formatVerifierKey, isValidKeyName, noteKeyId, parseSignerKey, type NoteVerifierKey } from './note-keys.ts'

/** Largest note accepted or produced, in UTF-8 bytes. */
export const MAX_NOTE_BYTES = 1 << 20

/** Most signature lines a note may carry (Go's limit). */
export const MAX_NOTE_SIGNATURES = 100

/** Why a note was rejected. */
export type NoteErrorCode = 'malformed' | 'unverified' | 'bad_signature' | 'too_big'

/** A note that failed to parse or verify; `code` says which way. */
export class NoteError extends Error {
  override name = 'NoteError'
  constructor(
    readonly code: NoteErrorCode,
    message: string,
  ) {
    super(message)
  }
}

/** An Ed25519 key that signs notes. */
export interface NoteSigner {
  name: string
  /** Four-byte key id, as in the key strings. */
  keyId: Uint8Array
  publicKey: Uint8Array
  sign(message: Uint8Array): Promise<Uint8Array>
}

/** One signature line of a note, not yet verified. */
export interface NoteSignature {
  name: string
  keyId: Uint8Array
  /** The signature bytes after the key id. */
  signature: Uint8Array
  /** The base64 field exactly as written. */
  base64: string
}

/** The result of opening a note: its text, the known keys that signed it, and the other signers. */
export interface OpenedNote {
  text: string
  verified: NoteVerifierKey[]
  unknown: { name: string; keyId: Uint8Array }[]
}

const SIGNATURE_PREFIX = '\u2014 '

/**
 * Builds a signer from a `PRIVATE+KEY+<name>+<keyid>+<key>` string; throws if the key id in the
 * string is not the id of the key derived from the seed.
 */
export async function noteSignerFromKey(signerKey: string): Promise<NoteSigner> {
  const { name, keyId, seed } = parseSignerKey(signerKey)
  const { publicKey, sign } = await signerFromSeed(seed)
  if (toHex(noteKeyId(name, publicKey)) !== toHex(keyId)) throw new Error('signer key id does not match its key')
  return { name, keyId, publicKey, sign }
}

/** The verifier key string (`<name>+<keyid>+<key>`) of a signer. */
export function verifierKeyOf(signer: NoteSigner): string {
  return formatVerifierKey(signer.name, signer.publicKey)
}

/**
 * Signs `text` with each signer, in order. The text must be non-empty, end in "\n", and hold
 * no control characters other than "\n" (a note that Go's `note.Open` could not read is never
 * produced); throws NoteError 'malformed' otherwise, 'too_big' past MAX_NOTE_BYTES.
 */
export async function signNote(text: string, ...signers: NoteSigner[]): Promise<string> {
  if (text.length > MAX_NOTE_BYTES) throw new NoteError('too_big', `note exceeds ${MAX_NOTE_BYTES} bytes`)
  if (!text.endsWith('\n')) throw new NoteError('malformed', 'note text must end in a newline')
  const bad = badCharacter(text)
  if (bad) throw new NoteError('malformed', `note text ${bad}`)
  if (signers.length === 0) throw new Error('signNote needs at least one signer')
  if (signers.length > MAX_NOTE_SIGNATURES) throw new NoteError('too_big', 'too many signers')
  const message = utf8(text)
  let note = `${text}\n`
  for (const signer of signers) {
    if (!isNoteKeyName(signer.name)) throw new Error(`invalid signer name ${JSON.stringify(signer.name)}`)
    if (signer.keyId.length !== 4) throw new Error('signer key id must be 4 bytes')
    const signature = await signer.sign(message)
    note += `${SIGNATURE_PREFIX}${signer.name} ${toBase64(concat(signer.keyId, signature))}\n`
  }
  if (utf8(note).length > MAX_NOTE_BYTES) throw new NoteError('too_big', `note exceeds ${MAX_NOTE_BYTES} bytes`)
  return note
}

/**
 * Splits a note into its text and signature lines without verifying anything, with Go's
 * syntax rules; throws NoteError 'malformed' or 'too_big'. Bytes must be valid UTF-8.
 */
export function splitNote(note: string | Uint8Array): { text: string; signatures: NoteSignature[] } {
  const message = typeof note === 'string' ? note : decodeUtf8(note)
  if (message.length > MAX_NOTE_BYTES || utf8(message).length > MAX_NOTE_BYTES) {
    throw new NoteError('too_big', `note exceeds ${MAX_NOTE_BYTES} bytes`)
  }
  const bad = badCharacter(message)
  if (bad) throw new NoteError('malformed', `note ${bad}`)
  const split = message.lastIndexOf('\n\n')
  if (split < 0) throw new NoteError('malformed', 'note has no blank line before its signatures')
  const text = message.slice(0, split + 1)
  const block = message.slice(split + 2)
  if (block === '' || !block.endsWith('\n')) throw new NoteError('malformed', 'note must end with a signature line')
  const lines = block.slice(0, -1).split('\n')
  if (lines.length > MAX_NOTE_SIGNATURES) throw new NoteError('too_big', `note has more than ${MAX_NOTE_SIGNATURES} signatures`)
  return { text, signatures: lines.map(parseSignatureLine) }
}

/**
 * Opens a note with the given known keys. Signatures by unknown keys (name and key id not both
 * matching a known key) are listed in `unknown`. Every signature line of a known key must
 * verify, repeated ones too (C2SP signed-note: "verifiers MUST verify the signature"), or the
 * note throws NoteError 'bad_signature'; Go's `note.Open` checks only the first line of each
 * key, so it accepts a valid signature followed by an invalid one, and this does not. A note no
 * known key signed throws 'unverified'; syntax errors throw 'malformed' or 'too_big'. Each key
 * is listed once in `verified`, repeated unknown lines once in `unknown`. Throws a plain Error
 * if two different known keys share a name and key id, or a known key is not an Ed25519 note
 * key (a witness's cosignature/v1 key verifies cosignatures, never a note by itself).
 */
export async function openNote(note: string | Uint8Array, verifiers: NoteVerifierKey[]): Promise<OpenedNote> {
  for (const v of verifiers) {
    if (v.type !== undefined && v.type !== 'ed25519') throw new Error(`${v.name} is a ${String(v.type)} key, not an Ed25519 note key`)
  }
  const { text, signatures } = splitNote(note)
  const message = utf8(text)
  const verified: NoteVerifierKey[] = []
  const unknown: OpenedNote['unknown'] = []
  const verifiedKeys = new Set<string>()
  const verifiedSignatures = new Set<string>()
  const seenUnknownLines = new Set<string>()
  for (const sig of signatures) {
    const id = `${sig.name}+${toHex(sig.keyId)}`
    const matches = verifiers.filter((v) => v.name === sig.name && toHex(v.keyId) === toHex(sig.keyId))
    const key = matches[0]
    if (!key) {
      const line = `${sig.name} ${sig.base64}`
      if (!seenUnknownLines.has(line)) unknown.push({ name: sig.name, keyId: sig.keyId })
      seenUnknownLines.add(line)
      continue
    }
    if (matches.some((m) => toHex(m.publicKey) !== toHex(key.publicKey))) throw new Error(`ambiguous key ${id}`)
    // The same bytes under the same key verify the same way: checked once.
    const signed = `${id} ${toHex(sig.signature)}`
    if (verifiedSignatures.has(signed)) continue
    if (!(await verifyEd25519(key.publicKey, message, sig.signature))) {
      throw new NoteError('bad_signature', `invalid signature for key ${id}`)
    }
    verifiedSignatures.add(signed)
    if (!verifiedKeys.has(id)) verified.push(key)
    verifiedKeys.add(id)
  }
  if (verified.length === 0) {
    const names = unknown.map((u) => `${u.name}+${toHex(u.keyId)}`).join(', ')
    throw new NoteError('unverified', `note has no signature by a known key (signed by: ${names})`)
  }
  return { text, verified, unknown }
}

/** Whether `name` may name a note key (see `isValidKeyName` in note-keys.ts, the one definition). */
export const isNoteKeyName = isValidKeyName

function parseSignatureLine(line: string): NoteSignature {
  if (!line.startsWith(SIGNATURE_PREFIX)) throw new NoteError('malformed', 'note has a line that is not a signature after its blank line')
  const rest = line.slice(SIGNATURE_PREFIX.length)
  const space = rest.indexOf(' ')
  const name = space < 0 ? rest : rest.slice(0, space)
  const base64 = space < 0 ? '' : rest.slice(space + 1)
  if (!isNoteKeyName(name)) throw new NoteError('malformed', 'note signature has an invalid key name')
  let raw: Uint8Array
  try {
    raw = fromStdBase64(base64) // Go's base64.StdEncoding: standard alphabet, padded
  } catch {
    throw new NoteError('malformed', 'note signature is not base64')
  }
  if (raw.length < 5) throw new NoteError('malformed', 'note signature is too short')
  return { name, keyId: raw.slice(0, 4), signature: raw.slice(4), base64 }
}

// Describes the first character a note may not contain, or returns null.
function badCharacter(text: string): string | null {
  if (/[\x00-\x09\x0b-\x1f]/.test(text)) return 'contains a control character'
  if (/\p{Cs}/u.test(text)) return 'is not valid UTF-8 (unpaired surrogate)'
  return null
}

function decodeUtf8(bytes: Uint8Array): string {
  if (bytes.length > MAX_NOTE_BYTES) throw new NoteError('too_big', `note exceeds ${MAX_NOTE_BYTES} bytes`)
  try {
    return new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes)
  } catch {
    throw new NoteError('malformed', 'note is not valid UTF-8')
  }
}
