import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { fromHex, toHex } from '../../src/protocol/bytes.ts'
import {
  EMPTY_ROOT,
  type Hash,
  type HashReader,
  RightEdge,
  checkRecord,
  checkTree,
  leafHash,
  nodeHash,
  proveRecord,
  proveTree,
  recordProofIndexes,
  rootFromLeafHashes,
  splitStoredHashIndex,
  storedHashCount,
  storedHashIndex,
  storedHashes,
  storedHashesForRecordHash,
  treeHash,
  treeHashIndexes,
  treeProofIndexes,
} from '../../src/protocol/merkle.ts'

// The Certificate Transparency reference tree (certificate-transparency merkle_tree_test).
const CT_ENTRIES = ['', '00', '10', '2021', '3031', '40414243', '5051525354555657', '606162636465666768696a6b6c6d6e6f'].map(
  fromHex,
)
const CT_ROOTS = [
  'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
  '6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d',
  'fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125',
  'aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77',
  'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7',
  '4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4',
  '76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef',
  'ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c',
  '5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328',
]
// [leaf index (0-based), tree size, audit path]
const CT_INCLUSION: [number, number, string[]][] = [
  [0, 1, []],
  [0, 8, ['96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7', '5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e', '6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4']],
  [5, 8, ['bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b', 'ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0', 'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7']],
  [2, 3, ['fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125']],
  [1, 5, ['6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d', '5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e', 'bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b']],
]
// [old size, new size, consistency proof]
const CT_CONSISTENCY: [number, number, string[]][] = [
  [1, 1, []],
  [1, 8, ['96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7', '5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e', '6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4']],
  [6, 8, ['0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a', 'ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0', 'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7']],
  [2, 5, ['5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e', 'bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b']],
]

/** A log kept in Go's stored-hash layout, built by storedHashes. */
function buildLog(entries: Uint8Array[]): { leaves: Hash[]; stored: Hash[]; read: HashReader } {
  const stored: Hash[] = []
  const read: HashReader = (indexes) =>
    indexes.map((i) => {
      const h = stored[i]
      if (!h) throw new Error(`no stored hash ${i}`)
      return h
    })
  entries.forEach((entry, n) => stored.push(...storedHashes(n, entry, read)))
  return { leaves: entries.map(leafHash), stored, read }
}

// RFC 6962 section 2.1.1 PATH and 2.1.2 PROOF, straight from the definitions.
function split(n: number): number {
  let k = 1
  while (k * 2 < n) k *= 2
  return k
}
function naivePath(m: number, leaves: Hash[]): Hash[] {
  if (leaves.length <= 1) return []
  const k = split(leaves.length)
  return m < k
    ? [...naivePath(m, leaves.slice(0, k)), rootFromLeafHashes(leaves.slice(k))]
    : [...naivePath(m - k, leaves.slice(k)), rootFromLeafHashes(leaves.slice(0, k))]
}
function naiveSubproof(m: number, leaves: Hash[], complete: boolean): Hash[] {
  if (m === leaves.length) return complete ? [] : [rootFromLeafHashes(leaves)]
  const k = split(leaves.length)
  return m <= k
    ? [...naiveSubproof(m, leaves.slice(0, k), complete), rootFromLeafHashes(leaves.slice(k))]
    : [...naiveSubproof(m - k, leaves.slice(k), false), rootFromLeafHashes(leaves.slice(0, k))]
}

const hexes = (hs: Hash[]) => hs.map(toHex)
const flipped = (h: Hash, bit = 0) => {
  const out = h.slice()
  out[bit >> 3]! ^= 1 << (bit & 7)
  return out
}
const entriesArb = (min: number, max: number) =>
  fc.array(fc.uint8Array({ maxLength: 12 }), { minLength: min, maxLength: max })

