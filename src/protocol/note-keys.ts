/**
 * Ed25519 keys in the C2SP signed-note text forms (the same strings Go's `sumdb/note` reads):
 * signer `PRIVATE+KEY+<name>+<hex keyid>+<base64 0x01||seed>` and verifier
 * `<name>+<hex keyid>+<base64 0x01||pubkey>`.
 * @module
 */
import { sha256 } from '@noble/hashes/sha2.js'
import { concat, fromBase64, toBase64, toHex, utf8 } from './bytes.ts'

/** Signature algorithm byte for Ed25519 in signed notes. */
export const ALG_ED25519 = 0x01

/** A parsed Ed25519 note signer key. */
export interface NoteSignerKey {
  name: string
  /** First four bytes of SHA-256(name || "\n" || 0x01 || pubkey). */
  keyId: Uint8Array
  seed: Uint8Array
}

/** A parsed Ed25519 note verifier key. */
export interface NoteVerifierKey {
  name: string
  keyId: Uint8Array
  publicKey: Uint8Array
}

/** Key names are non-empty and contain no whitespace or `+` (C2SP signed-note). */
export function isValidKeyName(name: string): boolean {
  return name.length > 0 && !/[\s+]/.test(name) && !/\p{C}/u.test(name)
}

/** The four-byte key id of an Ed25519 key named `name`. */
export function noteKeyId(name: string, publicKey: Uint8Array): Uint8Array {
  return sha256(concat(utf8(name), utf8('\n'), Uint8Array.of(ALG_ED25519), publicKey)).subarray(0, 4)
}

/** Formats a verifier key string. */
export function formatVerifierKey(name: string, publicKey: Uint8Array): string {
  return `${name}+${toHex(noteKeyId(name, publicKey))}+${toBase64(concat(Uint8Array.of(ALG_ED25519), publicKey))}`
}

/** Parses a verifier key string; throws on a malformed or non-Ed25519 key or a wrong key id. */
export function parseVerifierKey(text: string): NoteVerifierKey {
  const parts = splitPlus(text, 3)
  if (!parts) throw new Error('verifier key must be <name>+<hex keyid>+<base64 key>')
  const [name, idHex, keyB64] = parts as [string, string, string]
  if (!isValidKeyName(name)) throw new Error('verifier key has an invalid name')
  if (!/^[0-9a-f]{8}$/.test(idHex)) throw new Error('verifier key id must be 8 hex digits')
  const raw = fromBase64(keyB64)
  if (raw.length !== 33 || raw[0] !== ALG_ED25519) throw new Error('verifier key is not an Ed25519 key')
  const publicKey = raw.subarray(1)
  const keyId = noteKeyId(name, publicKey)
  if (toHex(keyId) !== idHex) throw new Error('verifier key id does not match its key')
  return { name, keyId, publicKey }
}

/** Parses a signer key string (`PRIVATE+KEY+...`); the key id is checked once the public key is known. */
export function parseSignerKey(text: string): NoteSignerKey {
  const parts = splitPlus(text, 5)
  if (!parts || parts[0] !== 'PRIVATE' || parts[1] !== 'KEY') {
    throw new Error('signer key must be PRIVATE+KEY+<name>+<hex keyid>+<base64 key>')
  }
  const [, , name, idHex, keyB64] = parts as [string, string, string, string, string]
  if (!isValidKeyName(name)) throw new Error('signer key has an invalid name')
  if (!/^[0-9a-f]{8}$/.test(idHex)) throw new Error('signer key id must be 8 hex digits')
  const raw = fromBase64(keyB64)
  if (raw.length !== 33 || raw[0] !== ALG_ED25519) throw new Error('signer key is not an Ed25519 key')
  return { name, keyId: Uint8Array.from(idHex.match(/../g)!.map((h) => parseInt(h, 16))), seed: raw.subarray(1) }
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

/** Formats a signer key string. */
export function formatSignerKey(name: string, seed: Uint8Array, publicKey: Uint8Array): string {
  return `PRIVATE+KEY+${name}+${toHex(noteKeyId(name, publicKey))}+${toBase64(concat(Uint8Array.of(ALG_ED25519), seed))}`
}
