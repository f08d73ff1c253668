import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { emptyTree, planRound } from '../../src/core/tree-round.ts'
import type { TreeState } from '../../src/core/ports.ts'
import { EMPTY_ROOT, leafHash, rootFromLeafHashes, RightEdge, storedHashesForRecordHash, storedHashIndex, type Hash } from '../../src/protocol/merkle.ts'
import { encodeBundle, entriesPath, newTiles, readTileData, tilePath, TILE_WIDTH } from '../../src/protocol/tiles.ts'

// The reference: every stored hash of the whole tree (Go's layout), tiles read from it as Go does.
function reference(entries: Uint8Array[]) {
  const stored: Hash[] = []
  const read = (indexes: number[]) => indexes.map((i) => stored[i]!)
  entries.forEach((e, n) => stored.push(...storedHashesForRecordHash(n, leafHash(e), read)))
  return { read, stored }
}

function entry(i: number): Uint8Array {
  return new Uint8Array([2, 1, i & 0xff, (i >> 8) & 0xff, (i >> 16) & 0xff, 7, 7, 7])
}

describe('a round', () => {
  it('publishes exactly the tiles and bundles of the tree, whatever the rounds it grows in', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: 700 }), { minLength: 1, maxLength: 6 }), (rounds) => {
        let tree: TreeState = emptyTree(EMPTY_ROOT)
        const all: Uint8Array[] = []
        const published = new Map<string, Uint8Array>()
        for (const count of rounds) {
          const batch = Array.from({ length: count }, (_, i) => entry(all.length + i))
          const before = tree.size
          const plan = planRound(tree, batch)
          all.push(...batch)
          tree = plan.next
          const ref = reference(all)
          expect(tree.size).toBe(all.length)
          expect(tree.root).toEqual(rootFromLeafHashes(all.map(leafHash)))
          expect(tree.edge).toEqual(RightEdge.fromStoredHashes(all.length, ref.read).hashes)
          // Every tile the growth creates or widens, with the bytes Go's layout gives it.
          const want = new Map(newTiles(before, all.length).map((t) => [tilePath(t.level, t.index, t.width), readTileData(t, ref.read)]))
          const gotTiles = new Map(plan.objects.filter((o) => !o.key.startsWith('tile/entries/')).map((o) => [o.key, o.data]))
          expect([...gotTiles.keys()].sort()).toEqual([...want.keys()].sort())
          for (const [k, v] of want) expect(gotTiles.get(k), k).toEqual(v)
          // Every bundle the round touched.
          for (let b = Math.floor(before / TILE_WIDTH); b * TILE_WIDTH < all.length; b++) {
            const width = Math.min(TILE_WIDTH, all.length - b * TILE_WIDTH)
            const key = entriesPath(b, width)
            expect(plan.objects.find((o) => o.key === key)?.data, key).toEqual(encodeBundle(all.slice(b * TILE_WIDTH, b * TILE_WIDTH + width)))
          }
          for (const o of plan.objects) published.set(o.key, o.data)
        }
        // The partial tiles a round keeps are the published ones at that size.
        tree.partialTiles.forEach((data, level) => {
          if (data.length === 0) return
          const index = Math.floor(tree.size / TILE_WIDTH ** (level + 1))
          expect(published.get(tilePath(level, index, data.length / 32))).toEqual(data)
        })
        expect(storedHashIndex(0, 0)).toBe(0)
      }),
      { numRuns: 60 },
    )
  })
})