describe('RFC 6962 hashing and the CT reference tree', () => {
  const log = buildLog(CT_ENTRIES)

  it('hashes leaves and nodes with 0x00 and 0x01 prefixes', () => {
    expect(toHex(EMPTY_ROOT)).toBe(CT_ROOTS[0])
    expect(toHex(leafHash(new Uint8Array(0)))).toBe(CT_ROOTS[1])
    expect(toHex(nodeHash(leafHash(CT_ENTRIES[0]!), leafHash(CT_ENTRIES[1]!)))).toBe(CT_ROOTS[2])
  })

  it('gives the published root for every size 0..8, three ways', () => {
    const edge = new RightEdge()
    for (let n = 0; n <= 8; n++) {
      expect(toHex(rootFromLeafHashes(log.leaves.slice(0, n))), `naive ${n}`).toBe(CT_ROOTS[n])
      expect(toHex(treeHash(n, log.read)), `stored ${n}`).toBe(CT_ROOTS[n])
      expect(toHex(edge.root()), `edge ${n}`).toBe(CT_ROOTS[n])
      if (n < 8) edge.append(log.leaves[n]!)
    }
  })

  it.each(CT_INCLUSION)('proves and checks leaf %i in tree %i like CT', (n, t, path) => {
    const proof = proveRecord(t, n, log.read)
    expect(hexes(proof)).toEqual(path)
    expect(checkRecord(proof, t, fromHex(CT_ROOTS[t]!), n, log.leaves[n]!)).toBe(true)
    expect(checkRecord(proof, t, fromHex(CT_ROOTS[t - 1]!), n, log.leaves[n]!)).toBe(false)
  })

  it.each(CT_CONSISTENCY)('proves and checks consistency %i → %i like CT', (n, t, path) => {
    const proof = proveTree(t, n, log.read)
    expect(hexes(proof)).toEqual(path)
    expect(checkTree(proof, t, fromHex(CT_ROOTS[t]!), n, fromHex(CT_ROOTS[n]!))).toBe(true)
  })
})

describe('stored hash layout', () => {
  it('numbers hashes as Go does', () => {
    // Appending records 0..4 stores: h0 | h1 (0,1) | h2 h3 (2,3) (0..3) | h4.
    const expected = [[0, 0], [0, 1], [1, 0], [0, 2], [0, 3], [1, 1], [2, 0], [0, 4]]
    expected.forEach(([level, n], index) => {
      expect(storedHashIndex(level!, n!)).toBe(index)
      expect(splitStoredHashIndex(index)).toEqual({ level, n })
    })
    expect([0, 1, 2, 3, 4, 5, 8].map(storedHashCount)).toEqual([0, 1, 3, 4, 7, 8, 15])
  })

  it('splitStoredHashIndex inverts storedHashIndex, including near 2^50', () => {
    for (let level = 0; level < 10; level++) {
      for (let n = 0; n < 100; n++) expect(splitStoredHashIndex(storedHashIndex(level, n))).toEqual({ level, n })
    }
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2 ** 50 }), fc.integer({ min: 0, max: 40 }), (n, level) => {
        const m = Math.floor(n / 2 ** level)
        expect(splitStoredHashIndex(storedHashIndex(level, m))).toEqual({ level, n: m })
      }),
    )
  })

  it('storedHashCount matches what storedHashes writes', () => {
    fc.assert(
      fc.property(entriesArb(0, 70), (entries) => {
        expect(buildLog(entries).stored.length).toBe(storedHashCount(entries.length))
      }),
    )
  })

  it('storedHashesForRecordHash reads only the left siblings it completes, in sorted order', () => {
    const log = buildLog(CT_ENTRIES.slice(0, 7))
    const seen: number[][] = []
    const hashes = storedHashesForRecordHash(7, leafHash(CT_ENTRIES[7]!), (ix) => (seen.push(ix), log.read(ix)))
    expect(seen).toEqual([[storedHashIndex(2, 0), storedHashIndex(1, 2), storedHashIndex(0, 6)]])
    expect(toHex(hashes.at(-1)!)).toBe(CT_ROOTS[8])
  })

  it('rejects indexes that are not safe non-negative integers', () => {
    for (const bad of [-1, 0.5, Number.NaN, 2 ** 53]) {
      expect(() => storedHashIndex(0, bad)).toThrow(RangeError)
      expect(() => splitStoredHashIndex(bad)).toThrow(RangeError)
    }
    expect(() => treeHash(3, () => [])).toThrow(/returned 0 hashes/)
  })
})

