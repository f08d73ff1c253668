/**
 * The pure part of a sequencing round: from the committed tree (its right edge, partial tiles
 * and partial bundle) and the entries to append, the next tree and the objects to publish
 * (every hash tile and entry bundle the growth creates or widens, C2SP tlog-tiles). Nothing here
 * reads storage: the partial tiles carry every hash a new tile needs, so tiles and bundles can
 * live in the object store alone.
 * @module
 */
import { HashAppender } from '../protocol/hash-appender.ts'
import { HASH_SIZE, RightEdge, leafHash, type Hash } from '../protocol/merkle.ts'
import { encodeBundle, entriesPath, partialTileWidth, tilePath, TILE_HEIGHT, TILE_WIDTH } from '../protocol/tiles.ts'
import type { TreeState } from './ports.ts'

/** An object a round publishes. */
export interface RoundObject {
  key: string
  data: Uint8Array
}

/** The tree after a round and what it publishes. */
export interface RoundPlan {
  next: TreeState
  objects: RoundObject[]
  /** Hash tiles by path (the partial ones and those completed here), for proving this round's entries. */
  tiles: Map<string, Uint8Array>
}

/** The empty tree. */
export function emptyTree(root: Hash): TreeState {
  return { size: 0, root, note: null, edge: [], partialTiles: [], partialBundle: [] }
}

/** Appends `entries` to `tree`; see the module comment. */
export function planRound(tree: TreeState, entries: readonly Uint8Array[]): RoundPlan {
  const appender = new HashAppender(new RightEdge(tree.size, tree.edge))
  // Per tile level: the hashes of its last tile so far, starting from the committed partial one.
  const levels: Uint8Array[][] = tree.partialTiles.map((data) => splitHashes(data))
  const completed: { level: number; index: number; hashes: Uint8Array[] }[] = []
  const stored = new Uint8Array(64 * HASH_SIZE)
  const leaf = new Uint8Array(HASH_SIZE)
  for (const entry of entries) {
    const n = appender.size
    leaf.set(leafHash(entry))
    const count = appender.append(leaf, 0, stored, 0)
    // Stored hash k of record n is at tree level k; tiles hold levels 0, 8, 16, ...
    for (let k = 0; k < count; k += TILE_HEIGHT) {
      const level = k / TILE_HEIGHT
      const hashes = (levels[level] ??= [])
      hashes.push(stored.slice(k * HASH_SIZE, (k + 1) * HASH_SIZE))
      if (hashes.length === TILE_WIDTH) {
        const position = Math.floor((n + 1) / 2 ** k) - 1
        completed.push({ level, index: Math.floor(position / TILE_WIDTH), hashes: hashes.splice(0) })
      }
    }
  }
  const size = appender.size
  const tiles = new Map<string, Uint8Array>()
  const objects: RoundObject[] = []
  for (const t of completed) {
    const key = tilePath(t.level, t.index)
    const data = concat(t.hashes)
    tiles.set(key, data)
    objects.push({ key, data })
  }
  // One tile level per 8 tree levels the tree reaches; each keeps its last, partial tile.
  let levelCount = 0
  while (Math.floor(size / TILE_WIDTH ** levelCount) > 0) levelCount++
  const partialTiles: Uint8Array[] = []
  for (let level = 0; level < Math.max(levelCount, levels.length); level++) {
    const width = partialTileWidth(size, level)
    const hashes = levels[level] ?? []
    if (hashes.length !== width) throw new Error(`tile level ${level} holds ${hashes.length} hashes, expected ${width}`)
    if (level >= levelCount) continue
    const data = concat(hashes)
    partialTiles.push(data)
    if (width === 0) continue
    const index = Math.floor(size / TILE_WIDTH ** (level + 1))
    const key = tilePath(level, index, width)
    tiles.set(key, data)
    // Published again only when this round widened it.
    if (partialTileWidth(tree.size, level) !== width || Math.floor(tree.size / TILE_WIDTH ** (level + 1)) !== index) objects.push({ key, data })
  }

  // Entry bundles: every bundle this round filled, then the new partial one.
  let bundle = tree.partialBundle.slice()
  let bundleIndex = Math.floor(tree.size / TILE_WIDTH)
  for (const entry of entries) {
    bundle.push(entry)
    if (bundle.length === TILE_WIDTH) {
      objects.push({ key: entriesPath(bundleIndex, TILE_WIDTH), data: encodeBundle(bundle) })
      bundle = []
      bundleIndex++
    }
  }
  if (bundle.length > 0 && entries.length > 0) objects.push({ key: entriesPath(bundleIndex, bundle.length), data: encodeBundle(bundle) })

  const edge = appender.rightEdge()
  return {
    next: { size, root: edge.root(), note: null, edge: edge.hashes, partialTiles, partialBundle: bundle },
    objects,
    tiles,
  }
}

function splitHashes(data: Uint8Array): Uint8Array[] {
  const out: Uint8Array[] = []
  for (let at = 0; at < data.length; at += HASH_SIZE) out.push(data.slice(at, at + HASH_SIZE))
  return out
}

function concat(hashes: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(hashes.length * HASH_SIZE)
  hashes.forEach((h, i) => out.set(h, i * HASH_SIZE))
  return out
}
