/**
 * Decoding a snapshot into columns (typed arrays) instead of one object per number and binding:
 * what a mirror needs to bootstrap ten million numbers without ten million objects. Same format
 * and the same checks as {@link decodeSnapshot} (the tests decode valid and damaged snapshots
 * both ways and require the same verdict and the same content), plus one more: an app num or a
 * TTL that does not fit 32 bits is refused here (no log entry can carry one, so a mirror would
 * refuse such a binding anyway).
 * @module
 */
import { constantTimeEqual, utf8 } from './bytes.ts'
import { RightEdge } from './merkle.ts'
import type { NoteVerifierKey } from './note-keys.ts'
import { openManifest, SnapshotError } from './snapshot-verify.ts'
import { gunzip, snapshotDigest, type SnapshotApp, type SnapshotManifest, type SnapshotRecord } from './snapshot.ts'
import { ByteReader } from './varint.ts'

const MAGIC = utf8('WHODIS-SNAPSHOT-1\n')
const APP_ID = /^[a-z0-9.-]{2,64}$/
const MAX_SUBJECT = 999_999_999_999_999
const U32 = 0xffff_ffff

/** A decoded snapshot, column by column. Binding `p` of record `r` is at position `first(r) + p`. */
export interface SnapshotColumns {
  treeSize: number
  rightEdge: Uint8Array[]
  apps: SnapshotApp[]
  /** Number of records (numbers). */
  records: number
  /** Number of bindings. */
  bindings: number
  /** Record r's number, ascending. */
  subjects: Float64Array
  /** Record r's binding count (≥ 1); its bindings follow those of records 0..r-1. */
  counts: Uint32Array
  /** Per binding: app num (ascending within a record), TTL in days, log index, verification time. */
  app: Uint32Array
  ttlDays: Uint32Array
  index: Float64Array
  verifiedAt: Float64Array
  /** Key fingerprints by binding position (rare). */
  keys: Map<number, Uint8Array>
  /** Binding positions in ascending log-index order. */
  byIndex: Int32Array
  /** The log index and the verification time of binding `byIndex[k]` (ascending log order, as the snapshot stores times). */
  logIndex: Float64Array
  logTime: Float64Array
}

/** Options of {@link decodeSnapshotColumns}. */
export interface ColumnOptions {
  /** Allocate the columns in SharedArrayBuffers (so worker threads can read them without a copy). */
  shared?: boolean
}

type TypedArrayOf<T> = { new (length: number): T; new (buffer: SharedArrayBuffer): T; BYTES_PER_ELEMENT: number }

function allocate<T>(Type: TypedArrayOf<T>, length: number, shared: boolean): T {
  return shared ? new Type(new SharedArrayBuffer(Math.max(1, length) * Type.BYTES_PER_ELEMENT)) : new Type(length)
}