describe('proofs against the RFC 6962 definitions on random trees', () => {
  it('tree hash of every prefix matches the naive MTH', () => {
    fc.assert(
      fc.property(entriesArb(1, 140), (entries) => {
        const log = buildLog(entries)
        for (let n = 0; n <= entries.length; n++) {
          expect(toHex(treeHash(n, log.read))).toBe(toHex(rootFromLeafHashes(log.leaves.slice(0, n))))
        }
      }),
      { numRuns: 30 },
    )
  })

  it('inclusion proofs for every (n, t) equal PATH and check', () => {
    fc.assert(
      fc.property(entriesArb(1, 40), (entries) => {
        const log = buildLog(entries)
        for (let t = 1; t <= entries.length; t++) {
          const root = rootFromLeafHashes(log.leaves.slice(0, t))
          for (let n = 0; n < t; n++) {
            const proof = proveRecord(t, n, log.read)
            expect(hexes(proof)).toEqual(hexes(naivePath(n, log.leaves.slice(0, t))))
            expect(checkRecord(proof, t, root, n, log.leaves[n]!)).toBe(true)
          }
        }
      }),
      { numRuns: 15 },
    )
  })

  it('consistency proofs for every (n, t) equal PROOF and check', () => {
    fc.assert(
      fc.property(entriesArb(1, 40), (entries) => {
        const log = buildLog(entries)
        const roots = Array.from({ length: entries.length + 1 }, (_, n) => rootFromLeafHashes(log.leaves.slice(0, n)))
        for (let t = 1; t <= entries.length; t++) {
          for (let n = 1; n <= t; n++) {
            const proof = proveTree(t, n, log.read)
            expect(hexes(proof)).toEqual(hexes(naiveSubproof(n, log.leaves.slice(0, t), true)))
            expect(checkTree(proof, t, roots[t]!, n, roots[n]!)).toBe(true)
          }
        }
      }),
      { numRuns: 15 },
    )
  })

  it('proof index lists are what the provers read', () => {
    const log = buildLog(Array.from({ length: 300 }, (_, i) => Uint8Array.of(i & 0xff, i >> 8)))
    for (const [t, n] of [[300, 0], [300, 299], [256, 17], [257, 256]] as const) {
      const reads: number[][] = []
      proveRecord(t, n, (ix) => (reads.push(ix), log.read(ix)))
      expect(reads).toEqual([recordProofIndexes(t, n)])
    }
    for (const [t, n] of [[300, 1], [300, 299], [300, 256], [256, 128]] as const) {
      const reads: number[][] = []
      proveTree(t, n, (ix) => (reads.push(ix), log.read(ix)))
      expect(reads).toEqual([treeProofIndexes(t, n)])
    }
  })
})

