/**
 * Snapshots: the whole directory state at a tree size, for mirrors to bootstrap from.
 *
 * Layout (version 1, before gzip), column by column so that each column compresses well:
 * ```
 * "WHODIS-SNAPSHOT-1\n"
 * varint treeSize, varint edgeCount, edgeCount × 32-byte right-edge hashes
 * varint appCount, per app: varint num, varint flags (1 = revoked), varint idLength, id bytes
 * varint recordCount, varint bindingCount
 * state section      numbers:   recordCount × varint (subject − previous subject), ascending
 *                    counts:    recordCount × varint (bindings of that number, ≥ 1)
 *                    apps:      bindingCount × varint app num, ascending within a number
 *                    ttl:       bindingCount × varint ttlDays
 * provenance section index:    varint width w, then bindingCount × w-bit log index of the entry that
 *                               made the binding, bit-packed (most significant bit first)
 *                    verified:  bindingCount × varint zigzag(verifiedAt − previous verifiedAt), in
 *                               LOG INDEX order (entries are appended in time order, so deltas are small)
 *                    keys:      bindingCount × varint flag (1 = key fingerprint follows in fingerprints)
 *                    fingerprints: 32 bytes each, in binding order
 * ```
 * A log index is a permutation of the bindings in number order, so it costs about log2(N) bits
 * each whatever the coding; bit-packing gets close to that, and ordering times by index makes
 * them nearly free.
 * The state section is what lookups need (number → apps); the provenance section makes times
 * exact and lets a mirror attach receipts (`?proof=1`) to bindings it learned from a snapshot.
 * The right edge lets a mirror append the entries after the snapshot and check the next
 * checkpoint's root.
 * @module
 */
import { sha256 } from '@noble/hashes/sha2.js'
import { owned, readAll, toBase64, utf8 } from './bytes.ts'
import { APP_ID } from './entry.ts'
import { ByteReader, ByteWriter } from './varint.ts'

const MAGIC = utf8('WHODIS-SNAPSHOT-1\n')
const MAX_SUBJECT = 999_999_999_999_999
const U32 = 0xffff_ffff

/** An app as a snapshot lists it. */
export interface SnapshotApp {
  num: number
  id: string
  revoked: boolean
}

/** One binding of a number. Times are seconds since the epoch. */
export interface SnapshotBinding {
  app: number
  index: number
  verifiedAt: number
  ttlDays: number
  keyFingerprint?: Uint8Array
}

/** A number (its E.164 digits as an integer) and its bindings, sorted by app num. */
export interface SnapshotRecord {
  subject: number
  bindings: SnapshotBinding[]
}

/** Everything a snapshot holds. Records are sorted by subject. */
export interface SnapshotContent {
  treeSize: number
  rightEdge: Uint8Array[]
  apps: SnapshotApp[]
  records: SnapshotRecord[]
}

/** Sizes of a snapshot's parts, for reporting. */
export interface SnapshotStats {
  records: number
  bindings: number
  stateBytes: number
  provenanceBytes: number
}