/** Decodes a snapshot into columns, checking every rule {@link decodeSnapshot} checks; throws an Error otherwise. */
export function decodeSnapshotColumns(bytes: Uint8Array, options: ColumnOptions = {}): SnapshotColumns {
  const shared = options.shared === true
  const r = new ByteReader(bytes)
  const magic = r.bytes(MAGIC.length)
  if (!magic.every((b, i) => b === MAGIC[i])) throw new Error('not a whodis snapshot (bad magic)')
  const treeSize = r.varint()
  const edgeCount = r.varint()
  if (edgeCount > 64) throw new Error('right edge too long')
  const rightEdge = Array.from({ length: edgeCount }, () => r.bytes(32).slice())
  const appCount = r.varint()
  if (appCount > 65_536) throw new Error('too many apps')
  const apps: SnapshotApp[] = []
  const appNums = new Set<number>()
  for (let i = 0; i < appCount; i++) {
    const num = r.varint()
    const flags = r.varint()
    const id = new TextDecoder().decode(r.bytes(r.varint()))
    if (flags > 1 || !APP_ID.test(id) || appNums.has(num)) throw new Error('malformed app table')
    appNums.add(num)
    apps.push({ num, id, revoked: flags === 1 })
  }
  const recordCount = r.varint()
  const bindingCount = r.varint()
  if (recordCount > bytes.length || bindingCount > bytes.length || bindingCount < recordCount) {
    throw new Error('record counts do not fit the data')
  }
  const columns = Array.from({ length: 8 }, () => new ByteReader(r.bytes(r.varint())))
  if (!r.done) throw new Error('trailing bytes after snapshot')
  const [numbers, counts, appCol, ttl, indexCol, verified, keys, fingerprints] = columns as [
    ByteReader, ByteReader, ByteReader, ByteReader, ByteReader, ByteReader, ByteReader, ByteReader,
  ]
  const width = indexCol.varint()
  if (width !== indexWidth(treeSize)) throw new Error('index width does not match the tree size')
  const index = readIndexes(indexCol, bindingCount, width, shared)

  // A dense table of the app nums for the per-binding check (nums are usually small).
  let maxApp = 0
  for (const num of appNums) maxApp = Math.max(maxApp, num)
  const known = maxApp <= 1 << 20 ? new Uint8Array(maxApp + 1) : null
  if (known) for (const num of appNums) known[num] = 1

  const out: SnapshotColumns = {
    treeSize,
    rightEdge,
    apps,
    records: recordCount,
    bindings: bindingCount,
    subjects: allocate(Float64Array, recordCount, shared),
    counts: allocate(Uint32Array, recordCount, shared),
    app: allocate(Uint32Array, bindingCount, shared),
    ttlDays: allocate(Uint32Array, bindingCount, shared),
    index,
    verifiedAt: allocate(Float64Array, bindingCount, shared),
    keys: new Map(),
    byIndex: new Int32Array(0),
    logIndex: allocate(Float64Array, bindingCount, shared),
    logTime: allocate(Float64Array, bindingCount, shared),
  }
  let subject = 0
  let seen = 0
  for (let i = 0; i < recordCount; i++) {
    const delta = numbers.varint()
    if (delta === 0) throw new Error('duplicate or unsorted numbers')
    subject += delta
    if (subject > MAX_SUBJECT) throw new Error('number out of range')
    const n = counts.varint()
    if (n === 0 || seen + n > bindingCount) throw new Error('binding counts do not add up')
    let previousApp = -1
    for (let j = 0; j < n; j++) {
      const p = seen + j
      const app = appCol.varint()
      if (app <= previousApp || !(known ? app <= maxApp && known[app] === 1 : appNums.has(app))) {
        throw new Error('binding names an unknown or unsorted app')
      }
      previousApp = app
      const days = ttl.varint()
      if (app > U32 || days > U32) throw new Error('binding app or TTL out of range')
      out.app[p] = app
      out.ttlDays[p] = days
      if (index[p]! >= treeSize) throw new Error('binding index beyond the tree size')
      const flag = keys.varint()
      if (flag > 1) throw new Error('malformed key flag')
      if (flag === 1) out.keys.set(p, fingerprints.bytes(32).slice())
    }
    seen += n
    out.subjects[i] = subject
    out.counts[i] = n
  }
  const order = byIndex(index, treeSize, out.logIndex, shared)
  let time = 0
  for (let k = 0; k < order.length; k++) {
    time += unzigzag(verified.varint())
    if (!Number.isSafeInteger(time) || time < 0) throw new Error('verification time out of range')
    out.verifiedAt[order[k]!] = time
    out.logTime[k] = time
  }
  if (seen !== bindingCount) throw new Error('binding counts do not add up')
  for (const c of columns) if (!c.done) throw new Error('trailing bytes in a snapshot column')
  out.byIndex = order
  return out
}

/** The records of `columns` as {@link decodeSnapshot} returns them (objects; for tests and small snapshots). */
export function columnRecords(columns: SnapshotColumns): SnapshotRecord[] {
  const records: SnapshotRecord[] = []
  let p = 0
  for (let r = 0; r < columns.records; r++) {
    const bindings = []
    for (let end = p + columns.counts[r]!; p < end; p++) {
      const b: SnapshotRecord['bindings'][number] = { app: columns.app[p]!, ttlDays: columns.ttlDays[p]!, index: columns.index[p]!, verifiedAt: columns.verifiedAt[p]! }
      const key = columns.keys.get(p)
      if (key) b.keyFingerprint = key
      bindings.push(b)
    }
    records.push({ subject: columns.subjects[r]!, bindings })
  }
  return records
}

