import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { concat, toHex } from '../../src/protocol/bytes.ts'
import {
  type Hash,
  type HashReader,
  RightEdge,
  leafHash,
  proveRecord,
  proveTree,
  rootFromLeafHashes,
  storedHashIndex,
  treeHash,
} from '../../src/protocol/merkle.ts'
import {
  MAX_ENTRY_SIZE,
  TILE_WIDTH,
  type Tile,
  type TileFetcher,
  decodeBundle,
  encodeBundle,
  entriesPath,
  newTiles,
  parseTilePath,
  partialTileWidth,
  proveRecordFromTiles,
  proveTreeFromTiles,
  readHashesFromTiles,
  readTileData,
  splitTile,
  tileHashReader,
  tilePath,
  tileWidthAt,
  treeHashFromTiles,
} from '../../src/protocol/tiles.ts'

/** A log of `size` records whose leaf hashes are cheap to make, in Go's stored-hash layout. */
function buildLog(size: number): { leaves: Hash[]; read: HashReader } {
  const stored: Hash[] = []
  const edge = new RightEdge()
  const leaves = Array.from({ length: size }, (_, i) => leafHash(Uint8Array.of(i & 0xff, (i >> 8) & 0xff, i >> 16)))
  for (const leaf of leaves) stored.push(...edge.append(leaf))
  return { leaves, read: (ix) => ix.map((i) => stored[i]!) }
}

/** Serves the tiles of a tree of `size`, failing the test if asked for a width that tree does not have. */
function tileServer(size: number, read: HashReader, tamper?: (tile: Tile, data: Uint8Array) => void) {
  const fetched: string[] = []
  const fetchTile: TileFetcher = async (tile) => {
    fetched.push(tilePath(tile.level, tile.index, tile.width))
    expect(tile.width).toBe(tileWidthAt(tile.level, tile.index, size))
    const data = readTileData(tile, read)
    tamper?.(tile, data)
    return data
  }
  return { fetchTile, fetched }
}

const hexes = (hs: Hash[]) => hs.map(toHex)

/** Every tile a tree of `size` has, as paths. */
function allTilePaths(size: number): Set<string> {
  const paths = new Set<string>()
  for (let level = 0; Math.floor(size / TILE_WIDTH ** level) > 0; level++) {
    for (let index = 0; tileWidthAt(level, index, size) > 0; index++) {
      paths.add(tilePath(level, index, tileWidthAt(level, index, size)))
    }
  }
  return paths
}

describe('tile paths', () => {
  it('encode the index in x-prefixed groups of three digits', () => {
    expect(tilePath(0, 1234067)).toBe('tile/0/x001/x234/067')
    expect(tilePath(0, 1234067, 1)).toBe('tile/0/x001/x234/067.p/1')
    expect(tilePath(5, 123456078, 2)).toBe('tile/5/x123/x456/078.p/2')
    expect(tilePath(0, 0)).toBe('tile/0/000')
    expect(tilePath(1, 999, 255)).toBe('tile/1/999.p/255')
    expect(tilePath(63, 1000)).toBe('tile/63/x001/000')
    expect(tilePath(2, 1_000_000)).toBe('tile/2/x001/x000/000')
    expect(entriesPath(1234067)).toBe('tile/entries/x001/x234/067')
    expect(entriesPath(7, 112)).toBe('tile/entries/007.p/112')
    expect(tilePath(0, 1, TILE_WIDTH)).toBe(tilePath(0, 1))
  })

  it('refuse impossible coordinates', () => {
    for (const [level, index, width] of [[-1, 0, 1], [64, 0, 1], [0, -1, 1], [0, 0.5, 1], [0, 0, 0], [0, 0, 257], [0, 2 ** 53, 1]]) {
      expect(() => tilePath(level!, index!, width!)).toThrow(RangeError)
    }
    expect(() => entriesPath(0, 0)).toThrow(RangeError)
  })

  it('parse back to what they encode', () => {
    expect(parseTilePath('tile/0/x001/x234/067')).toEqual({ kind: 'hash', level: 0, index: 1234067, width: 256 })
    expect(parseTilePath('tile/3/005.p/17')).toEqual({ kind: 'hash', level: 3, index: 5, width: 17 })
    expect(parseTilePath('tile/entries/x001/000.p/255')).toEqual({ kind: 'entries', index: 1000, width: 255 })
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 63 }),
        fc.oneof(fc.integer({ min: 0, max: 5000 }), fc.maxSafeNat()),
        fc.integer({ min: 1, max: 256 }),
        (level, index, width) => {
          expect(parseTilePath(tilePath(level, index, width))).toEqual({ kind: 'hash', level, index, width })
          expect(parseTilePath(entriesPath(index, width))).toEqual({ kind: 'entries', index, width })
        },
      ),
    )
  })

  it.each([
    'tile/0/1',
    'tile/0/0001',
    'tile/00/000',
    'tile/01/000',
    'tile/64/000',
    'tile/-1/000',
    'tile/0/x000/001',
    'tile/0/001/002',
    'tile/0/x001',
    'tile/0/000.p/0',
    'tile/0/000.p/256',
    'tile/0/000.p/01',
    'tile/entries/000.p/256',
    'tile/entries/x000/000',
    'tile/data/000',
    'tile/8/0/000',
    'tile/8/0/000.p/5',
    '/tile/0/000',
    'tile/0/000/',
    'tile/0/00a',
    'tile/0/x009/x007/x199/x254/x740/x992/000',
    'tile/0/000.p/5/',
    'log/tile/0/000',
  ])('rejects the non-canonical or foreign path %s', (path) => {
    expect(parseTilePath(path)).toBeNull()
  })
})

