/**
 * The sealed directory's labels (src/protocol/oprf.ts): RFC 9497's own VOPRF vectors for
 * ristretto255-SHA512 byte for byte, the split key k1 + k2 against the whole key, and the attacks
 * a client must catch (a proof for another key, tampered, reordered or foreign evaluations,
 * malformed elements) and the one the split exists for (one share alone).
 */
import { readFileSync } from 'node:fs'
import { ristretto255, ristretto255_oprf } from '@noble/curves/ed25519.js'
import { describe, expect, it } from 'vitest'
import { fromHex, toBase64Url, toHex, utf8 } from '../../src/protocol/bytes.ts'
import {
  LABEL_BYTES,
  OPRF_SUITE,
  OprfError,
  addShares,
  blindInputs,
  blindNumbers,
  decodeElement,
  encodeElement,
  evaluateBatch,
  finalizeSplit,
  generateKeyShare,
  isLabel,
  keyShareFromSecret,
  labelWithKey,
  publicKeyFromHex,
  verifyEvaluation,
  type KeyShare,
} from '../../src/protocol/oprf.ts'

interface Vector {
  name: string
  Input: string[]
  Blind: string[]
  BlindedElement: string[]
  EvaluationElement: string[]
  Proof: string
  ProofRandomScalar: string
  Output: string[]
}
const RFC = JSON.parse(readFileSync(new URL('./vectors/rfc9497-ristretto255-sha512-voprf.json', import.meta.url), 'utf8')) as {
  Seed: string
  KeyInfo: string
  skSm: string
  pkSm: string
  vectors: Vector[]
}

const { Fn } = ristretto255.Point
const ORDER = Fn.ORDER

/**
 * An rng that makes the library draw exactly `scalars`, in order. The library's RandomScalar
 * reads 48 bytes and maps them to `1 + (LE(bytes) mod (n − 1))` (RFC 9380's hash_to_field
 * reduction), so the bytes of `s − 1` give `s`.
 */
function fixedScalars(...scalars: string[]) {
  const queue = scalars.map((hex) => Fn.fromBytes(fromHex(hex)))
  return (length = 48): Uint8Array<ArrayBuffer> => {
    const s = queue.shift()
    if (s === undefined) throw new Error('rng drawn more often than the vector has scalars')
    let v = s - 1n
    const out = new Uint8Array(length)
    for (let i = 0; i < length; i++, v >>= 8n) out[i] = Number(v & 0xffn)
    return out
  }
}

const hexes = (list: Uint8Array[]) => list.map(toHex)

const SHARES: KeyShare[] = Array.from({ length: 6 }, () => keyShareFromSecret(generateKeyShare().secretHex))
const NUMBERS = ['+16505550011', '+447700900123', '+33612345678', '+4915112345678', '+819012345678', '+61412345678', '+5511912345678']

/** One operator's honest answer for `elements`. */
const evaluate = (share: KeyShare, blinded: { element: Uint8Array }[]) => evaluateBatch(share, blinded.map((b) => b.element))