describe('tampered and malformed proofs are rejected without throwing', () => {
  const log = buildLog(Array.from({ length: 40 }, (_, i) => Uint8Array.of(i)))
  const rootOf = (n: number) => treeHash(n, log.read)

  it('inclusion: any flipped bit, wrong index, wrong size, wrong root, extra or missing hash', () => {
    for (const t of [1, 2, 5, 16, 37]) {
      const root = rootOf(t)
      for (let n = 0; n < t; n++) {
        const proof = proveRecord(t, n, log.read)
        const leaf = log.leaves[n]!
        expect(checkRecord(proof, t, root, n, leaf)).toBe(true)
        proof.forEach((h, i) => {
          for (const bit of [0, 77, 255]) {
            const bad = proof.slice()
            bad[i] = flipped(h, bit)
            expect(checkRecord(bad, t, root, n, leaf)).toBe(false)
          }
        })
        expect(checkRecord(proof, t, root, n, flipped(leaf))).toBe(false)
        expect(checkRecord(proof, t, flipped(root, 200), n, leaf)).toBe(false)
        if (t > 1) expect(checkRecord(proof, t, root, n ^ 1, leaf)).toBe(false)
        // A size is only ever checked with that size's root (both come from one checkpoint).
        expect(checkRecord(proof, t + 1, rootOf(t + 1), n, leaf)).toBe(false)
        if (t > 1) expect(checkRecord(proof, t - 1, rootOf(t - 1), Math.min(n, t - 2), leaf)).toBe(false)
        expect(checkRecord([...proof, leaf], t, root, n, leaf)).toBe(false)
        if (proof.length > 0) expect(checkRecord(proof.slice(1), t, root, n, leaf)).toBe(false)
      }
    }
  })

  it('consistency: any flipped bit, wrong sizes, wrong roots, extra or missing hash', () => {
    for (const t of [1, 3, 8, 37]) {
      for (let n = 1; n <= t; n++) {
        const proof = proveTree(t, n, log.read)
        const [newRoot, oldRoot] = [rootOf(t), rootOf(n)]
        expect(checkTree(proof, t, newRoot, n, oldRoot)).toBe(true)
        proof.forEach((h, i) => {
          const bad = proof.slice()
          bad[i] = flipped(h, 9)
          expect(checkTree(bad, t, newRoot, n, oldRoot)).toBe(false)
        })
        expect(checkTree(proof, t, newRoot, n, flipped(oldRoot))).toBe(false)
        expect(checkTree(proof, t, flipped(newRoot), n, oldRoot)).toBe(false)
        if (n < t) expect(checkTree(proof, t, newRoot, n + 1, rootOf(n + 1))).toBe(false)
        expect(checkTree(proof, t + 1, rootOf(t + 1), n, oldRoot)).toBe(false)
        expect(checkTree([...proof, oldRoot], t, newRoot, n, oldRoot)).toBe(false)
        if (proof.length > 0) expect(checkTree(proof.slice(0, -1), t, newRoot, n, oldRoot)).toBe(false)
      }
    }
  })

  it('nonsense inputs', () => {
    const root = rootOf(8)
    const proof = proveRecord(8, 3, log.read)
    const leaf = log.leaves[3]!
    const short = new Uint8Array(31)
    for (const [t, n] of [[0, 0], [8, 8], [8, 9], [-8, 3], [8, -1], [8.5, 3], [8, Number.NaN], [Infinity, 3]]) {
      expect(checkRecord(proof, t!, root, n!, leaf)).toBe(false)
      if (t !== n) expect(checkTree([], t!, root, n!, root)).toBe(false)
    }
    expect(checkRecord([short, ...proof.slice(1)], 8, root, 3, leaf)).toBe(false)
    expect(checkRecord(proof, 8, short, 3, leaf)).toBe(false)
    expect(checkRecord(proof, 8, root, 3, short)).toBe(false)
    expect(checkRecord(null as unknown as Hash[], 8, root, 3, leaf)).toBe(false)
    expect(checkRecord(['x'] as unknown as Hash[], 8, root, 3, leaf)).toBe(false)
    expect(checkRecord(Array(200).fill(root), 8, root, 3, leaf)).toBe(false)
    expect(checkTree([], 8, root, 0, EMPTY_ROOT)).toBe(false)
    expect(checkTree([], 8, root, 8, root)).toBe(true)
    expect(checkTree([], 8, root, 8, flipped(root))).toBe(false)
    expect(() => proveRecord(8, 8, log.read)).toThrow(RangeError)
    expect(() => proveTree(8, 0, log.read)).toThrow(RangeError)
    expect(() => proveTree(8, 9, log.read)).toThrow(RangeError)
  })
})

describe('RightEdge', () => {
  it('append matches the naive root and returns exactly the stored hashes', () => {
    fc.assert(
      fc.property(entriesArb(0, 150), (entries) => {
        const log = buildLog(entries)
        const edge = new RightEdge()
        const written: Hash[] = []
        entries.forEach((_, n) => {
          written.push(...edge.append(log.leaves[n]!))
          expect(edge.size).toBe(n + 1)
          expect(edge.hashes.length).toBeLessThanOrEqual(Math.log2(n + 1) + 1)
        })
        expect(hexes(written)).toEqual(hexes(log.stored))
        expect(toHex(edge.root())).toBe(toHex(rootFromLeafHashes(log.leaves)))
        const loaded = RightEdge.fromStoredHashes(entries.length, log.read)
        expect(hexes(loaded.hashes)).toEqual(hexes(edge.hashes))
        expect(hexes(treeHashIndexes(entries.length).map((i) => log.stored[i]!))).toEqual(hexes(edge.hashes))
      }),
      { numRuns: 40 },
    )
  })

  it('clone is independent and the constructor validates its shape', () => {
    const edge = new RightEdge()
    for (const e of CT_ENTRIES.slice(0, 5)) edge.append(leafHash(e))
    const copy = edge.clone()
    copy.append(leafHash(CT_ENTRIES[5]!))
    expect([edge.size, copy.size]).toEqual([5, 6])
    expect(toHex(edge.root())).toBe(CT_ROOTS[5])
    expect(toHex(copy.root())).toBe(CT_ROOTS[6])
    edge.hashes.pop()
    expect(edge.hashes).toHaveLength(2)
    expect(toHex(new RightEdge(5, edge.hashes).root())).toBe(CT_ROOTS[5])
    expect(() => new RightEdge(5, edge.hashes.slice(1))).toThrow(RangeError)
    expect(() => new RightEdge(4, edge.hashes)).toThrow(RangeError)
    expect(() => new RightEdge(-1, [])).toThrow(RangeError)
    expect(() => edge.append(new Uint8Array(31))).toThrow(RangeError)
  })
})