/** Encodes a snapshot (uncompressed); throws if records are unsorted or malformed. */
export function encodeSnapshot(content: SnapshotContent): {
  bytes: Uint8Array
  stats: SnapshotStats
  /** The state and provenance columns alone, concatenated, for measuring each part. */
  sections: { state: Uint8Array; provenance: Uint8Array }
} {
  const head = new ByteWriter()
  head.bytes(MAGIC)
  head.varint(content.treeSize)
  head.varint(content.rightEdge.length)
  for (const h of content.rightEdge) {
    if (h.length !== 32) throw new Error('right-edge hashes must be 32 bytes')
    head.bytes(h)
  }
  head.varint(content.apps.length)
  for (const app of content.apps) {
    if (!APP_ID.test(app.id)) throw new Error(`invalid app id ${app.id}`)
    head.varint(app.num)
    head.varint(app.revoked ? 1 : 0)
    const id = utf8(app.id)
    head.varint(id.length)
    head.bytes(id)
  }
  const bindingCount = content.records.reduce((n, r) => n + r.bindings.length, 0)
  head.varint(content.records.length)
  head.varint(bindingCount)

  const numbers = new ByteWriter(content.records.length * 2 + 16)
  const counts = new ByteWriter(content.records.length + 16)
  const apps = new ByteWriter(bindingCount + 16)
  const ttl = new ByteWriter(bindingCount * 2 + 16)
  const keys = new ByteWriter(bindingCount + 16)
  const fingerprints = new ByteWriter(64)
  const indexes = new Float64Array(bindingCount)
  const times = new Float64Array(bindingCount)

  let previous = 0
  let at = 0
  for (const r of content.records) {
    if (!Number.isSafeInteger(r.subject) || r.subject <= previous || r.subject > MAX_SUBJECT) {
      throw new Error('records must be sorted by subject, without duplicates')
    }
    if (r.bindings.length === 0) throw new Error('a record must have at least one binding')
    numbers.varint(r.subject - previous)
    previous = r.subject
    counts.varint(r.bindings.length)
    let previousApp = -1
    for (const b of r.bindings) {
      if (b.app <= previousApp) throw new Error('bindings must be sorted by app num, without duplicates')
      if (!Number.isSafeInteger(b.index) || b.index < 0 || b.index >= content.treeSize) throw new Error('binding index beyond the tree size')
      previousApp = b.app
      apps.varint(b.app)
      ttl.varint(b.ttlDays)
      indexes[at] = b.index
      times[at++] = b.verifiedAt
      keys.varint(b.keyFingerprint ? 1 : 0)
      if (b.keyFingerprint) {
        if (b.keyFingerprint.length !== 32) throw new Error('key fingerprints must be 32 bytes')
        fingerprints.bytes(b.keyFingerprint)
      }
    }
  }
  const index = new ByteWriter(Math.ceil((bindingCount * indexWidth(content.treeSize)) / 8) + 16)
  writeIndexes(index, indexes, indexWidth(content.treeSize))
  const verified = new ByteWriter(bindingCount * 2 + 16)
  let previousTime = 0
  for (const position of byIndex(indexes, content.treeSize)) {
    verified.varint(zigzag(times[position]! - previousTime))
    previousTime = times[position]!
  }
  const state = [numbers, counts, apps, ttl]
  const provenance = [index, verified, keys, fingerprints]
  const out = new ByteWriter(head.length + [...state, ...provenance].reduce((n, w) => n + w.length + 5, 0))
  out.bytes(head.finish())
  for (const w of [...state, ...provenance]) {
    out.varint(w.length)
    out.bytes(w.finish())
  }
  const join = (ws: ByteWriter[]) => {
    const all = new ByteWriter(ws.reduce((n, w) => n + w.length, 0) + 1)
    for (const w of ws) all.bytes(w.finish())
    return all.finish()
  }
  return {
    bytes: out.finish(),
    sections: { state: join(state), provenance: join(provenance) },
    stats: {
      records: content.records.length,
      bindings: bindingCount,
      stateBytes: state.reduce((n, w) => n + w.length, 0),
      provenanceBytes: provenance.reduce((n, w) => n + w.length, 0),
    },
  }
}

/** A snapshot whose header does not match the figures it was expected to have. */
export class ExpectationError extends Error {
  override readonly name = 'ExpectationError'
}

/** Decodes a snapshot into objects (tests, the directory's own checks, small snapshots); see {@link decodeSnapshotColumns}. */
export function decodeSnapshot(bytes: Uint8Array): SnapshotContent {
  return columnContent(decodeSnapshotColumns(bytes))
}

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

/**
 * Decodes a snapshot into columns (typed arrays, no object per number or binding: what a mirror
 * needs to bootstrap millions of numbers), checking every structural rule; throws a clear Error
 * on any violation. An app num or a TTL that does not fit 32 bits is refused too: no log entry
 * can carry one. With `expected` (a manifest's figures), a snapshot of another tree size or
 * record count is refused ({@link ExpectationError}) before anything is allocated for it.
 */