describe('RFC 9497 Appendix A.1.2 (ristretto255-SHA512, VOPRF)', () => {
  it('is the suite the library implements', () => {
    expect(ristretto255_oprf.name).toBe(OPRF_SUITE)
  })

  it('DeriveKeyPair(Seed, KeyInfo) gives skSm and pkSm', () => {
    const keys = ristretto255_oprf.voprf.deriveKeyPair(fromHex(RFC.Seed), fromHex(RFC.KeyInfo))
    expect(toHex(keys.secretKey)).toBe(RFC.skSm)
    expect(toHex(keys.publicKey)).toBe(RFC.pkSm)
    // keyShareFromSecret derives the same public key from the scalar alone.
    expect(toHex(keyShareFromSecret(RFC.skSm).publicKey)).toBe(RFC.pkSm)
    expect(toHex(publicKeyFromHex(RFC.pkSm))).toBe(RFC.pkSm)
  })

  for (const v of RFC.vectors) {
    it(`${v.name}: the library reproduces Blind, BlindedElement, EvaluationElement, Proof and Output`, () => {
      const { voprf } = ristretto255_oprf
      const rngBlind = fixedScalars(...v.Blind)
      const blinds = v.Input.map((input) => voprf.blind(fromHex(input), rngBlind))
      expect(blinds.map((b) => toHex(b.blind))).toEqual(v.Blind)
      expect(blinds.map((b) => toHex(b.blinded))).toEqual(v.BlindedElement)
      const answer = voprf.blindEvaluateBatch(fromHex(RFC.skSm), fromHex(RFC.pkSm), blinds.map((b) => b.blinded), fixedScalars(v.ProofRandomScalar))
      expect(hexes(answer.evaluated)).toEqual(v.EvaluationElement)
      expect(toHex(answer.proof)).toBe(v.Proof)
      const items = v.Input.map((input, i) => ({ input: fromHex(input), blind: fromHex(v.Blind[i]!), blinded: fromHex(v.BlindedElement[i]!), evaluated: fromHex(v.EvaluationElement[i]!) }))
      expect(hexes(voprf.finalizeBatch(items, fromHex(RFC.pkSm), fromHex(v.Proof)))).toEqual(v.Output)
    })

    it(`${v.name}: this module's calls give the same bytes and the Output's first ${LABEL_BYTES} bytes as the label`, () => {
      const blinded = blindInputs(v.Input.map(fromHex), fixedScalars(...v.Blind))
      expect(hexes(blinded.map((b) => b.blind))).toEqual(v.Blind)
      expect(hexes(blinded.map((b) => b.element))).toEqual(v.BlindedElement)
      const share = keyShareFromSecret(RFC.skSm)
      const { evaluations, proof } = evaluateBatch(share, blinded.map((b) => b.element), fixedScalars(v.ProofRandomScalar))
      expect(hexes(evaluations)).toEqual(v.EvaluationElement)
      expect(toHex(proof)).toBe(v.Proof)
      expect(() => verifyEvaluation(blinded, evaluations, proof, publicKeyFromHex(RFC.pkSm))).not.toThrow()
      const labels = v.Output.map((o) => o.slice(0, 2 * LABEL_BYTES))
      // The vector's key as the sum of two random shares: the split gives the RFC's output.
      const k1 = SHARES[0]!
      const k2 = keyShareFromSecret(toHex(Fn.toBytes(Fn.sub(Fn.fromBytes(share.secretKey), Fn.fromBytes(k1.secretKey)))))
      expect(toHex(addShares(k1.secretKey, k2.secretKey))).toBe(RFC.skSm)
      expect(finalizeSplit(blinded, evaluate(k1, blinded).evaluations, evaluate(k2, blinded).evaluations)).toEqual(labels)
      // The inputs 0x00 and 0x5a × 17 are the UTF-8 of "\0" and "Z" × 17; labelWithKey checks the
      // E.164 form, so the whole-key path is checked through the library's Evaluate here.
      for (const [i, input] of v.Input.entries()) {
        const b = blindInputs([fromHex(input)])[0]!
        const out = ristretto255_oprf.oprf.finalize(b.input, b.blind, ristretto255_oprf.oprf.blindEvaluate(share.secretKey, b.element))
        expect(toHex(out)).toBe(v.Output[i])
      }
    })
  }
})

describe('the split key', () => {
  it('k1 + k2 through both operators equals the whole key, for several shares and numbers', () => {
    for (let t = 0; t < 3; t++) {
      const k1 = SHARES[2 * t]!
      const k2 = SHARES[2 * t + 1]!
      const whole = addShares(k1.secretKey, k2.secretKey)
      const blinded = blindNumbers(NUMBERS)
      const a = evaluate(k1, blinded)
      const b = evaluate(k2, blinded)
      verifyEvaluation(blinded, a.evaluations, a.proof, k1.publicKey)
      verifyEvaluation(blinded, b.evaluations, b.proof, k2.publicKey)
      const labels = finalizeSplit(blinded, a.evaluations, b.evaluations)
      expect(labels).toEqual(NUMBERS.map((n) => labelWithKey(whole, n)))
      for (const label of labels) expect(isLabel(label)).toBe(true)
      expect(new Set(labels).size).toBe(NUMBERS.length)
      // Labels do not depend on the blinds: a second round gives the same ones.
      const again = blindNumbers(NUMBERS)
      expect(finalizeSplit(again, evaluate(k1, again).evaluations, evaluate(k2, again).evaluations)).toEqual(labels)
    }
  })

  it('one share alone gives another label than the whole key, so neither operator can compute labels', () => {
    const [k1, k2] = SHARES as [KeyShare, KeyShare]
    const whole = addShares(k1.secretKey, k2.secretKey)
    for (const n of NUMBERS) {
      const label = labelWithKey(whole, n)
      expect(labelWithKey(k1.secretKey, n)).not.toBe(label)
      expect(labelWithKey(k2.secretKey, n)).not.toBe(label)
    }
    // Nor does counting one operator's evaluation twice.
    const blinded = blindNumbers(NUMBERS)
    const a = evaluate(k1, blinded)
    expect(finalizeSplit(blinded, a.evaluations, a.evaluations)).not.toEqual(NUMBERS.map((n) => labelWithKey(whole, n)))
  })

  it('addShares is addition mod the group order and refuses a zero sum', () => {
    const a = Fn.toBytes(ORDER - 1n)
    expect(toHex(addShares(a, Fn.toBytes(2n)))).toBe(toHex(Fn.toBytes(1n)))
    expect(() => addShares(a, Fn.toBytes(1n))).toThrowError(expect.objectContaining({ code: 'invalid_key' }))
  })
})

