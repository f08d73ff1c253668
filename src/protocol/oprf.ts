/**
 * The sealed directory's labels: every phone number becomes `label = F_k(E.164)`, RFC 9497's
 * VOPRF (mode 0x01) over ristretto255-SHA512, from @noble/curves. The key is split,
 * `k = k1 + k2`, between the directory and an independent key holder: each evaluates the same
 * blinded elements with its own share and proves it (one batched DLEQ proof against its published
 * key); the client checks both proofs, adds the two evaluations and unblinds, so it gets
 * `(k1 + k2)·H(x)` and neither operator alone can compute a label. Pure: no platform imports.
 *
 * All curve arithmetic is the library's: `ristretto255_oprf.voprf` for blinding, evaluation and
 * proofs, its `oprf.finalize` (RFC 9497's Finalize, which does not depend on the mode) for
 * unblinding, and `ristretto255.Point` / `Point.Fn` for decoding elements and adding scalars.
 * @module
 */
import type { RNG } from '@noble/curves/abstract/oprf.js'
import { ristretto255, ristretto255_oprf } from '@noble/curves/ed25519.js'
import { fromBase64, fromHex, toBase64Url, toHex, utf8 } from './bytes.ts'

/** OPRF_SUITE is the RFC 9497 ciphersuite every label is computed in. */
export const OPRF_SUITE = 'ristretto255-SHA512'

/**
 * LABEL_BYTES is a label's length: the first 16 bytes of the 64-byte VOPRF output, written as 32
 * lowercase hex characters. At n = 10^10 numbers the chance of any collision is at most
 * n²/2^(b+1) = 10^20/2^129 ≈ 1.5e-19 (b = 128 bits).
 */
export const LABEL_BYTES = 16

/** ELEMENT_BYTES is the length of a compressed ristretto255 element. */
export const ELEMENT_BYTES = 32

/** SCALAR_BYTES is the length of a little-endian scalar (a key share, a blind). */
export const SCALAR_BYTES = 32

/** PROOF_BYTES is the length of a DLEQ proof: the two scalars c and s. */
export const PROOF_BYTES = 64

const { Point } = ristretto255
const { Fn } = Point
const { voprf, oprf } = ristretto255_oprf

/** Why an element, a key or a proof was refused. */
export type OprfErrorCode = 'invalid_element' | 'proof_invalid' | 'invalid_key'

/** OprfError is thrown for a refused element, key or proof; `message` names no input. */
export class OprfError extends Error {
  override readonly name = 'OprfError'
  constructor(
    readonly code: OprfErrorCode,
    message: string,
  ) {
    super(message)
  }
}

/** KeyShare is one operator's share of the label key and its public key `share·G`. */
export interface KeyShare {
  /** The 32-byte little-endian scalar; never leaves its operator. */
  secretKey: Uint8Array
  /** The 32-byte compressed element clients pin to check this operator's proofs. */
  publicKey: Uint8Array
}

/** Blinded is one number as the client holds it between blinding and finalizing. */
export interface Blinded {
  /** The OPRF input: the UTF-8 bytes of the E.164 string. */
  input: Uint8Array
  /** The secret blind scalar; never sent. */
  blind: Uint8Array
  /** The blinded element sent to both operators. */
  element: Uint8Array
}

/** The point `bytes` encode, or OprfError(code): wrong length, non-canonical, or the identity. */
function pointOf(bytes: Uint8Array, code: OprfErrorCode, what: string) {
  if (!(bytes instanceof Uint8Array) || bytes.length !== ELEMENT_BYTES) throw new OprfError(code, `${what} must be ${ELEMENT_BYTES} bytes`)
  let point
  try {
    point = Point.fromBytes(bytes)
  } catch {
    throw new OprfError(code, `${what} is not a canonical ristretto255 encoding`)
  }
  // RFC 9497 §3.3: the identity element is refused wherever it comes from.
  if (point.is0()) throw new OprfError(code, `${what} is the identity element`)
  return point
}

/** The nonzero scalar `bytes` encode, or OprfError('invalid_key'). */
function scalarOf(bytes: Uint8Array, what: string): bigint {
  if (!(bytes instanceof Uint8Array) || bytes.length !== SCALAR_BYTES) throw new OprfError('invalid_key', `${what} must be ${SCALAR_BYTES} bytes`)
  let scalar: bigint
  try {
    scalar = Fn.fromBytes(bytes)
  } catch {
    throw new OprfError('invalid_key', `${what} is not below the group order`)
  }
  if (Fn.is0(scalar)) throw new OprfError('invalid_key', `${what} is zero`)
  return scalar
}

