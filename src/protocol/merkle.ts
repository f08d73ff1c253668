/**
 * RFC 6962 Merkle trees in the layout of Go's `golang.org/x/mod/sumdb/tlog`: every hash a log
 * ever computes gets a dense "stored hash index", so a log can keep its tree as an append-only
 * array and read any proof's hashes in one call. Pure: runs in workerd and Node.
 *
 * Sizes and indexes are JS numbers; they must be safe integers, and stored hash indexes are
 * about twice the tree size, so trees must stay below 2^51 records.
 *
 * One deliberate difference from Go: the tree of size 0 hashes to SHA-256("") (RFC 6962's
 * MTH({})), not Go's all-zero hash, because that is what C2SP checkpoints carry.
 * @module
 */
import { sha256 } from '@noble/hashes/sha2.js'
import { sha256Leaf, sha256Node } from './sha256.ts'

/** A 32-byte SHA-256 hash: a record hash, an interior node or a tree root. */
export type Hash = Uint8Array

/** Bytes in a {@link Hash}. */
export const HASH_SIZE = 32

/** The root of the empty tree, SHA-256 of nothing (RFC 6962). Functions return copies of it. */
export const EMPTY_ROOT: Hash = sha256(new Uint8Array(0))

/**
 * Reads stored hashes by their stored hash indexes, returning one hash per index in order.
 * Synchronous on purpose: the sequencer reads Durable Object SQLite synchronously.
 */
export type HashReader = (indexes: number[]) => Hash[]

/**
 * The two hash functions of RFC 6962 Merkle trees. The default is `./sha256.ts` (pure JS,
 * specialised for these tiny messages); {@link setMerkleHasher} swaps in another implementation
 * of the same functions (a faster native one, or @noble/hashes to compare), never other results.
 */
export interface MerkleHasher {
  /** SHA-256(0x00 || data). */
  leaf(data: Uint8Array): Hash
  /** SHA-256(0x01 || left || right) of two 32-byte hashes. */
  node(left: Hash, right: Hash): Hash
}

/** The built-in hasher (`./sha256.ts`). */
export const DEFAULT_HASHER: MerkleHasher = { leaf: sha256Leaf, node: sha256Node }

/** @noble/hashes' general SHA-256, as this module hashed before `./sha256.ts`; kept as a reference and baseline. */
export const NOBLE_HASHER: MerkleHasher = {
  leaf: (data) => sha256.create().update(Uint8Array.of(0x00)).update(data).digest(),
  node: (left, right) => {
    const buf = new Uint8Array(1 + 2 * HASH_SIZE)
    buf[0] = 0x01
    buf.set(left, 1)
    buf.set(right, 1 + HASH_SIZE)
    return sha256(buf)
  },
}

let hasher: MerkleHasher = DEFAULT_HASHER

/**
 * Makes `next` (null: the default) the hasher of every function in this module, process-wide,
 * and returns the previous one. Throws, changing nothing, unless `next` reproduces known RFC 6962
 * answers (the Certificate Transparency test tree's leaves and nodes).
 */
export function setMerkleHasher(next: MerkleHasher | null): MerkleHasher {
  const candidate = next ?? DEFAULT_HASHER
  const hex = (h: Uint8Array) => Array.from(h, (b) => b.toString(16).padStart(2, '0')).join('')
  const empty = candidate.leaf(new Uint8Array(0))
  const zero = candidate.leaf(Uint8Array.of(0x00))
  const long = candidate.leaf(new Uint8Array(200).fill(0x61))
  if (
    hex(empty) !== '6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d' ||
    hex(candidate.node(empty, zero)) !== 'fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125' ||
    hex(long) !== hex(NOBLE_HASHER.leaf(new Uint8Array(200).fill(0x61))) ||
    hex(candidate.node(long, empty)) !== hex(NOBLE_HASHER.node(long, empty))
  ) {
    throw new Error('setMerkleHasher: the hasher does not compute RFC 6962 SHA-256 hashes')
  }
  const previous = hasher
  hasher = candidate
  return previous
}

/** The RFC 6962 leaf hash of a record: SHA-256(0x00 || data). */
export function leafHash(data: Uint8Array): Hash {
  return hasher.leaf(data)
}

/** The RFC 6962 interior node hash: SHA-256(0x01 || left || right). */
export function nodeHash(left: Hash, right: Hash): Hash {
  return hasher.node(left, right)
}

