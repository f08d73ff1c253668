import { describe, expect, it } from 'vitest'
import { HashAppender } from '../../src/protocol/hash-appender.ts'
import { leafHash, RightEdge, storedHashIndex } from '../../src/protocol/merkle.ts'

describe('HashAppender', () => {
  it('writes exactly the stored hashes RightEdge.append returns, contiguously in the tlog layout', () => {
    for (const start of [0, 1, 5, 255, 256, 1000]) {
      const edge = new RightEdge()
      for (let i = 0; i < start; i++) edge.append(leafHash(Uint8Array.of(i & 0xff, i >> 8)))
      const appender = new HashAppender(edge)
      const leaves = new Uint8Array(700 * 32)
      for (let i = 0; i < 700; i++) leaves.set(leafHash(Uint8Array.of(7, i & 0xff, i >> 8)), i * 32)
      const out = new Uint8Array(2000 * 32)
      let at = 0
      const want: Uint8Array[] = []
      for (let i = 0; i < 700; i++) {
        want.push(...edge.append(leaves.slice(i * 32, i * 32 + 32)))
        at += 32 * appender.append(leaves, i * 32, out, at)
      }
      expect(at / 32).toBe(want.length)
      expect(at / 32).toBe(storedHashIndex(0, start + 700) - storedHashIndex(0, start))
      for (let k = 0; k < want.length; k++) expect(out.subarray(k * 32, k * 32 + 32)).toEqual(want[k])
      expect(appender.size).toBe(edge.size)
      expect(appender.root()).toEqual(edge.root())
      expect(appender.rightEdge().hashes).toEqual(edge.hashes)
    }
  })

  it('appends in place when the leaves and the output are one buffer', () => {
    const edge = new RightEdge()
    const appender = new HashAppender()
    const buf = new Uint8Array(64 * 32)
    let at = 0
    for (let i = 0; i < 20; i++) {
      const leaf = leafHash(Uint8Array.of(i))
      buf.set(leaf, at)
      const want = edge.append(leaf)
      const n = appender.append(buf, at, buf, at)
      expect(n).toBe(want.length)
      for (let k = 0; k < n; k++) expect(buf.subarray(at + 32 * k, at + 32 * k + 32)).toEqual(want[k])
      at += 32 * n
    }
  })

  it('appendSubtree continues the edge as appending the subtree records one by one would', () => {
    for (const start of [0, 256, 512, 768, 1024 * 3]) {
      for (const height of [0, 3, 8]) {
        const width = 2 ** height
        const edge = new RightEdge()
        for (let i = 0; i < start; i++) edge.append(leafHash(Uint8Array.of(i & 0xff, i >> 8)))
        const appender = new HashAppender(edge)
        const leaves = Array.from({ length: width }, (_, i) => leafHash(Uint8Array.of(9, i & 0xff, i >> 8)))
        const want: Uint8Array[] = []
        for (const leaf of leaves) want.push(...edge.append(leaf))
        // The subtree's own root, and what appendSubtree adds above it (the last record's highest hashes).
        const sub = new HashAppender()
        const scratch = new Uint8Array(64 * 32)
        for (const leaf of leaves) sub.append(leaf, 0, scratch, 0)
        const root = sub.root()
        const out = new Uint8Array(64 * 32)
        const n = appender.appendSubtree(root, 0, height, out, 0)
        const above = want.slice(want.length - n)
        for (let k = 0; k < n; k++) expect(out.subarray(32 * k, 32 * k + 32)).toEqual(above[k])
        expect(want[want.length - n - 1]).toEqual(root)
        expect(appender.size).toBe(edge.size)
        expect(appender.root()).toEqual(edge.root())
      }
    }
    expect(() => new HashAppender(new RightEdge()).appendSubtree(new Uint8Array(32), 0, 0, new Uint8Array(64), 0)).not.toThrow()
  })
})