const ELEMENT_TEXT = /^[A-Za-z0-9_-]{43}$/

/** encodeElement writes a 32-byte element as base64url without padding (43 characters). */
export function encodeElement(bytes: Uint8Array): string {
  if (!(bytes instanceof Uint8Array) || bytes.length !== ELEMENT_BYTES) throw new OprfError('invalid_element', `an element must be ${ELEMENT_BYTES} bytes`)
  return toBase64Url(bytes)
}

/**
 * decodeElement reads an element written by {@link encodeElement}; throws
 * OprfError('invalid_element') on anything else: another length, padding or standard base64,
 * non-canonical base64 or ristretto255, or the identity.
 */
export function decodeElement(text: string): Uint8Array {
  if (typeof text !== 'string' || !ELEMENT_TEXT.test(text)) throw new OprfError('invalid_element', `an element must be ${ELEMENT_BYTES} bytes in unpadded base64url`)
  const bytes = fromBase64(text)
  // The last character carries two spare bits: only one spelling of each element is accepted.
  if (toBase64Url(bytes) !== text) throw new OprfError('invalid_element', 'an element must be canonical base64url')
  pointOf(bytes, 'invalid_element', 'an element')
  return bytes
}

const SCALAR_HEX = /^[0-9a-fA-F]{64}$/
const shares = new Map<string, KeyShare>()

/**
 * keyShareFromSecret reads a key share from 64 hex characters (a 32-byte little-endian scalar,
 * nonzero and below the group order) and derives its public key; throws OprfError('invalid_key').
 * Cached per string, so an operator pays the derivation once; callers must not mutate the result.
 */
export function keyShareFromSecret(hex: string): KeyShare {
  const cached = shares.get(hex)
  if (cached) return cached
  if (typeof hex !== 'string' || !SCALAR_HEX.test(hex)) throw new OprfError('invalid_key', `a key share must be ${SCALAR_BYTES * 2} hex characters`)
  const secretKey = fromHex(hex)
  const scalar = scalarOf(secretKey, 'the key share')
  const share = Object.freeze({ secretKey: Fn.toBytes(scalar), publicKey: Point.BASE.multiply(scalar).toBytes() })
  shares.set(hex, share)
  return share
}

/** publicKeyFromHex reads an operator's public key from 64 hex characters; throws OprfError('invalid_key'). */
export function publicKeyFromHex(hex: string): Uint8Array {
  if (typeof hex !== 'string' || !SCALAR_HEX.test(hex)) throw new OprfError('invalid_key', `a public key must be ${ELEMENT_BYTES * 2} hex characters`)
  const bytes = fromHex(hex)
  pointOf(bytes, 'invalid_key', 'the public key')
  return bytes
}

/** generateKeyShare draws a fresh random key share, in hex (for the keygen scripts). */
export function generateKeyShare(): { secretHex: string; publicKeyHex: string } {
  const { secretKey, publicKey } = voprf.generateKeyPair()
  return { secretHex: toHex(secretKey), publicKeyHex: toHex(publicKey) }
}

/**
 * evaluateBatch is the operator's side: each element times its share, with one DLEQ proof for
 * the whole batch. Every element is checked first (OprfError('invalid_element'), naming its
 * index), and the share (OprfError('invalid_key')); `rng` fixes the proof's randomness (tests only).
 */
export function evaluateBatch(share: KeyShare, elements: Uint8Array[], rng?: RNG): { evaluations: Uint8Array[]; proof: Uint8Array } {
  if (!Array.isArray(elements) || elements.length === 0) throw new OprfError('invalid_element', 'a batch needs at least one element')
  elements.forEach((e, i) => pointOf(e, 'invalid_element', `element ${i}`))
  scalarOf(share.secretKey, 'the key share')
  pointOf(share.publicKey, 'invalid_key', 'the public key')
  const { evaluated, proof } = voprf.blindEvaluateBatch(share.secretKey, share.publicKey, elements, rng)
  return { evaluations: evaluated, proof }
}

/** blindInputs blinds raw OPRF inputs (RFC 9497's Blind, VOPRF mode); `rng` fixes the blinds (tests only). */
export function blindInputs(inputs: Uint8Array[], rng?: RNG): Blinded[] {
  return inputs.map((input) => {
    const { blind, blinded } = voprf.blind(input, rng)
    return { input, blind, element: blinded }
  })
}

const E164 = /^\+[1-9][0-9]{1,14}$/