/** The reference RFC 6962 MTH over a list of leaf hashes, by its recursive definition (for tests). */
export function rootFromLeafHashes(leaves: readonly Hash[]): Hash {
  if (leaves.length === 0) return EMPTY_ROOT.slice()
  if (leaves.length === 1) return leaves[0]!
  const k = largestPowerOfTwoBelow(leaves.length)
  return nodeHash(rootFromLeafHashes(leaves.slice(0, k)), rootFromLeafHashes(leaves.slice(k)))
}

// ---- Stored hash layout (Crosby and Wallach, as in Go's tlog) ----

/** The stored hash index of the `n`th hash at `level` (level 0 holds record hashes). */
export function storedHashIndex(level: number, n: number): number {
  requireCount('level', level)
  requireCount('n', n)
  // Level L's nth hash is written right after level L+1's (2n+1)th hash; walk down to level 0,
  // where the nth hash sits at n + n/2 + n/4 + ..., then add the levels back.
  for (let l = level; l > 0; l--) n = 2 * n + 1
  let index = 0
  for (; n > 0; n = Math.floor(n / 2)) index += n
  return index + level
}

/** The inverse of {@link storedHashIndex}: the level and position of a stored hash index. */
export function splitStoredHashIndex(index: number): { level: number; n: number } {
  requireCount('index', index)
  // storedHashIndex(0, n) < 2n, so the record that wrote this hash is in [index/2, index/2 + log2(index)].
  let n = Math.floor(index / 2)
  let indexOfN = storedHashIndex(0, n)
  for (;;) {
    // Record n writes 1 + (trailing ones of n) hashes.
    const next = indexOfN + 1 + trailingOnes(n)
    if (next > index) break
    n++
    indexOfN = next
  }
  const level = index - indexOfN
  return { level, n: Math.floor(n / 2 ** level) }
}

/** How many hashes a tree of `n` records stores. */
export function storedHashCount(n: number): number {
  requireCount('n', n)
  if (n === 0) return 0
  return storedHashIndex(0, n - 1) + 1 + trailingOnes(n - 1)
}

/**
 * The hashes to store when appending record `n` holding `data`, to be written starting at
 * `storedHashIndex(0, n)`: the record hash, then one hash per subtree the record completes.
 */
export function storedHashes(n: number, data: Uint8Array, read: HashReader): Hash[] {
  return storedHashesForRecordHash(n, leafHash(data), read)
}

/** Like {@link storedHashes}, given the record's leaf hash instead of its data. */
export function storedHashesForRecordHash(n: number, recordHash: Hash, read: HashReader): Hash[] {
  requireCount('n', n)
  const completed = trailingOnes(n)
  const indexes: number[] = []
  // Each trailing 1 bit of n completes a subtree whose left half is already stored.
  for (let level = completed - 1; level >= 0; level--) {
    indexes.push(storedHashIndex(level, Math.floor(n / 2 ** level) - 1))
  }
  const lefts = readExactly(read, indexes)
  const out = [recordHash]
  let h = recordHash
  for (let level = 0; level < completed; level++) {
    h = nodeHash(lefts[completed - 1 - level]!, h)
    out.push(h)
  }
  return out
}

// ---- Tree hash ----

/** The stored hash indexes of the perfect subtrees of a tree of size `n`, left to right. */
export function treeHashIndexes(n: number): number[] {
  requireCount('n', n)
  return subtreeIndexes(0, n, [])
}

/** The root of a tree of size `n` from the hashes at {@link treeHashIndexes}(n). */
export function treeHashFromHashes(n: number, hashes: readonly Hash[]): Hash {
  requireCount('n', n)
  if (n === 0) return EMPTY_ROOT.slice()
  const cursor = new Cursor(hashes)
  const root = subtreeHash(0, n, cursor)
  cursor.requireDone()
  return root
}

/** The root of the tree of size `n`, reading its stored hashes through `read`. */
export function treeHash(n: number, read: HashReader): Hash {
  if (n === 0) return EMPTY_ROOT.slice()
  return treeHashFromHashes(n, readExactly(read, treeHashIndexes(n)))
}

// ---- Inclusion proofs ----

/** The stored hash indexes {@link proveRecord} reads for record `n` in the tree of size `t`. */
export function recordProofIndexes(t: number, n: number): number[] {
  requireRecordInTree(t, n)
  return recordProofIndexesIn(0, t, n, [])
}

