/**
 * The benchmark's transparency log, built from the dataset with the directory's own protocol
 * code: the entries (app registrations, one add per binding, then a tail of later changes),
 * their leaf hashes, signed checkpoints, and the signed snapshot at the end of the dataset.
 * Everything large lives in SharedArrayBuffers so a log server in a worker thread
 * (`log-server.ts`) serves it without copying.
 * @module
 */
import { signCheckpoint } from '../src/protocol/checkpoint.ts'
import { signerFromSeed } from '../src/protocol/ed25519.ts'
import { encodeEntry, type LogEntry } from '../src/protocol/entry.ts'
import { EMPTY_ROOT, RightEdge, type Hash } from '../src/protocol/merkle.ts'
import { formatSignerKey } from '../src/protocol/note-keys.ts'
import { noteSignerFromKey, signNote, verifierKeyOf } from '../src/protocol/note.ts'
import { leafHashInto, nodeHashInto } from '../src/protocol/sha256.ts'
import { encodeSnapshot, formatManifest, gzip, snapshotDigest, type SnapshotContent } from '../src/protocol/snapshot.ts'
import { appId, datasetEntries, type Dataset } from './dataset.ts'

/** The log's name (checkpoint origin). */
export const BENCH_ORIGIN = 'bench.whodis.test/log'

/** A built log; the buffers are shared, the rest is plain data (structured-cloneable). */
export interface BenchLog {
  origin: string
  logKey: string
  /** Entries in the log. */
  size: number
  /** The snapshot's tree size (the end of the dataset). */
  snapshotSize: number
  /** Entry i is `entryBytes[offsets[i] .. offsets[i + 1])`. */
  entryBytes: Uint8Array
  offsets: Float64Array
  /** Leaf hash of entry i at `leaves[32 i ..]`. */
  leaves: Uint8Array
  /** Signed checkpoints by tree size. */
  checkpoints: Record<number, string>
  /** The signed manifest, the gzip'd file, and the uncompressed encoding with its two sections alone. */
  snapshot: { manifest: string; data: Uint8Array; bytes: Uint8Array; stateBytes: Uint8Array; provenanceBytes: Uint8Array }
}

function shared(bytes: number): SharedArrayBuffer {
  return new SharedArrayBuffer(Math.max(8, bytes))
}

/**
 * Builds the log of `ds` followed by `tail`, with checkpoints at the snapshot size (the end of
 * the dataset) and at the end, and the snapshot at the end of the dataset.
 */
export async function buildBenchLog(ds: Dataset, tail: readonly LogEntry[]): Promise<BenchLog> {
  const size = ds.entryCount + tail.length
  // Entries: a minimal add is 17 bytes; app registrations and removes are shorter or rare.
  let entryBytes = new Uint8Array(shared(size * 18 + 1024))
  const offsets = new Float64Array(shared((size + 1) * 8))
  const leaves = new Uint8Array(shared(size * 32))
  let used = 0
  let i = 0
  const put = (e: LogEntry) => {
    const bytes = encodeEntry(e)
    if (used + bytes.length > entryBytes.length) {
      const grown = new Uint8Array(shared(Math.ceil(entryBytes.length * 1.25) + bytes.length))
      grown.set(entryBytes.subarray(0, used))
      entryBytes = grown
    }
    entryBytes.set(bytes, used)
    offsets[i] = used
    leafHashInto(bytes, 0, bytes.length, leaves, i * 32)
    used += bytes.length
    i++
  }
  for (const e of datasetEntries(ds)) put(e)
  for (const e of tail) put(e)
  offsets[size] = used
  if (i !== size) throw new Error(`built ${i} entries, expected ${size}`)

  const seed = new Uint8Array(32).fill(0x42)
  const { publicKey } = await signerFromSeed(seed)
  const signer = await noteSignerFromKey(formatSignerKey(BENCH_ORIGIN, seed, publicKey))
  const snapshotEdge = rightEdgeOf(leaves, ds.entryCount)
  const checkpoints: Record<number, string> = {}
  for (const [n, edge] of [[ds.entryCount, snapshotEdge], [size, rightEdgeOf(leaves, size)]] as const) {
    checkpoints[n] = await signCheckpoint({ origin: BENCH_ORIGIN, size: n, rootHash: edge.root(), extensions: [] }, signer)
  }

  const content: SnapshotContent = {
    treeSize: ds.entryCount,
    rightEdge: snapshotEdge.hashes,
    apps: Array.from({ length: ds.appCount }, (_, k) => ({ num: k + 1, id: appId(k + 1), revoked: false })),
    records: ds.records,
  }
  const encoded = encodeSnapshot(content)
  const gz = await gzip(encoded.bytes)
  const data = new Uint8Array(shared(gz.length)).subarray(0, gz.length)
  data.set(gz)
  const manifest = await signNote(
    formatManifest({
      origin: BENCH_ORIGIN,
      treeSize: ds.entryCount,
      rootHash: snapshotEdge.root(),
      records: ds.records.length,
      bytes: data.length,
      sha256: snapshotDigest(data),
    }),
    signer,
  )
  return {
    origin: BENCH_ORIGIN,
    logKey: verifierKeyOf(signer),
    size,
    snapshotSize: ds.entryCount,
    entryBytes: entryBytes.subarray(0, used),
    offsets,
    leaves,
    checkpoints,
    snapshot: { manifest, data, bytes: encoded.bytes, stateBytes: encoded.sections.state, provenanceBytes: encoded.sections.provenance },
  }
}

/**
 * The right edge of the first `size` leaves: one perfect subtree root per 1 bit of `size`,
 * each reduced level by level in a scratch buffer (no object per node).
 */
export function rightEdgeOf(leaves: Uint8Array, size: number): RightEdge {
  const roots: Hash[] = []
  let from = 0
  for (let bit = 2 ** Math.floor(Math.log2(Math.max(1, size))); bit >= 1; bit /= 2) {
    if (Math.floor(size / bit) % 2 === 0) continue
    roots.push(subtreeRoot(leaves, from, bit))
    from += bit
  }
  return new RightEdge(size, roots)
}

/** Root of the perfect subtree of `count` (a power of two) leaves from `from`. */
function subtreeRoot(leaves: Uint8Array, from: number, count: number): Hash {
  if (count === 0) return EMPTY_ROOT.slice()
  // Reduce in chunks of 2^16 leaves so the scratch stays small, then reduce the chunk roots.
  const chunk = Math.min(count, 65_536)
  const roots = new Uint8Array((count / chunk) * 32)
  const scratch = new Uint8Array(chunk * 32)
  for (let c = 0; c < count / chunk; c++) {
    scratch.set(leaves.subarray((from + c * chunk) * 32, (from + c * chunk + chunk) * 32))
    reduce(scratch, chunk)
    roots.set(scratch.subarray(0, 32), c * 32)
  }
  reduce(roots, count / chunk)
  return roots.slice(0, 32)
}

/** Replaces `buf`'s first `n` (a power of two) hashes by their Merkle root at buf[0..32). */
function reduce(buf: Uint8Array, n: number): void {
  for (let width = n; width > 1; width /= 2) {
    for (let k = 0; k < width / 2; k++) nodeHashInto(buf, 64 * k, buf, 64 * k + 32, buf, 32 * k)
  }
}