export function decodeSnapshotColumns(bytes: Uint8Array, expected?: { treeSize: number; records: number }): SnapshotColumns {
  const r = new ByteReader(bytes)
  const magic = r.bytes(MAGIC.length)
  if (!magic.every((b, i) => b === MAGIC[i])) throw new Error('not a whodis snapshot (bad magic)')
  const treeSize = r.varint()
  // Decoding allocates by tree size and record count: check them first when they are known.
  if (expected && treeSize !== expected.treeSize) throw new ExpectationError('snapshot tree size does not match its manifest')
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
  if (expected && recordCount !== expected.records) throw new ExpectationError('snapshot record count does not match its manifest')
  if (recordCount > bytes.length || bindingCount > bytes.length || bindingCount < recordCount || bindingCount > treeSize) {
    throw new Error('record counts do not fit the data')
  }
  const columns = Array.from({ length: 8 }, () => new ByteReader(r.bytes(r.varint())))
  if (!r.done) throw new Error('trailing bytes after snapshot')
  const [numbers, counts, appCol, ttl, indexCol, verified, keys, fingerprints] = columns as [
    ByteReader, ByteReader, ByteReader, ByteReader, ByteReader, ByteReader, ByteReader, ByteReader,
  ]
  const width = indexCol.varint()
  if (width !== indexWidth(treeSize)) throw new Error('index width does not match the tree size')
  const index = readIndexes(indexCol, bindingCount, width)

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
    subjects: new Float64Array(recordCount),
    counts: new Uint32Array(recordCount),
    app: new Uint32Array(bindingCount),
    ttlDays: new Uint32Array(bindingCount),
    index,
    verifiedAt: new Float64Array(bindingCount),
    keys: new Map(),
    byIndex: new Int32Array(0),
    logIndex: new Float64Array(bindingCount),
    logTime: new Float64Array(bindingCount),
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
  const order = byIndex(index, treeSize, out.logIndex)
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

/** The content of `columns` as objects, as {@link decodeSnapshot} returns it. */
export function columnContent(c: SnapshotColumns): SnapshotContent {
  return { treeSize: c.treeSize, rightEdge: c.rightEdge, apps: c.apps, records: columnRecords(c) }
}

function columnRecords(columns: SnapshotColumns): SnapshotRecord[] {
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

/** gzip through the standard CompressionStream (workerd and Node both have it). */
export async function gzip(data: Uint8Array): Promise<Uint8Array> {
  return readAll(new Blob([owned(data)]).stream().pipeThrough(new CompressionStream('gzip')))
}

/** gunzip through the standard DecompressionStream; rejects on corrupt input or above `maxBytes`. */
export async function gunzip(data: Uint8Array, maxBytes = 2 ** 31): Promise<Uint8Array> {
  return readAll(new Blob([owned(data)]).stream().pipeThrough(new DecompressionStream('gzip')), maxBytes, () => new Error(`decompressed data larger than ${maxBytes} bytes`))
}


/** The manifest body a log key signs for a snapshot file (its gzip'd bytes). */
export interface SnapshotManifest {
  origin: string
  treeSize: number
  rootHash: Uint8Array
  records: number
  bytes: number
  sha256: Uint8Array
}

const MANIFEST_HEADER = 'whodis.snapshot/v1'

/** Formats a manifest body (signed as a note by the log key). */
export function formatManifest(m: SnapshotManifest): string {
  return (
    `${MANIFEST_HEADER}\n${m.origin}\n${m.treeSize}\n${toBase64(m.rootHash)}\n` +
    `records ${m.records}\nbytes ${m.bytes}\nsha256 ${toBase64(m.sha256)}\n`
  )
}

/** Parses a manifest body strictly; throws on any deviation from {@link formatManifest}. */
export function parseManifest(text: string): SnapshotManifest {
  const m = text.match(
    /^whodis\.snapshot\/v1\n([^\n]+)\n(0|[1-9][0-9]{0,15})\n([A-Za-z0-9+/]{43}=)\nrecords (0|[1-9][0-9]{0,15})\nbytes (0|[1-9][0-9]{0,15})\nsha256 ([A-Za-z0-9+/]{43}=)\n$/,
  )
  if (!m) throw new Error('malformed snapshot manifest')
  const num = (s: string) => {
    const n = Number(s)
    if (!Number.isSafeInteger(n)) throw new Error('manifest number out of range')
    return n
  }
  return {
    origin: m[1]!,
    treeSize: num(m[2]!),
    rootHash: Uint8Array.from(atob(m[3]!), (c) => c.charCodeAt(0)),
    records: num(m[4]!),
    bytes: num(m[5]!),
    sha256: Uint8Array.from(atob(m[6]!), (c) => c.charCodeAt(0)),
  }
}

/** SHA-256 of a snapshot file, as its manifest names it. */
export function snapshotDigest(file: Uint8Array): Uint8Array {
  return sha256(file)
}

// ---- provenance coding ----

/** Bits needed for a log index below `treeSize`. */
function indexWidth(treeSize: number): number {
  return treeSize <= 1 ? 0 : Math.ceil(Math.log2(treeSize))
}

function writeIndexes(w: ByteWriter, indexes: Float64Array, width: number): void {
  w.varint(width)
  const out = new Uint8Array(Math.ceil((indexes.length * width) / 8))
  let bit = 0
  for (const value of indexes) {
    for (let b = width - 1; b >= 0; b--, bit++) {
      if (Math.floor(value / 2 ** b) % 2 === 1) out[bit >>> 3]! |= 0x80 >>> (bit & 7)
    }
  }
  w.bytes(out)
}

/** `count` big-endian `width`-bit values, a byte at a time rather than a bit at a time. */
function readIndexes(r: ByteReader, count: number, width: number): Float64Array {
  const data = r.bytes(Math.ceil((count * width) / 8))
  const out = new Float64Array(count)
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

/**
 * Binding positions in ascending log-index order (and, into `logIndex` when given, those
 * indexes); throws if two bindings claim one index.
 */
function byIndex(indexes: Float64Array, treeSize: number, logIndex?: Float64Array): Int32Array {
  const slot = new Int32Array(treeSize).fill(-1)
  for (let p = 0; p < indexes.length; p++) {
    const i = indexes[p]!
    if (slot[i] !== -1) throw new Error('two bindings claim the same log index')
    slot[i] = p
  }
  const out = new Int32Array(indexes.length)
  let k = 0
  for (let i = 0; i < slot.length; i++) {
    if (slot[i]! >= 0) {
      if (logIndex) logIndex[k] = i
      out[k++] = slot[i]!
    }
  }
  return out
}

const zigzag = (n: number) => (n >= 0 ? n * 2 : -n * 2 - 1)
const unzigzag = (n: number) => (n % 2 === 0 ? n / 2 : -(n + 1) / 2)
