/**
 * Keys in the C2SP signed-note text forms (the same strings Go's `sumdb/note` reads): signer
 * `PRIVATE+KEY+<name>+<hex keyid>+<base64 0x01||seed>` and verifier ("vkey")
 * `<name>+<hex keyid>+<base64 type||pubkey>`, with the key id in lowercase hex and the key in
 * standard base64 (https://c2sp.org/signed-note).
 *
 * Two verifier key types are read, and kept apart by their `type`:
 * - `0x01` Ed25519 note signatures: the log's key, the only kind that opens a note here;
 * - `0x04` timestamped Ed25519 witness cosignatures (https://c2sp.org/tlog-cosignature): a
 *   witness's key, parsed so that it can be pinned, never used as a log key.
 * @module
 */
import { sha256 } from '@noble/hashes/sha2.js'
import { concat, fromStdBase64, toBase64, toHex, utf8 } from './bytes.ts'

/** Signature type byte of Ed25519 note signatures. */
export const ALG_ED25519 = 0x01
/** Signature type byte of Ed25519 cosignature/v1 witness cosignatures. */
export const ALG_COSIGNATURE_V1 = 0x04

/** A parsed Ed25519 note signer key. */
export interface NoteSignerKey {
  name: string
  /** First four bytes of SHA-256(name || "\n" || 0x01 || pubkey). */
  keyId: Uint8Array
  seed: Uint8Array
}

/** A parsed Ed25519 note verifier key (type 0x01): the kind of key a log signs checkpoints with. */
export interface NoteVerifierKey {
  type: 'ed25519'
  name: string
  /** First four bytes of SHA-256(name || "\n" || 0x01 || pubkey). */
  keyId: Uint8Array
  publicKey: Uint8Array
}

/** A parsed witness key (type 0x04, cosignature/v1): it verifies timestamped cosignatures only. */
export interface CosignatureVerifierKey {
  type: 'cosignature/v1'
  name: string
  /** First four bytes of SHA-256(name || "\n" || 0x04 || pubkey). */
  keyId: Uint8Array
  publicKey: Uint8Array
}

/** Any verifier key this module reads. */
export type AnyVerifierKey = NoteVerifierKey | CosignatureVerifierKey

const TYPE_BYTE = { ed25519: ALG_ED25519, 'cosignature/v1': ALG_COSIGNATURE_V1 } as const

/**
 * Key names (C2SP signed-note): non-empty, no Unicode white space, no `+`; and, since a name
 * is written into notes, which must be valid UTF-8 without ASCII control characters, none of
 * those either (no note could carry such a name).
 */
export function isValidKeyName(name: string): boolean {
  return name !== '' && !/[+\p{White_Space}\x00-\x1f]/u.test(name) && !/\p{Cs}/u.test(name)
}

/** The four-byte key id of a key named `name` (Ed25519 note key unless `type` says otherwise). */
export function noteKeyId(name: string, publicKey: Uint8Array, type: AnyVerifierKey['type'] = 'ed25519'): Uint8Array {
  return sha256(concat(utf8(name), utf8('\n'), Uint8Array.of(TYPE_BYTE[type]), publicKey)).subarray(0, 4)
}

/** Formats a verifier key string (an Ed25519 note key unless `type` says otherwise). */
export function formatVerifierKey(name: string, publicKey: Uint8Array, type: AnyVerifierKey['type'] = 'ed25519'): string {
  return `${name}+${toHex(noteKeyId(name, publicKey, type))}+${toBase64(concat(Uint8Array.of(TYPE_BYTE[type]), publicKey))}`
}

/**
 * Parses a verifier key string of either type; throws on a malformed key, an unsupported type,
 * or a key id that is not the key's.
 */
