/**
 * Receipts from tiles: the inclusion proofs of log entries against a signed checkpoint, read
 * from the published hash tiles. Used by the sequencer for the entries it just sequenced (their
 * tiles are still in memory) and by the edge for lookups (tiles from the object store), so no
 * proof needs the writer.
 * @module
 */
import type { Hash } from '../protocol/merkle.ts'
import { recordProofFromHashes, recordProofIndexes } from '../protocol/merkle.ts'
import { readHashesFromTiles, tilePath, TILE_WIDTH, type Tile, type TileFetcher } from '../protocol/tiles.ts'
import { formatTlogProofs } from '../protocol/tlog-proof.ts'
import type { ObjectStore } from './ports.ts'

/** The inclusion proofs of records `indexes` in the tree of `size`, reading each needed tile once. */
export async function proveRecords(size: number, indexes: readonly number[], fetchTile: TileFetcher): Promise<Hash[][]> {
  const wanted = indexes.map((n) => recordProofIndexes(size, n))
  const hashes = await readHashesFromTiles(size, wanted.flat(), fetchTile)
  let at = 0
  return indexes.map((n, i) => {
    const mine = hashes.slice(at, at + wanted[i]!.length)
    at += wanted[i]!.length
    return recordProofFromHashes(size, n, mine)
  })
}

/** C2SP tlog-proof receipts for `indexes` against the signed checkpoint `note` of a tree of `size`. */
export async function receiptsFor(size: number, note: string, indexes: readonly number[], fetchTile: TileFetcher): Promise<string[]> {
  const proofs = await proveRecords(size, indexes, fetchTile)
  return formatTlogProofs(
    note,
    indexes.map((index, i) => ({ index, hashes: proofs[i]! })),
  )
}

/** Most full tiles a {@link TileCache} keeps (8 KiB each). */
const CACHE_TILES = 512

/** Full tiles never change once written, so a cache of them is never stale; partial tiles are not cached. */
export class TileCache {
  readonly #tiles = new Map<string, Uint8Array>()

  get(key: string): Uint8Array | undefined {
    return this.#tiles.get(key)
  }

  remember(key: string, data: Uint8Array): void {
    if (this.#tiles.size >= CACHE_TILES) this.#tiles.delete(this.#tiles.keys().next().value!)
    this.#tiles.set(key, data)
  }
}

/**
 * A tile fetcher over the object store: tiles in `fresh` first (a round's, not necessarily
 * readable yet elsewhere), then the cache, then the store. A missing tile is an error: the
 * checkpoint that names it was signed only after its tiles were stored.
 */
export function objectTileFetcher(objects: ObjectStore, cache: TileCache, fresh?: ReadonlyMap<string, Uint8Array>): TileFetcher {
  return async (tile: Tile) => {
    const key = tilePath(tile.level, tile.index, tile.width)
    const data = fresh?.get(key) ?? cache.get(key) ?? (await objects.get(key))
    if (!data) throw new Error(`tile ${key} is missing from the object store`)
    if (tile.width === TILE_WIDTH) cache.remember(key, data)
    return data
  }
}
