/**
 * A {@link RightEdge} for bulk work: appends leaf hashes that lie in a buffer and writes the
 * hashes Go's tlog layout stores for each record (the leaf hash, then one hash per subtree it
 * completes) into another buffer, with no object per hash. Appending records n, n+1, ... writes
 * their stored hashes contiguously, exactly as they follow each other in the layout, so a range
 * of records becomes one contiguous run starting at `storedHashIndex(0, n)`.
 *
 * Same results as `RightEdge.append` (the tests compare them); it exists because a mirror
 * replaying or bootstrapping millions of records would otherwise allocate several small arrays
 * per record. Pure: no platform imports.
 * @module
 */
import { HASH_SIZE, RightEdge, type Hash } from './merkle.ts'
import { nodeHashInto } from './sha256.ts'

/** Most subtree roots an edge can hold (one per bit of a tree size below 2^64). */
const MAX_EDGE = 64

/** See the module comment. */
export class HashAppender {
  #size: number
  /** Subtree roots, largest first: `#edge[32 k ..]` for k < `#count`. */
  readonly #edge = new Uint8Array(MAX_EDGE * HASH_SIZE)
  #count = 0

  /** An appender continuing `edge` (not modified). */
  constructor(edge: RightEdge = new RightEdge()) {
    this.#size = edge.size
    for (const h of edge.hashes) this.#edge.set(h, HASH_SIZE * this.#count++)
  }

  /** Records appended so far, including the starting edge's. */
  get size(): number {
    return this.#size
  }

  /**
   * Appends the record whose leaf hash is `leaves[leafAt .. leafAt + 32)`; writes its stored
   * hashes to `out` from `outAt` and returns how many (1 + the trailing one bits of the old size).
   */
  append(leaves: Uint8Array, leafAt: number, out: Uint8Array, outAt: number): number {
    if (out === leaves) out.copyWithin(outAt, leafAt, leafAt + HASH_SIZE)
    else for (let i = 0; i < HASH_SIZE; i++) out[outAt + i] = leaves[leafAt + i]!
    let at = outAt
    let written = 1
    for (let s = this.#size; s % 2 === 1; s = (s - 1) / 2) {
      // The new subtree's root: node(the edge's last root, the hash just written).
      this.#count--
      nodeHashInto(this.#edge, this.#count * HASH_SIZE, out, at, out, at + HASH_SIZE)
      at += HASH_SIZE
      written++
    }
    const edge = this.#edge
    const to = this.#count * HASH_SIZE
    for (let i = 0; i < HASH_SIZE; i++) edge[to + i] = out[at + i]!
    this.#count++
    this.#size++
    return written
  }

  /**
   * Appends a perfect subtree of 2^`height` records whose root is `roots[rootAt .. rootAt + 32)`
   * (the size must be a multiple of 2^`height`): writes to `out` from `outAt` the stored hashes
   * of the levels above `height` that the subtree completes (the caller stores the subtree's own
   * hashes, root included) and returns how many.
   */
  appendSubtree(roots: Uint8Array, rootAt: number, height: number, out: Uint8Array, outAt: number): number {
    const width = 2 ** height
    if (this.#size % width !== 0) throw new RangeError(`a subtree of ${width} records cannot start at ${this.#size}`)
    const edge = this.#edge
    let from = roots
    let fromAt = rootAt
    let at = outAt
    let written = 0
    for (let s = this.#size / width; s % 2 === 1; s = (s - 1) / 2) {
      this.#count--
      nodeHashInto(edge, this.#count * HASH_SIZE, from, fromAt, out, at)
      from = out
      fromAt = at
      at += HASH_SIZE
      written++
    }
    const to = this.#count * HASH_SIZE
    for (let i = 0; i < HASH_SIZE; i++) edge[to + i] = from[fromAt + i]!
    this.#count++
    this.#size += width
    return written
  }

  /** The edge now, as a {@link RightEdge}. */
  rightEdge(): RightEdge {
    const hashes: Hash[] = []
    for (let k = 0; k < this.#count; k++) hashes.push(this.#edge.slice(k * HASH_SIZE, (k + 1) * HASH_SIZE))
    return new RightEdge(this.#size, hashes)
  }

  /** The tree root now. */
  root(): Hash {
    return this.rightEdge().root()
  }
}

/** The most hashes one {@link HashAppender.append} writes for a tree below 2^53 records. */
export const MAX_STORED_PER_RECORD = 54