/** Assembles the inclusion proof for record `n` in tree `t` from the hashes at {@link recordProofIndexes}. */
export function recordProofFromHashes(t: number, n: number, hashes: readonly Hash[]): Hash[] {
  requireRecordInTree(t, n)
  const cursor = new Cursor(hashes)
  const proof = recordProofIn(0, t, n, cursor)
  cursor.requireDone()
  return proof
}

/** The RFC 6962 inclusion proof (audit path, leaf side first) for record `n` in the tree of size `t`. */
export function proveRecord(t: number, n: number, read: HashReader): Hash[] {
  const indexes = recordProofIndexes(t, n)
  return recordProofFromHashes(t, n, indexes.length === 0 ? [] : readExactly(read, indexes))
}

/**
 * Whether `proof` shows that the tree of size `t` with root `treeRoot` has record hash
 * `recordHash` at index `n`. False for any malformed input; never throws.
 */
export function checkRecord(proof: readonly Hash[], t: number, treeRoot: Hash, n: number, recordHash: Hash): boolean {
  if (!isCount(t) || !isCount(n) || n >= t) return false
  if (!isHashList(proof) || !isHash(treeRoot) || !isHash(recordHash)) return false
  const root = runRecordProof(proof, proof.length, 0, t, n, recordHash)
  return root !== null && equalHashes(root, treeRoot)
}

function recordProofIndexesIn(lo: number, hi: number, n: number, need: number[]): number[] {
  if (lo + 1 === hi) return need
  const mid = lo + largestPowerOfTwoBelow(hi - lo)
  if (n < mid) {
    recordProofIndexesIn(lo, mid, n, need)
    subtreeIndexes(mid, hi, need)
  } else {
    subtreeIndexes(lo, mid, need)
    recordProofIndexesIn(mid, hi, n, need)
  }
  return need
}

function recordProofIn(lo: number, hi: number, n: number, cursor: Cursor): Hash[] {
  if (lo + 1 === hi) return []
  const mid = lo + largestPowerOfTwoBelow(hi - lo)
  let proof: Hash[]
  let sibling: Hash
  if (n < mid) {
    proof = recordProofIn(lo, mid, n, cursor)
    sibling = subtreeHash(mid, hi, cursor)
  } else {
    sibling = subtreeHash(lo, mid, cursor)
    proof = recordProofIn(mid, hi, n, cursor)
  }
  proof.push(sibling)
  return proof
}

// Runs proof[0:len] for leaf n in [lo, hi); returns the implied subtree hash, or null.
function runRecordProof(proof: readonly Hash[], len: number, lo: number, hi: number, n: number, leaf: Hash): Hash | null {
  if (lo + 1 === hi) return len === 0 ? leaf : null
  if (len === 0) return null
  const mid = lo + largestPowerOfTwoBelow(hi - lo)
  const sibling = proof[len - 1]!
  if (n < mid) {
    const left = runRecordProof(proof, len - 1, lo, mid, n, leaf)
    return left && nodeHash(left, sibling)
  }
  const right = runRecordProof(proof, len - 1, mid, hi, n, leaf)
  return right && nodeHash(sibling, right)
}

// ---- Consistency proofs ----

/** The stored hash indexes {@link proveTree} reads to prove tree `n` is a prefix of tree `t`. */
export function treeProofIndexes(t: number, n: number): number[] {
  requirePrefix(t, n)
  return treeProofIndexesIn(0, t, n, [])
}

/** Assembles the consistency proof from tree `n` to tree `t` from the hashes at {@link treeProofIndexes}. */
export function treeProofFromHashes(t: number, n: number, hashes: readonly Hash[]): Hash[] {
  requirePrefix(t, n)
  const cursor = new Cursor(hashes)
  const proof = treeProofIn(0, t, n, cursor)
  cursor.requireDone()
  return proof
}

/** The RFC 6962 consistency proof that the tree of size `n` (1 ≤ n ≤ t) is a prefix of the tree of size `t`. */
export function proveTree(t: number, n: number, read: HashReader): Hash[] {
  const indexes = treeProofIndexes(t, n)
  return treeProofFromHashes(t, n, indexes.length === 0 ? [] : readExactly(read, indexes))
}

/**
 * Whether `proof` shows that the tree of size `t` with root `treeRoot` extends the tree of size
 * `n` with root `oldRoot` (1 ≤ n ≤ t, as in Go). False for any malformed input; never throws.
 */
