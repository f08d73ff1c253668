/**
 * Pass one of a sync: fetch the entry bundles of [from, to), hash every entry into a copy of
 * the held right edge, and require the root at each target size (the held checkpoint, if the
 * range crosses it, and the new one) to equal the signed root. Nothing is folded or committed
 * here; the entries wait in a spool, the new Merkle hashes are written past the verified end of
 * `hashes.bin`, and the edge is recorded at every chunk boundary for pass two.
 *
 * This one root check proves both that the new tree extends the held one (consistency) and that
 * the bundles are the entries the log signed (content).
 * @module
 */
import { HashAppender } from '../../src/protocol/hash-appender.ts'
import { HASH_SIZE, RightEdge, storedHashIndex } from '../../src/protocol/merkle.ts'
import { leafHashInto } from '../../src/protocol/sha256.ts'
import { TILE_WIDTH } from '../../src/protocol/tiles.ts'
import { MirrorError } from './errors.ts'
import type { HashFile } from './hashes.ts'
import type { LogClient } from './log-client.ts'
import type { Progress } from './logger.ts'
import type { Spool } from './spool.ts'
import { TILE_STORED_BYTES, TreeAppender } from './tile-hash.ts'

/** A size at which the recomputed root must equal a signed one. */
export interface RangeTarget {
  size: number
  rootHash: Uint8Array
  /** What signed it, for messages ("the held checkpoint"). */
  what: string
}

/** Inputs of {@link verifyRange}. */
export interface VerifyRangeInput {
  client: LogClient
  from: number
  /** The right edge at `from` (not modified). */
  edge: RightEdge
  /** Ascending; the last one is the end of the range. */
  targets: RangeTarget[]
  hashes: HashFile
  /** Entries per commit in pass two. */
  chunkEntries: number
  /** Sizes at which a chunk must also end (a replay commits right before an entry it expects refused). */
  chunkBreaks?: readonly number[]
  spool: Spool
  progress?: Progress
  /** Bundles fetched in parallel (default 8). */
  concurrency?: number
}

/** A verified range: the edge at each chunk end (the last is the range end). */
export interface VerifiedRange {
  from: number
  to: number
  chunks: { end: number; edge: RightEdge }[]
}

/** The recomputed root differs from a signed one at `target.size`. */
export class RootMismatch extends Error {
  override readonly name = 'RootMismatch'
  constructor(
    readonly target: RangeTarget,
    readonly computed: Uint8Array,
  ) {
    super(`the entries served do not hash to the root of ${target.what} (tree size ${target.size})`)
  }
}

/** Runs pass one; throws {@link RootMismatch}, or a MirrorError for a garbled or unreachable response. */
export async function verifyRange(input: VerifyRangeInput): Promise<VerifiedRange> {
  const { client, from, hashes, chunkEntries, spool } = input
  const to = input.targets.at(-1)!.size
  if (to < from) throw new MirrorError('internal', `cannot verify a range from ${from} back to ${to}`)
  const edge = new HashAppender(input.edge)
  if (edge.size !== from) throw new MirrorError('internal', `edge of size ${edge.size} does not start the range at ${from}`)
  const targets = [...input.targets]
  const chunks: VerifiedRange['chunks'] = []
  const breaks = input.chunkBreaks ?? []
  const chunkEndAfter = (size: number) => Math.min(to, size + chunkEntries, ...breaks.filter((b) => b > size))
  let nextChunkEnd = chunkEndAfter(from)
  const concurrency = input.concurrency ?? 8

  // Bundles in order, with up to `concurrency` requests in flight.
  const first = Math.floor(from / TILE_WIDTH)
  const last = to > from ? Math.floor((to - 1) / TILE_WIDTH) : first - 1
  const inFlight = new Map<number, Promise<{ bytes: Uint8Array; entries: Uint8Array[] }>>()
  const request = (b: number) => {
    if (b > last || inFlight.has(b)) return
    const p = client.bundle(b, Math.min(TILE_WIDTH, to - b * TILE_WIDTH))
    p.catch(() => {}) // Awaited in order below; avoid an unhandled rejection meanwhile.
    inFlight.set(b, p)
  }

  // One bundle's leaf hashes (hashed four at a time), then its stored hashes, written contiguously
  // (see TreeAppender), then to hashes.bin.
  const tree = new TreeAppender(edge)
  const batch = tree.batch
  const leaves = new Uint8Array(TILE_WIDTH * HASH_SIZE)
  const stored = new Uint8Array(TILE_STORED_BYTES)
  let hashStart = storedHashIndex(0, from)
  let finished = false
  try {
    for (let b = first; b <= last; b++) {
      for (let ahead = b; ahead < b + concurrency; ahead++) request(ahead)
      const bundle = await inFlight.get(b)!
      inFlight.delete(b)
      const skip = Math.max(0, from - b * TILE_WIDTH)
      const entries = skip === 0 ? bundle.entries : bundle.entries.slice(skip)
      for (let k = 0; k < entries.length; k++) {
        const entry = entries[k]!
        if (batch) batch.leaf(entry, 0, entry.length, leaves, k * HASH_SIZE)
        else leafHashInto(entry, 0, entry.length, leaves, k * HASH_SIZE)
      }
      batch?.flush()
      // A whole bundle goes in at once unless a chunk end or a checked size falls inside it.
      const start = edge.size
      const end = start + entries.length
      const inside = (n: number) => n > start && n < end
      const whole = !inside(nextChunkEnd) && !targets.some((t) => inside(t.size))
      for (let k = 0; k < entries.length; ) {
        const count = whole ? entries.length : 1
        const n = tree.append(leaves, k * HASH_SIZE, count, stored)
        // Hashes below the verified end are held already (and the root checks prove these equal).
        const skipHeld = Math.max(0, Math.min(n, hashes.validCount - hashStart))
        if (skipHeld < n) hashes.writeRun(hashStart + skipHeld, stored, skipHeld * HASH_SIZE, n - skipHeld)
        hashStart += n
        k += count
        if (edge.size === nextChunkEnd) {
          chunks.push({ end: edge.size, edge: edge.rightEdge() })
          nextChunkEnd = chunkEndAfter(edge.size)
        }
        while (targets.length > 0 && targets[0]!.size === edge.size) {
          const target = targets.shift()!
          const root = edge.root()
          if (!sameBytes(root, target.rootHash)) throw new RootMismatch(target, root)
        }
      }
      spool.add(bundle.bytes, skip)
      input.progress?.update(edge.size - from)
    }
    finished = true
  } finally {
    inFlight.clear()
    // Background writes of hashes.bin end here, whatever happened (a write error wins only if nothing else failed).
    await hashes.drain().catch((err) => {
      if (finished) throw err
    })
  }
  for (const target of targets) {
    // Only a range of length 0 gets here (the end equals the start).
    const root = edge.root()
    if (target.size !== edge.size || !sameBytes(root, target.rootHash)) throw new RootMismatch(target, root)
  }
  if (chunks.length === 0 || chunks.at(-1)!.end !== to) chunks.push({ end: to, edge: edge.rightEdge() })
  return { from, to, chunks }
}

/** Byte equality of two hashes. */
export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
  return true
}