/** Expects `fn` to throw OprfError with `code`. */
function refused(fn: () => unknown, code: OprfError['code']) {
  try {
    fn()
  } catch (err) {
    expect(err).toBeInstanceOf(OprfError)
    expect((err as OprfError).code).toBe(code)
    return
  }
  throw new Error(`expected OprfError(${code})`)
}

describe('attacks on an answer', () => {
  const [k1, k2] = SHARES as [KeyShare, KeyShare]
  const blinded = blindNumbers(NUMBERS)
  const a = evaluate(k1, blinded)

  it('an honest answer verifies', () => {
    expect(() => verifyEvaluation(blinded, a.evaluations, a.proof, k1.publicKey)).not.toThrow()
  })

  it("operator A's proof checked against B's key fails", () => {
    refused(() => verifyEvaluation(blinded, a.evaluations, a.proof, k2.publicKey), 'proof_invalid')
  })

  it('a tampered evaluation fails', () => {
    const tampered = [...a.evaluations]
    tampered[3] = ristretto255.Point.fromBytes(tampered[3]!).add(ristretto255.Point.BASE).toBytes()
    refused(() => verifyEvaluation(blinded, tampered, a.proof, k1.publicKey), 'proof_invalid')
  })

  it('a tampered proof fails', () => {
    const proof = Uint8Array.from(a.proof)
    proof[40]! ^= 1
    refused(() => verifyEvaluation(blinded, a.evaluations, proof, k1.publicKey), 'proof_invalid')
    refused(() => verifyEvaluation(blinded, a.evaluations, a.proof.subarray(0, 63), k1.publicKey), 'proof_invalid')
  })

  it('reordered evaluations fail', () => {
    const swapped = [a.evaluations[1]!, a.evaluations[0]!, ...a.evaluations.slice(2)]
    refused(() => verifyEvaluation(blinded, swapped, a.proof, k1.publicKey), 'proof_invalid')
  })

  it('evaluations computed with another key fail, even with a valid proof for that key', () => {
    const other = evaluate(k2, blinded)
    refused(() => verifyEvaluation(blinded, other.evaluations, a.proof, k1.publicKey), 'proof_invalid')
    refused(() => verifyEvaluation(blinded, other.evaluations, other.proof, k1.publicKey), 'proof_invalid')
  })

  it('an answer for other elements fails (the proof binds the blinded elements)', () => {
    const others = blindNumbers(NUMBERS)
    refused(() => verifyEvaluation(others, a.evaluations, a.proof, k1.publicKey), 'proof_invalid')
  })

  it('a short or long answer fails', () => {
    refused(() => verifyEvaluation(blinded, a.evaluations.slice(1), a.proof, k1.publicKey), 'proof_invalid')
    refused(() => verifyEvaluation(blinded, [...a.evaluations, a.evaluations[0]!], a.proof, k1.publicKey), 'proof_invalid')
    refused(() => finalizeSplit(blinded, a.evaluations.slice(1), a.evaluations), 'proof_invalid')
  })

  it('an identity evaluation is refused', () => {
    const bad = [...a.evaluations]
    bad[0] = new Uint8Array(32)
    refused(() => verifyEvaluation(blinded, bad, a.proof, k1.publicKey), 'invalid_element')
    refused(() => finalizeSplit(blinded, bad, a.evaluations), 'invalid_element')
  })

  it('evaluations that cancel out are refused', () => {
    const negated = a.evaluations.map((e) => ristretto255.Point.fromBytes(e).negate().toBytes())
    refused(() => finalizeSplit(blinded, a.evaluations, negated), 'invalid_element')
  })
})

// p = 2^255 − 19 in little-endian: the non-canonical spelling of 0.
const P_LE = fromHex('edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f')
const BAD_ELEMENTS: [string, Uint8Array][] = [
  ['the identity', new Uint8Array(32)],
  ['non-canonical (s = p)', P_LE],
  ['non-canonical (s = p + 2)', fromHex('efffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f')],
  ['negative s (odd)', fromHex('0100000000000000000000000000000000000000000000000000000000000000')],
  ['the high bit set', Uint8Array.from(ristretto255.Point.BASE.toBytes(), (b, i) => (i === 31 ? b | 0x80 : b))],
  ['all 0xff', new Uint8Array(32).fill(0xff)],
  ['31 bytes', ristretto255.Point.BASE.toBytes().subarray(0, 31)],
  ['33 bytes', Uint8Array.from([...ristretto255.Point.BASE.toBytes(), 0])],
]