export function checkTree(proof: readonly Hash[], t: number, treeRoot: Hash, n: number, oldRoot: Hash): boolean {
  if (!isCount(t) || !isCount(n) || n < 1 || n > t) return false
  if (!isHashList(proof) || !isHash(treeRoot) || !isHash(oldRoot)) return false
  const roots = runTreeProof(proof, proof.length, 0, t, n, oldRoot)
  return roots !== null && equalHashes(roots.old, oldRoot) && equalHashes(roots.tree, treeRoot)
}

function treeProofIndexesIn(lo: number, hi: number, n: number, need: number[]): number[] {
  if (n === hi) return lo === 0 ? need : subtreeIndexes(lo, hi, need)
  const mid = lo + largestPowerOfTwoBelow(hi - lo)
  if (n <= mid) {
    treeProofIndexesIn(lo, mid, n, need)
    subtreeIndexes(mid, hi, need)
  } else {
    subtreeIndexes(lo, mid, need)
    treeProofIndexesIn(mid, hi, n, need)
  }
  return need
}

function treeProofIn(lo: number, hi: number, n: number, cursor: Cursor): Hash[] {
  // Reaching the old tree itself needs no hash: the verifier knows it.
  if (n === hi) return lo === 0 ? [] : [subtreeHash(lo, hi, cursor)]
  const mid = lo + largestPowerOfTwoBelow(hi - lo)
  let proof: Hash[]
  let sibling: Hash
  if (n <= mid) {
    proof = treeProofIn(lo, mid, n, cursor)
    sibling = subtreeHash(mid, hi, cursor)
  } else {
    sibling = subtreeHash(lo, mid, cursor)
    proof = treeProofIn(mid, hi, n, cursor)
  }
  proof.push(sibling)
  return proof
}

// Runs proof[0:len] for [lo, hi) against an old tree of size n; returns the implied old and new subtree hashes.
function runTreeProof(
  proof: readonly Hash[],
  len: number,
  lo: number,
  hi: number,
  n: number,
  oldRoot: Hash,
): { old: Hash; tree: Hash } | null {
  if (n === hi) {
    if (lo === 0) return len === 0 ? { old: oldRoot, tree: oldRoot } : null
    return len === 1 ? { old: proof[0]!, tree: proof[0]! } : null
  }
  if (len === 0) return null
  const mid = lo + largestPowerOfTwoBelow(hi - lo)
  const sibling = proof[len - 1]!
  if (n <= mid) {
    const left = runTreeProof(proof, len - 1, lo, mid, n, oldRoot)
    return left && { old: left.old, tree: nodeHash(left.tree, sibling) }
  }
  const right = runTreeProof(proof, len - 1, mid, hi, n, oldRoot)
  return right && { old: nodeHash(sibling, right.old), tree: nodeHash(sibling, right.tree) }
}

// ---- Right edge ----

/**
 * The right edge ("compact range") of a tree: the roots of its perfect subtrees, largest
 * (leftmost) first, one per 1 bit of the size. Enough to append records and compute roots
 * without reading any other stored hash.
 */
export class RightEdge {
  #size: number
  #hashes: Hash[]

  /** An edge for a tree of `size` records with the given subtree roots (default: the empty tree). */
  constructor(size = 0, hashes: readonly Hash[] = []) {
    requireCount('size', size)
    if (hashes.length !== onesCount(size) || !isHashList(hashes)) {
      throw new RangeError(`a right edge of size ${size} needs ${onesCount(size)} hashes of ${HASH_SIZE} bytes`)
    }
    this.#size = size
    this.#hashes = hashes.slice()
  }

  /** The edge of the tree of size `n`, reading its subtree roots through `read`. */
  static fromStoredHashes(n: number, read: HashReader): RightEdge {
    const indexes = treeHashIndexes(n)
    return new RightEdge(n, indexes.length === 0 ? [] : readExactly(read, indexes))
  }

  /** Number of records in the tree. */
  get size(): number {
    return this.#size
  }

  /** The perfect subtree roots, left to right (a copy). */
  get hashes(): Hash[] {
    return this.#hashes.slice()
  }

