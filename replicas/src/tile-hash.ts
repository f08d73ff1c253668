/**
 * Appending leaf hashes to the mirror's Merkle tree in bulk. A run of leaves that forms a whole
 * aligned tile (256 records starting at a multiple of 256: every hash tile of a bootstrap, every
 * full entry bundle of a replay but the first) is hashed level by level, 128 + 64 + ... + 1
 * independent node hashes, four at a time, inside WebAssembly (sha256x4.ts `hashTileLevels`);
 * anything else goes leaf by leaf through
 * the scalar {@link HashAppender}. Either way the stored hashes come out in Go's tlog order, the
 * order `hashes.bin` holds them in.
 * @module
 */
import { HashAppender, MAX_STORED_PER_RECORD } from '../../src/protocol/hash-appender.ts'
import { HASH_SIZE } from '../../src/protocol/merkle.ts'
import { TILE_HEIGHT, TILE_WIDTH } from '../../src/protocol/tiles.ts'
import { HashBatch, hashTileLevels, simdAvailable, TILE_LEVEL_STRIDE } from './sha256x4.ts'

/** Room for the stored hashes of one tile's records (at most 2 per record, plus the merges above it). */
export const TILE_STORED_BYTES = (2 * TILE_WIDTH + MAX_STORED_PER_RECORD) * HASH_SIZE

/** See the module comment. Holds the tree's right edge; not safe to share between concurrent tasks. */
export class TreeAppender {
  readonly edge: HashAppender
  readonly #batch: HashBatch | null

  constructor(edge: HashAppender, useSimd = simdAvailable()) {
    this.edge = edge
    this.#batch = useSimd ? new HashBatch() : null
  }

  /** The shared batch hasher, or null where SIMD is unavailable. */
  get batch(): HashBatch | null {
    return this.#batch
  }

  /** Records appended so far. */
  get size(): number {
    return this.edge.size
  }

  /**
   * Appends the `count` leaf hashes at `leaves[at ..]`; writes their stored hashes to `out`
   * (which needs {@link TILE_STORED_BYTES} when `count` is 256) and returns how many. A whole
   * aligned tile is hashed in bulk, anything else leaf by leaf.
   */
  append(leaves: Uint8Array, at: number, count: number, out: Uint8Array): number {
    if (count === TILE_WIDTH && this.edge.size % TILE_WIDTH === 0 && this.#batch) return this.#tile(leaves, at, out)
    let written = 0
    for (let k = 0; k < count; k++) written += HASH_SIZE * this.edge.append(leaves, at + k * HASH_SIZE, out, written)
    return written / HASH_SIZE
  }

  #tile(leaves: Uint8Array, at: number, out: Uint8Array): number {
    const levels = hashTileLevels(leaves, at)
    // Copied a word at a time (both buffers hold hashes at multiples of 32 bytes).
    const from = new Uint32Array(levels.buffer, levels.byteOffset, levels.byteLength / 4)
    const to = out.byteOffset % 4 === 0 ? new Uint32Array(out.buffer, out.byteOffset, out.byteLength >>> 2) : null
    // Record i stores its leaf, then the root of every subtree it completes (levels 1..8 inside the tile).
    let o = 0
    for (let i = 0; i < TILE_WIDTH; i++) {
      copyHash(from, i * HASH_SIZE, out, to, o)
      o += HASH_SIZE
      for (let l = 1; l <= TILE_HEIGHT; l++) {
        if ((i + 1) % 2 ** l !== 0) break
        copyHash(from, l * TILE_LEVEL_STRIDE + ((i + 1) / 2 ** l - 1) * HASH_SIZE, out, to, o)
        o += HASH_SIZE
      }
    }
    // The tile root (level 8) merges with the edge above it.
    o += HASH_SIZE * this.edge.appendSubtree(levels, TILE_HEIGHT * TILE_LEVEL_STRIDE, TILE_HEIGHT, out, o)
    return o / HASH_SIZE
  }
}

/** Copies the hash at byte `fromAt` of `from` (words) to byte `toAt` of `out` (through its word view `to`, if aligned). */
function copyHash(from: Uint32Array, fromAt: number, out: Uint8Array, to: Uint32Array | null, toAt: number): void {
  const f = fromAt >>> 2
  if (to) {
    const t = toAt >>> 2
    for (let i = 0; i < 8; i++) to[t + i] = from[f + i]!
    return
  }
  const bytes = new Uint8Array(from.buffer, from.byteOffset + fromAt, HASH_SIZE)
  out.set(bytes, toAt)
}