describe('elements on the wire', () => {
  it('round-trip as 43 characters of unpadded base64url', () => {
    for (const b of blindNumbers(NUMBERS)) {
      const text = encodeElement(b.element)
      expect(text).toMatch(/^[A-Za-z0-9_-]{43}$/)
      expect(decodeElement(text)).toEqual(b.element)
    }
  })

  for (const [what, bytes] of BAD_ELEMENTS) {
    it(`refuses ${what} (decodeElement and evaluateBatch)`, () => {
      refused(() => decodeElement(toBase64Url(bytes)), 'invalid_element')
      const good = blindNumbers(NUMBERS.slice(0, 2)).map((b) => b.element)
      refused(() => evaluateBatch(SHARES[0]!, [...good, bytes]), 'invalid_element')
    })
  }

  it('refuses garbage, padding, standard base64 and a non-canonical base64 spelling', () => {
    const good = encodeElement(ristretto255.Point.BASE.toBytes())
    // The last of 43 characters carries 2 unused bits: flipping one spells the same bytes.
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'
    const last = alphabet.indexOf(good[42]!)
    const respelled = good.slice(0, 42) + alphabet[last ^ 1]
    for (const text of ['', 'not an element', `${good}=`, good.slice(0, 42), `${good}A`, good.replace(/.$/, '+'), respelled, '!'.repeat(43)]) {
      refused(() => decodeElement(text), 'invalid_element')
    }
    refused(() => decodeElement(42 as unknown as string), 'invalid_element')
    refused(() => evaluateBatch(SHARES[0]!, []), 'invalid_element')
  })

  it('blindNumbers and labelWithKey take only canonical E.164 numbers', () => {
    for (const bad of ['16505550011', '+1 650 555 0011', '+0123', '', '+1234567890123456']) expect(() => blindNumbers([bad])).toThrow(TypeError)
    expect(() => labelWithKey(SHARES[0]!.secretKey, 'alice')).toThrow(TypeError)
    expect(blindNumbers(['+16505550011'])[0]!.input).toEqual(utf8('+16505550011'))
  })
})

describe('keys', () => {
  it('keyShareFromSecret refuses zero, the group order and above, wrong lengths and non-hex', () => {
    // Fn.toBytes writes any value without reducing it: le(ORDER) is the order's own bytes.
    const le = (n: bigint) => toHex(Fn.toBytes(n))
    for (const hex of ['00'.repeat(32), le(ORDER), le(ORDER + 1n), 'ff'.repeat(32), 'ab'.repeat(31), 'ab'.repeat(33), 'zz'.repeat(32), '']) {
      refused(() => keyShareFromSecret(hex), 'invalid_key')
    }
    expect(toHex(keyShareFromSecret(le(ORDER - 1n)).secretKey)).toBe(le(ORDER - 1n))
  })

  it('keyShareFromSecret caches per string and derives share·G', () => {
    const { secretHex, publicKeyHex } = generateKeyShare()
    const share = keyShareFromSecret(secretHex)
    expect(keyShareFromSecret(secretHex)).toBe(share)
    expect(toHex(share.publicKey)).toBe(publicKeyHex)
    expect(toHex(ristretto255.Point.BASE.multiply(Fn.fromBytes(share.secretKey)).toBytes())).toBe(publicKeyHex)
  })

  it('publicKeyFromHex refuses what is not a valid element', () => {
    for (const [, bytes] of BAD_ELEMENTS) refused(() => publicKeyFromHex(toHex(bytes)), 'invalid_key')
    refused(() => publicKeyFromHex('nothex'), 'invalid_key')
  })

  it('evaluateBatch refuses a malformed share', () => {
    const elements = blindNumbers(NUMBERS.slice(0, 1)).map((b) => b.element)
    refused(() => evaluateBatch({ secretKey: new Uint8Array(32), publicKey: SHARES[0]!.publicKey }, elements), 'invalid_key')
    refused(() => evaluateBatch({ secretKey: SHARES[0]!.secretKey, publicKey: new Uint8Array(32) }, elements), 'invalid_key')
  })

  it('verifyEvaluation refuses a malformed pinned key', () => {
    const blinded = blindNumbers(NUMBERS.slice(0, 1))
    const a = evaluate(SHARES[0]!, blinded)
    refused(() => verifyEvaluation(blinded, a.evaluations, a.proof, new Uint8Array(32)), 'invalid_key')
  })

  it('labelWithKey refuses a zero or out-of-range key', () => {
    refused(() => labelWithKey(new Uint8Array(32), NUMBERS[0]!), 'invalid_key')
    refused(() => labelWithKey(new Uint8Array(32).fill(0xff), NUMBERS[0]!), 'invalid_key')
  })
})
