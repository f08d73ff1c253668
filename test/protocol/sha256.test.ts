import { sha256 } from '@noble/hashes/sha2.js'
import fc from 'fast-check'
import { afterEach, describe, expect, it } from 'vitest'
import { DEFAULT_HASHER, leafHash, NOBLE_HASHER, nodeHash, RightEdge, setMerkleHasher } from '../../src/protocol/merkle.ts'
import { leafHashInto, nodeHashInto, sha256Leaf, sha256Node } from '../../src/protocol/sha256.ts'

const reference = (...parts: Uint8Array[]) => {
  const all = new Uint8Array(parts.reduce((n, p) => n + p.length, 0))
  let at = 0
  for (const p of parts) {
    all.set(p, at)
    at += p.length
  }
  return sha256(all)
}

describe('specialised SHA-256', () => {
  afterEach(() => {
    setMerkleHasher(null)
  })

  it('equals SHA-256(0x00 || data) for every length across the one-block limit and several blocks', () => {
    for (let n = 0; n <= 300; n++) {
      for (const seed of [0, 1, 255]) {
        const data = Uint8Array.from({ length: n }, (_, i) => (i * 31 + n * 7 + seed) & 0xff)
        expect(sha256Leaf(data)).toEqual(reference(Uint8Array.of(0), data))
      }
    }
  })

  it('equals SHA-256(0x01 || left || right) on random hashes, and writes at an offset', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), fc.uint8Array({ minLength: 32, maxLength: 32 }), (l, r) => {
        const want = reference(Uint8Array.of(1), l, r)
        expect(sha256Node(l, r)).toEqual(want)
        const out = new Uint8Array(40).fill(0xee)
        nodeHashInto(l, 0, r, 0, out, 5)
        expect(out.subarray(5, 37)).toEqual(want)
        expect(out[4]).toBe(0xee)
        expect(out[37]).toBe(0xee)
        // Inputs inside a larger buffer, output over the left input.
        const buf = new Uint8Array(100)
        buf.set(l, 3)
        buf.set(r, 50)
        nodeHashInto(buf, 3, buf, 50, buf, 3)
        expect(buf.subarray(3, 35)).toEqual(want)
      }),
      { numRuns: 500 },
    )
  })

  it('equals the reference on random leaves of any length, at an offset', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), fc.nat(8), fc.nat(5), (data, at, pad) => {
        const out = new Uint8Array(48)
        const src = new Uint8Array(pad + data.length + 3).fill(0x5a)
        src.set(data, pad)
        leafHashInto(src, pad, pad + data.length, out, at)
        expect(out.subarray(at, at + 32)).toEqual(reference(Uint8Array.of(0), data))
      }),
      { numRuns: 500 },
    )
  })

  it('refuses node inputs that are not 32 bytes', () => {
    expect(() => sha256Node(new Uint8Array(31), new Uint8Array(32))).toThrow(RangeError)
  })

  it('gives the same trees as @noble/hashes (the hasher is pluggable, results are not)', () => {
    const entries = Array.from({ length: 1000 }, (_, i) => Uint8Array.from({ length: 1 + (i % 80) }, (_, j) => (i + j) & 0xff))
    const root = (h: typeof DEFAULT_HASHER) => {
      setMerkleHasher(h)
      const edge = new RightEdge()
      const stored: Uint8Array[] = []
      for (const e of entries) stored.push(...edge.append(leafHash(e)))
      return { root: edge.root(), stored }
    }
    const fast = root(DEFAULT_HASHER)
    const noble = root(NOBLE_HASHER)
    expect(fast.root).toEqual(noble.root)
    expect(fast.stored).toEqual(noble.stored)
  })

  it('setMerkleHasher refuses a hasher that computes something else, and keeps the current one', () => {
    const wrong = { leaf: (d: Uint8Array) => sha256(d), node: DEFAULT_HASHER.node }
    expect(() => setMerkleHasher(wrong)).toThrow(/RFC 6962/)
    expect(nodeHash(leafHash(new Uint8Array(0)), leafHash(Uint8Array.of(0)))).toEqual(
      reference(Uint8Array.of(1), reference(Uint8Array.of(0)), reference(Uint8Array.of(0, 0))),
    )
    expect(setMerkleHasher(NOBLE_HASHER)).toBe(DEFAULT_HASHER)
    expect(setMerkleHasher(null)).toBe(NOBLE_HASHER)
  })
})