export function parseAnyVerifierKey(text: string): AnyVerifierKey {
  const parts = splitPlus(text, 3)
  if (!parts) throw new Error('verifier key must be <name>+<hex keyid>+<base64 key>')
  const [name, idHex, keyB64] = parts as [string, string, string]
  if (!isValidKeyName(name)) throw new Error('verifier key has an invalid name')
  if (!/^[0-9a-f]{8}$/.test(idHex)) throw new Error('verifier key id must be 8 lowercase hex digits')
  const raw = decodeKey(keyB64, 'verifier')
  if (raw.length === 0) throw new Error('verifier key has no key bytes')
  const type = raw[0] === ALG_ED25519 ? 'ed25519' : raw[0] === ALG_COSIGNATURE_V1 ? 'cosignature/v1' : null
  if (!type) throw new Error(`verifier key has unsupported signature type 0x${raw[0]!.toString(16).padStart(2, '0')}`)
  if (raw.length !== 33) throw new Error(`verifier key is not a 32-byte Ed25519 key`)
  const publicKey = raw.subarray(1)
  const keyId = noteKeyId(name, publicKey, type)
  if (toHex(keyId) !== idHex) throw new Error('verifier key id does not match its key')
  return { type, name, keyId, publicKey }
}

/** Parses a log's verifier key (type 0x01); a witness key (0x04) or anything else throws. */
export function parseVerifierKey(text: string): NoteVerifierKey {
  const key = parseAnyVerifierKey(text)
  if (key.type !== 'ed25519') throw new Error('verifier key is a witness cosignature/v1 key (type 0x04), not a log key (type 0x01)')
  return key
}

/** Parses a witness's cosignature/v1 verifier key (type 0x04); a log key (0x01) or anything else throws. */
export function parseCosignatureVerifierKey(text: string): CosignatureVerifierKey {
  const key = parseAnyVerifierKey(text)
  if (key.type !== 'cosignature/v1') throw new Error('verifier key is a log key (type 0x01), not a witness cosignature/v1 key (type 0x04)')
  return key
}

/** Parses a signer key string (`PRIVATE+KEY+...`); the key id is checked once the public key is known. */
export function parseSignerKey(text: string): NoteSignerKey {
  const parts = splitPlus(text, 5)
  if (!parts || parts[0] !== 'PRIVATE' || parts[1] !== 'KEY') {
    throw new Error('signer key must be PRIVATE+KEY+<name>+<hex keyid>+<base64 key>')
  }
  const [, , name, idHex, keyB64] = parts as [string, string, string, string, string]
  if (!isValidKeyName(name)) throw new Error('signer key has an invalid name')
  if (!/^[0-9a-f]{8}$/.test(idHex)) throw new Error('signer key id must be 8 lowercase hex digits')
  const raw = decodeKey(keyB64, 'signer')
  if (raw.length !== 33 || raw[0] !== ALG_ED25519) throw new Error('signer key is not an Ed25519 key')
  return { name, keyId: Uint8Array.from(idHex.match(/../g)!.map((h) => parseInt(h, 16))), seed: raw.subarray(1) }
}

/** Formats a signer key string. */
export function formatSignerKey(name: string, seed: Uint8Array, publicKey: Uint8Array): string {
  return `PRIVATE+KEY+${name}+${toHex(noteKeyId(name, publicKey))}+${toBase64(concat(Uint8Array.of(ALG_ED25519), seed))}`
}

function decodeKey(text: string, kind: 'signer' | 'verifier'): Uint8Array {
  try {
    return fromStdBase64(text)
  } catch {
    throw new Error(`${kind} key is not standard base64`)
  }
}

// Splits on the first n-1 `+` only: the base64 key at the end may itself contain `+`.
function splitPlus(text: string, n: number): string[] | null {
  const out: string[] = []
  let rest = text
  for (let i = 0; i < n - 1; i++) {
    const at = rest.indexOf('+')
    if (at < 0) return null
    out.push(rest.slice(0, at))
    rest = rest.slice(at + 1)
  }
  out.push(rest)
  return out
}