function e164Input(e164: string, what: string): Uint8Array {
  // A number in any other spelling would get another label: only the canonical form is accepted.
  if (typeof e164 !== 'string' || !E164.test(e164)) throw new TypeError(`${what} is not an E.164 number`)
  return utf8(e164)
}

/** blindNumbers blinds each E.164 number once; the same elements go to both operators. Throws TypeError for a non-E.164 string. */
export function blindNumbers(e164s: string[]): Blinded[] {
  return blindInputs(e164s.map((n, i) => e164Input(n, `number ${i}`)))
}

/**
 * verifyEvaluation checks one operator's answer: as many evaluations as elements, each a valid
 * element (else OprfError('invalid_element')), and the batch proof valid for exactly these
 * elements, these evaluations in this order, and `publicKey` (else OprfError('proof_invalid')).
 * A `publicKey` that is not a valid element throws OprfError('invalid_key').
 */
export function verifyEvaluation(blinded: Blinded[], evaluations: Uint8Array[], proof: Uint8Array, publicKey: Uint8Array): void {
  pointOf(publicKey, 'invalid_key', 'the public key')
  if (blinded.length === 0 || evaluations.length !== blinded.length) throw new OprfError('proof_invalid', `${evaluations.length} evaluations for ${blinded.length} elements`)
  evaluations.forEach((e, i) => pointOf(e, 'invalid_element', `evaluation ${i}`))
  if (!(proof instanceof Uint8Array) || proof.length !== PROOF_BYTES) throw new OprfError('proof_invalid', `a proof must be ${PROOF_BYTES} bytes`)
  try {
    // The library has no verify-only call; finalizeBatch verifies first and its outputs (the
    // unblinded share alone) are discarded.
    voprf.finalizeBatch(
      blinded.map((b, i) => ({ input: b.input, blind: b.blind, blinded: b.element, evaluated: evaluations[i]! })),
      publicKey,
      proof,
    )
  } catch {
    throw new OprfError('proof_invalid', 'the proof does not verify against this key')
  }
}

const labelOf = (output: Uint8Array) => toHex(output.subarray(0, LABEL_BYTES))

/**
 * finalizeSplit adds the two operators' evaluations pointwise, unblinds and hashes (RFC 9497
 * Finalize), and returns each number's label. Call it only after {@link verifyEvaluation} has
 * accepted both answers.
 */
export function finalizeSplit(blinded: Blinded[], evaluationsA: Uint8Array[], evaluationsB: Uint8Array[]): string[] {
  if (evaluationsA.length !== blinded.length || evaluationsB.length !== blinded.length) {
    throw new OprfError('proof_invalid', `${evaluationsA.length} and ${evaluationsB.length} evaluations for ${blinded.length} elements`)
  }
  return blinded.map((b, i) => {
    const sum = pointOf(evaluationsA[i]!, 'invalid_element', `evaluation ${i}`).add(pointOf(evaluationsB[i]!, 'invalid_element', `evaluation ${i}`))
    if (sum.is0()) throw new OprfError('invalid_element', `the evaluations of element ${i} cancel out`)
    return labelOf(oprf.finalize(b.input, b.blind, sum.toBytes()))
  })
}

/**
 * labelWithKey computes a label directly with the whole key (for tests and for a party that
 * holds both shares): the same as {@link finalizeSplit} gives when `secretKey` = k1 + k2.
 * Throws OprfError('invalid_key') for a bad key, TypeError for a non-E.164 string.
 */
export function labelWithKey(secretKey: Uint8Array, e164: string): string {
  scalarOf(secretKey, 'the key')
  // Blind, evaluate, unblind: the library's typed calls, with the VOPRF mode's hash-to-group.
  const [b] = blindInputs([e164Input(e164, 'the number')])
  return labelOf(oprf.finalize(b!.input, b!.blind, oprf.blindEvaluate(secretKey, b!.element)))
}

/** addShares adds two key shares modulo the group order; throws OprfError('invalid_key') for a bad share or a zero sum. */
export function addShares(a: Uint8Array, b: Uint8Array): Uint8Array {
  const sum = Fn.add(scalarOf(a, 'the first share'), scalarOf(b, 'the second share'))
  if (Fn.is0(sum)) throw new OprfError('invalid_key', 'the shares sum to zero')
  return Fn.toBytes(sum)
}

const LABEL_TEXT = /^[0-9a-f]{32}$/

/** isLabel is true for a label as it travels: 32 lowercase hex characters. */
export function isLabel(text: unknown): text is string {
  return typeof text === 'string' && LABEL_TEXT.test(text)
}