  /**
   * Appends a record by its leaf hash. Returns the hashes Go's layout stores for that record,
   * exactly what {@link storedHashesForRecordHash} would compute, without any reads.
   */
  append(recordHash: Hash): Hash[] {
    if (!isHash(recordHash)) throw new RangeError(`a record hash must be ${HASH_SIZE} bytes`)
    const stored = [recordHash]
    let h = recordHash
    for (let s = this.#size; s % 2 === 1; s = (s - 1) / 2) {
      h = nodeHash(this.#hashes.pop()!, h)
      stored.push(h)
    }
    this.#hashes.push(h)
    this.#size++
    return stored
  }

  /** The tree root (SHA-256("") for the empty tree). */
  root(): Hash {
    if (this.#hashes.length === 0) return EMPTY_ROOT.slice()
    let h = this.#hashes[this.#hashes.length - 1]!
    for (let i = this.#hashes.length - 2; i >= 0; i--) h = nodeHash(this.#hashes[i]!, h)
    return h
  }

  /** An independent copy. */
  clone(): RightEdge {
    return new RightEdge(this.#size, this.#hashes)
  }
}

// ---- Shared helpers ----

// Appends the stored indexes of the perfect subtrees covering [lo, hi), left to right.
function subtreeIndexes(lo: number, hi: number, need: number[]): number[] {
  while (lo < hi) {
    const { size, level } = largestPerfectSubtree(hi - lo)
    need.push(storedHashIndex(level, lo / size))
    lo += size
  }
  return need
}

// Consumes the hashes subtreeIndexes(lo, hi) named and folds them into the subtree's hash.
function subtreeHash(lo: number, hi: number, cursor: Cursor): Hash {
  const parts: Hash[] = []
  while (lo < hi) {
    parts.push(cursor.take())
    lo += largestPerfectSubtree(hi - lo).size
  }
  let h = parts[parts.length - 1]!
  for (let i = parts.length - 2; i >= 0; i--) h = nodeHash(parts[i]!, h)
  return h
}

class Cursor {
  #at = 0
  readonly #hashes: readonly Hash[]
  constructor(hashes: readonly Hash[]) {
    this.#hashes = hashes
  }
  take(): Hash {
    const h = this.#hashes[this.#at++]
    if (h === undefined) throw new RangeError('too few hashes for this tree shape')
    return h
  }
  requireDone(): void {
    if (this.#at !== this.#hashes.length) throw new RangeError('too many hashes for this tree shape')
  }
}

function readExactly(read: HashReader, indexes: number[]): Hash[] {
  const hashes = read(indexes)
  if (hashes.length !== indexes.length) {
    throw new Error(`hash reader returned ${hashes.length} hashes for ${indexes.length} indexes`)
  }
  if (!isHashList(hashes)) throw new Error(`hash reader returned a hash that is not ${HASH_SIZE} bytes`)
  return hashes
}

// RFC 6962's split point k: the largest power of two strictly less than n (n ≥ 2).
function largestPowerOfTwoBelow(n: number): number {
  let k = 1
  while (k * 2 < n) k *= 2
  return k
}

// The largest perfect subtree fitting in `count` (≥ 1) records, and its level.
function largestPerfectSubtree(count: number): { size: number; level: number } {
  let size = 1
  let level = 0
  while (size * 2 <= count) {
    size *= 2
    level++
  }
  return { size, level }
}

function trailingOnes(n: number): number {
  let ones = 0
  for (; n % 2 === 1; n = (n - 1) / 2) ones++
  return ones
}

function onesCount(n: number): number {
  let ones = 0
  for (; n > 0; n = Math.floor(n / 2)) ones += n % 2
  return ones
}

function isCount(value: unknown): value is number {
  return Number.isSafeInteger(value) && (value as number) >= 0
}

function requireCount(name: string, value: number): void {
  if (!isCount(value)) throw new RangeError(`${name} must be a non-negative safe integer, got ${value}`)
}

function requireRecordInTree(t: number, n: number): void {
  requireCount('t', t)
  requireCount('n', n)
  if (n >= t) throw new RangeError(`record ${n} is not in a tree of size ${t}`)
}

function requirePrefix(t: number, n: number): void {
  requireCount('t', t)
  requireCount('n', n)
  if (n < 1 || n > t) throw new RangeError(`no consistency proof from size ${n} to size ${t}`)
}

function isHash(h: unknown): h is Hash {
  return h instanceof Uint8Array && h.length === HASH_SIZE
}

function isHashList(list: unknown): list is Hash[] {
  return Array.isArray(list) && list.every(isHash)
}

function equalHashes(a: Hash, b: Hash): boolean {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
  return true
}
