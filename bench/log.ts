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
import { encodeBindingEntryInto, encodeEntry, MAX_BINDING_ENTRY, type LogEntry } from '../src/protocol/entry.ts'
import { HashAppender } from '../src/protocol/hash-appender.ts'
import { RightEdge } from '../src/protocol/merkle.ts'
import { formatSignerKey } from '../src/protocol/note-keys.ts'
import { noteSignerFromKey, signNote, verifierKeyOf } from '../src/protocol/note.ts'
import { encodeSnapshot, formatManifest, gzip, snapshotDigest, type SnapshotContent } from '../src/protocol/snapshot.ts'
import { HashBatch } from '../replicas/src/sha256x4.ts'
import { TILE_STORED_BYTES, TreeAppender } from '../replicas/src/tile-hash.ts'
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
  const batch = new HashBatch()
  let used = 0
  let i = 0
  const room = (n: number) => {
    if (used + n <= entryBytes.length) return
    const grown = new Uint8Array(shared(Math.ceil(entryBytes.length * 1.25) + n))
    grown.set(entryBytes.subarray(0, used))
    entryBytes = grown
  }
  const put = (bytes: Uint8Array | null, length: number) => {
    if (bytes) {
      room(bytes.length)
      entryBytes.set(bytes, used)
    }
    offsets[i] = used
    batch.leaf(entryBytes, used, used + length, leaves, i * 32)
    used += length
    i++
  }
  for (const e of datasetEntries(ds)) {
    // Adds (all but the first few entries) are written in place, exactly as encodeEntry writes them.
    if (e.kind === 'add' && !e.keyFingerprint) {
      room(MAX_BINDING_ENTRY)
      const n = encodeBindingEntryInto('add', e.subject, e.app, e.time, e.ttlDays, undefined, entryBytes, used)
      if (n < 0) throw new Error(`dataset entry ${i} cannot be encoded`)
      put(null, n)
    } else {
      const bytes = encodeEntry(e)
      put(bytes, bytes.length)
    }
  }
  for (const e of tail) {
    const bytes = encodeEntry(e)
    put(bytes, bytes.length)
  }
  batch.flush()
  offsets[size] = used
  if (i !== size) throw new Error(`built ${i} entries, expected ${size}`)

  const seed = new Uint8Array(32).fill(0x42)
  const { publicKey } = await signerFromSeed(seed)
  const signer = await noteSignerFromKey(formatSignerKey(BENCH_ORIGIN, seed, publicKey))
  // The tree's edge at the snapshot and at the end, hashing whole tiles four nodes at a time.
  const tree = new TreeAppender(new HashAppender())
  const scratch = new Uint8Array(TILE_STORED_BYTES)
  let snapshotEdge: RightEdge | null = ds.entryCount === 0 ? new RightEdge() : null
  for (let at = 0; at < size; ) {
    const count = Math.min(256 - (at % 256), size - at, at < ds.entryCount ? ds.entryCount - at : size - at)
    tree.append(leaves, at * 32, count, scratch)
    at += count
    if (at === ds.entryCount) snapshotEdge = tree.edge.rightEdge()
  }
  if (!snapshotEdge) throw new Error('the snapshot size was not reached')
  const checkpoints: Record<number, string> = {}
  for (const [n, edge] of [[ds.entryCount, snapshotEdge], [size, tree.edge.rightEdge()]] as const) {
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