describe('entry bundles', () => {
  it('round-trip any entries, including empty and maximal ones', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 300 }), { maxLength: TILE_WIDTH }), (entries) => {
        const bundle = encodeBundle(entries)
        expect(bundle.length).toBe(entries.reduce((n, e) => n + 2 + e.length, 0))
        expect(decodeBundle(bundle, entries.length)).toEqual(entries)
      }),
      { numRuns: 50 },
    )
    const big = new Uint8Array(MAX_ENTRY_SIZE).fill(7)
    const bundle = encodeBundle([big, new Uint8Array(0)])
    expect(Array.from(bundle.subarray(0, 2))).toEqual([0xff, 0xff])
    expect(decodeBundle(bundle)).toEqual([big, new Uint8Array(0)])
  })

  it('uses a big-endian uint16 length prefix', () => {
    expect(Array.from(encodeBundle([Uint8Array.of(9), new Uint8Array(0x0102)]).subarray(0, 5))).toEqual([0, 1, 9, 1, 2])
  })

  it('refuses to encode what the format cannot carry', () => {
    expect(() => encodeBundle([new Uint8Array(MAX_ENTRY_SIZE + 1)])).toThrow(RangeError)
    expect(() => encodeBundle(Array.from({ length: 257 }, () => new Uint8Array(0)))).toThrow(RangeError)
  })

  it('rejects truncated, overlong and miscounted bundles', () => {
    const good = encodeBundle([Uint8Array.of(1, 2, 3), Uint8Array.of(4)])
    expect(() => decodeBundle(good.subarray(0, good.length - 1))).toThrow(/truncated in entry 1/)
    expect(() => decodeBundle(good.subarray(0, 6))).toThrow(/truncated in the length of entry 1/)
    expect(() => decodeBundle(concat(good, Uint8Array.of(0)))).toThrow(/truncated in the length/)
    expect(() => decodeBundle(concat(good, Uint8Array.of(0, 5, 1)))).toThrow(/truncated in entry 2/)
    expect(() => decodeBundle(new Uint8Array(2 * 257))).toThrow(/more than 256/)
    expect(decodeBundle(new Uint8Array(2 * 256))).toHaveLength(256)
    expect(() => decodeBundle(good, 3)).toThrow(/expected 3/)
    expect(decodeBundle(new Uint8Array(0))).toEqual([])
  })
})

describe('the tiles of a tree', () => {
  it('partial widths follow the spec example for size 70,000', () => {
    expect([0, 1, 2, 3].map((l) => partialTileWidth(70_000, l))).toEqual([112, 17, 1, 0])
    const tiles = newTiles(0, 70_000)
    const count = (level: number, width: number) => tiles.filter((t) => t.level === level && t.width === width).length
    expect([count(0, 256), count(0, 112), count(1, 256), count(1, 17), count(2, 1)]).toEqual([273, 1, 1, 1, 1])
    expect(tiles).toHaveLength(277)
    expect(newTiles(0, 256)).toEqual([{ level: 0, index: 0, width: 256 }, { level: 1, index: 0, width: 1 }])
  })

  it('newTiles lists exactly the tiles the new tree has and the old one did not', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 70_000 }), fc.integer({ min: 0, max: 70_000 }), (a, b) => {
        const [oldSize, newSize] = a <= b ? [a, b] : [b, a]
        const expected = [...allTilePaths(newSize)].filter((p) => !allTilePaths(oldSize).has(p)).sort()
        expect(newTiles(oldSize, newSize).map((t) => tilePath(t.level, t.index, t.width)).sort()).toEqual(expected)
      }),
      { numRuns: 200 },
    )
    expect(newTiles(700, 700)).toEqual([])
    expect(() => newTiles(5, 4)).toThrow(RangeError)
  })

  it('readTileData gives leaf hashes at level 0 and full-tile roots at level 1', () => {
    const log = buildLog(600)
    expect(splitTile(readTileData({ level: 0, index: 1, width: 256 }, log.read)).map(toHex)).toEqual(
      hexes(log.leaves.slice(256, 512)),
    )
    expect(splitTile(readTileData({ level: 0, index: 2, width: 88 }, log.read)).map(toHex)).toEqual(
      hexes(log.leaves.slice(512, 600)),
    )
    expect(splitTile(readTileData({ level: 1, index: 0, width: 2 }, log.read)).map(toHex)).toEqual([
      toHex(rootFromLeafHashes(log.leaves.slice(0, 256))),
      toHex(rootFromLeafHashes(log.leaves.slice(256, 512))),
    ])
    expect(() => splitTile(new Uint8Array(33))).toThrow()
  })
})