/**
 * `openSnapshot` with a column decode: the manifest must be signed by `logKey` and name its log,
 * the data must have the manifest's length and SHA-256 (`digest` computes it; default the
 * protocol's), decompress within `maxBytes`, decode, hold the manifest's tree size and record
 * count, and carry a right edge that hashes to the manifest's root. Throws {@link SnapshotError}.
 */
export async function openSnapshotColumns(
  manifestNote: string,
  data: Uint8Array,
  logKey: NoteVerifierKey,
  maxBytes = 2 ** 31,
  digest: (data: Uint8Array) => Uint8Array = snapshotDigest,
  options: ColumnOptions = {},
): Promise<{ manifest: SnapshotManifest; columns: SnapshotColumns }> {
  const manifest = await openManifest(manifestNote, logKey)
  if (data.length !== manifest.bytes) throw new SnapshotError('mismatch', `snapshot is ${data.length} bytes, manifest says ${manifest.bytes}`)
  if (!constantTimeEqual(digest(data), manifest.sha256)) throw new SnapshotError('mismatch', 'snapshot SHA-256 does not match its manifest')
  let columns: SnapshotColumns
  try {
    columns = decodeSnapshotColumns(await gunzip(data, maxBytes), options)
  } catch (err) {
    throw new SnapshotError('bad_data', `snapshot data: ${(err as Error).message}`)
  }
  if (columns.treeSize !== manifest.treeSize) throw new SnapshotError('mismatch', 'snapshot tree size does not match its manifest')
  if (columns.records !== manifest.records) throw new SnapshotError('mismatch', 'snapshot record count does not match its manifest')
  let root: Uint8Array
  try {
    root = new RightEdge(columns.treeSize, columns.rightEdge).root()
  } catch (err) {
    throw new SnapshotError('bad_data', `snapshot right edge: ${(err as Error).message}`)
  }
  if (!constantTimeEqual(root, manifest.rootHash)) throw new SnapshotError('mismatch', 'snapshot right edge does not hash to the manifest root')
  return { manifest, columns }
}

// ---- provenance coding (as snapshot.ts writes it) ----

function indexWidth(treeSize: number): number {
  return treeSize <= 1 ? 0 : Math.ceil(Math.log2(treeSize))
}

/** `count` big-endian `width`-bit values, a byte at a time rather than a bit at a time. */
function readIndexes(r: ByteReader, count: number, width: number, shared: boolean): Float64Array {
  const data = r.bytes(Math.ceil((count * width) / 8))
  const out = allocate(Float64Array, count, shared)
  let bit = 0
  for (let i = 0; i < count; i++) {
    let value = 0
    let left = width
    while (left > 0) {
      const used = bit & 7
      const take = Math.min(left, 8 - used)
      const bits = (data[bit >>> 3]! >>> (8 - used - take)) & ((1 << take) - 1)
      value = value * (1 << take) + bits
      bit += take
      left -= take
    }
    out[i] = value
  }
  if (bit % 8 !== 0 && (data[data.length - 1]! & (0xff >>> (bit % 8))) !== 0) throw new Error('non-zero padding after log indexes')
  return out
}

/** Binding positions in ascending log-index order (their indexes to `logIndex`); throws if two bindings claim one index. */
function byIndex(indexes: Float64Array, treeSize: number, logIndex: Float64Array, shared: boolean): Int32Array {
  const slot = new Int32Array(treeSize).fill(-1)
  for (let p = 0; p < indexes.length; p++) {
    const i = indexes[p]!
    if (slot[i] !== -1) throw new Error('two bindings claim the same log index')
    slot[i] = p
  }
  const out = allocate(Int32Array, indexes.length, shared)
  let k = 0
  for (let i = 0; i < slot.length; i++) {
    if (slot[i]! >= 0) {
      logIndex[k] = i
      out[k++] = slot[i]!
    }
  }
  return out
}

const unzigzag = (n: number) => (n % 2 === 0 ? n / 2 : -(n + 1) / 2)