describe('reading hashes from tiles', () => {
  const big = buildLog(70_000)
  const sizes = [1, 2, 255, 256, 257, 511, 512, 700, 65_535, 65_536, 65_537, 70_000]

  it.each(sizes)('computes the root of a tree of size %i from its tiles', async (size) => {
    const server = tileServer(size, big.read)
    expect(toHex(await treeHashFromTiles(size, server.fetchTile))).toBe(toHex(treeHash(size, big.read)))
    expect(new Set(server.fetched).size).toBe(server.fetched.length)
  })

  it('needs no tiles for the empty tree', async () => {
    expect(toHex(await treeHashFromTiles(0, () => Promise.reject(new Error('no'))))).toBe(toHex(treeHash(0, big.read)))
  })

  it('builds the same inclusion and consistency proofs as the stored hashes', async () => {
    fc.assert(
      await fc.asyncProperty(fc.integer({ min: 1, max: 70_000 }), fc.nat(), fc.nat(), async (t, a, b) => {
        const { fetchTile } = tileServer(t, big.read)
        const n = a % t
        expect(hexes(await proveRecordFromTiles(t, n, fetchTile))).toEqual(hexes(proveRecord(t, n, big.read)))
        const m = 1 + (b % t)
        expect(hexes(await proveTreeFromTiles(t, m, fetchTile))).toEqual(hexes(proveTree(t, m, big.read)))
      }),
      { numRuns: 60 },
    )
  })

  it('checks tile lengths', async () => {
    const short: TileFetcher = async (tile) => readTileData(tile, big.read).subarray(32)
    await expect(treeHashFromTiles(700, short)).rejects.toThrow(/expected/)
    await expect(readHashesFromTiles(700, [storedHashIndex(0, 700)], short)).rejects.toThrow(/not in a tree of size 700/)
  })

  describe('tileHashReader', () => {
    const size = 700
    const root = treeHash(size, big.read)
    const leafIndex = (n: number) => storedHashIndex(0, n)

    it('serves authenticated hashes at any level, fetching each tile once', async () => {
      const server = tileServer(size, big.read)
      const read = tileHashReader(size, root, server.fetchTile)
      const indexes = [leafIndex(0), leafIndex(3), leafIndex(699), storedHashIndex(8, 1), storedHashIndex(3, 70)]
      expect(hexes(await read(indexes))).toEqual(hexes(big.read(indexes)))
      expect(hexes(await read([leafIndex(300)]))).toEqual(hexes(big.read([leafIndex(300)])))
      expect(new Set(server.fetched).size).toBe(server.fetched.length)
      expect(await read([])).toEqual([])
      await expect(read([leafIndex(700)])).rejects.toThrow(RangeError)
    })

    it('rejects a tampered full tile that Go v0.7.0 would let through', async () => {
      // tile/0/000 is not one of the root tiles for size 700; it must be checked against tile/1/000.p/2.
      const server = tileServer(size, big.read, (tile, data) => {
        if (tile.level === 0 && tile.index === 0) data[3 * 32]! ^= 1
      })
      const read = tileHashReader(size, root, server.fetchTile)
      await expect(read([leafIndex(3)])).rejects.toThrow('tile/0/000 does not match its parent tile')
      await expect(read([leafIndex(300)])).resolves.toHaveLength(1)
    })

    it('rejects a tampered root tile and a wrong root', async () => {
      const tampered = tileServer(size, big.read, (tile, data) => {
        if (tile.level === 1) data[0]! ^= 1
      })
      await expect(tileHashReader(size, root, tampered.fetchTile)([leafIndex(0)])).rejects.toThrow(/tree root/)
      const honest = tileServer(size, big.read)
      const wrongRoot = treeHash(size - 1, big.read)
      await expect(tileHashReader(size, wrongRoot, honest.fetchTile)([leafIndex(0)])).rejects.toThrow(/tree root/)
    })

    it('authenticates across three tile levels', async () => {
      const t = 70_000
      const read = tileHashReader(t, treeHash(t, big.read), tileServer(t, big.read).fetchTile)
      const indexes = [leafIndex(0), leafIndex(65_535), leafIndex(69_999), storedHashIndex(16, 0)]
      expect(hexes(await read(indexes))).toEqual(hexes(big.read(indexes)))
      const bad = tileServer(t, big.read, (tile, data) => {
        if (tile.level === 1 && tile.index === 0) data[100]! ^= 1
      })
      await expect(tileHashReader(t, treeHash(t, big.read), bad.fetchTile)([leafIndex(5)])).rejects.toThrow(
        'tile/1/000 does not match its parent tile',
      )
    })
  })
})
