/**
 * Bootstrapping from the directory's newest signed snapshot, and rebuilding the held Merkle
 * hashes from the public level-0 hash tiles.
 *
 * A snapshot is accepted only when its manifest is signed by the pinned key and names the log,
 * its file has exactly the manifest's byte length and SHA-256, it decompresses within the size
 * cap and decodes strictly, it holds the manifest's tree size and record count, and its right
 * edge hashes to the manifest's root (`openSnapshotColumns`, the column form of the directory's
 * `openSnapshot`). The caller then fetches the hash tiles up to the snapshot's size (they must
 * hash to the same root) and checks every binding against the leaf hash at its index as they
 * pass, and every app of its app table against the app's registration entry, before the
 * snapshot's size is extended to a signed checkpoint.
 * @module
 */
import { createHash } from 'node:crypto'
import { decodeEntry, encodeBindingEntryInto, MAX_BINDING_ENTRY } from '../../src/protocol/entry.ts'
import { HashAppender } from '../../src/protocol/hash-appender.ts'
import { HASH_SIZE, leafHash, RightEdge, storedHashIndex } from '../../src/protocol/merkle.ts'
import type { NoteVerifierKey } from '../../src/protocol/note-keys.ts'
import { leafHashInto } from '../../src/protocol/sha256.ts'
import type { SnapshotApp, SnapshotColumns, SnapshotManifest } from '../../src/protocol/snapshot.ts'
import { openSnapshotColumns, SnapshotError } from '../../src/protocol/snapshot-verify.ts'
import { TILE_WIDTH } from '../../src/protocol/tiles.ts'
import { MirrorError } from './errors.ts'
import type { HashFile } from './hashes.ts'
import type { LogClient } from './log-client.ts'
import type { Progress } from './logger.ts'
import { verifyManifest } from './trust.ts'
import { HashBatch, simdAvailable } from './sha256x4.ts'
import { TILE_STORED_BYTES, TreeAppender } from './tile-hash.ts'
import { sameBytes } from './verify-range.ts'

/** A snapshot that passed every check against its signed manifest, decoded into columns. */
export interface VerifiedSnapshot {
  manifest: SnapshotManifest & { note: string }
  columns: SnapshotColumns
  edge: RightEdge
}

/** A snapshot file and its signed manifest (verified), the file not checked yet. */
export interface SnapshotFile {
  manifest: SnapshotManifest & { note: string }
  data: Uint8Array
}

/**
 * Fetches the newest snapshot's verified manifest and its file (read with the manifest's byte
 * length as the cap); null when the directory has none (or only the empty tree's). The file is
 * checked against the manifest by {@link verifySnapshotData} (or its worker, snapshot-worker.ts).
 */
export async function fetchSnapshot(client: LogClient, key: NoteVerifierKey): Promise<SnapshotFile | null> {
  // The newest snapshot can be pruned between reading its manifest and its data: try twice.
  for (let attempt = 0; attempt < 2; attempt++) {
    const note = await client.latestManifest()
    if (note === null) return null
    const manifest = await verifyManifest(note, key, `${client.url}/log/snapshot/latest`)
    if (manifest.treeSize === 0) return null
    let data: Uint8Array | null
    try {
      data = await client.snapshotData(manifest.treeSize, manifest.bytes)
    } catch (err) {
      if (err instanceof MirrorError && err.code === 'malformed') throw new MirrorError('bad_snapshot', `snapshot ${manifest.treeSize}: ${err.message}`)
      throw err
    }
    if (data === null) continue
    return { manifest, data }
  }
  return null
}

/**
 * Checks a snapshot file against its signed manifest with the directory's own checks
 * (`openSnapshotColumns`, the column form of `openSnapshot`: signature, origin, length, SHA-256,
 * size-capped gunzip, strict decode, tree size, record count, edge root); any failure is
 * `bad_snapshot`. The SHA-256 of the file is node:crypto's (the same function, natively).
 */
export async function verifySnapshotData(
  manifest: SnapshotManifest & { note: string },
  data: Uint8Array,
  key: NoteVerifierKey,
  maxUnzippedBytes: number,
): Promise<VerifiedSnapshot> {
  let columns: SnapshotColumns
  try {
    columns = (await openSnapshotColumns(manifest.note, data, key, maxUnzippedBytes, sha256)).columns
  } catch (err) {
    if (!(err instanceof SnapshotError)) throw err
    throw new MirrorError('bad_snapshot', `snapshot at tree size ${manifest.treeSize}: ${err.message}`, { size: manifest.treeSize, reason: err.code })
  }
  return { manifest, columns, edge: new RightEdge(columns.treeSize, columns.rightEdge) }
}

function sha256(data: Uint8Array): Uint8Array {
  return new Uint8Array(createHash('sha256').update(data).digest())
}

/**
 * Checks, while the log's leaf hashes stream past in log order, that every binding of a snapshot
 * is the add or renew entry the log holds at its index: it re-encodes the binding's entry and
 * requires its leaf hash to be the log's. Feed it with {@link leaves} in order, then call
 * {@link done} once the leaves are known to be the log's (their root checked): it throws
 * `bad_snapshot` for the first mismatch. (A mismatch is only reported then, so that tiles that
 * do not hash to the signed root are `bad_data` whatever the snapshot says.)
 *
 * The bindings' fields are first copied into log order, so that the check reads them in order:
 * read at their positions (subject order) the lookups would be random, about one cache miss each.
 */
export class SnapshotBindingCheck {
  readonly #treeSize: number
  /** The bindings in log order: log index, number, app, TTL, time, key. */
  readonly #index: Float64Array
  readonly #subject: Float64Array
  readonly #app: Uint32Array
  readonly #ttl: Uint32Array
  readonly #time: Float64Array
  readonly #keys = new Map<number, Uint8Array>()
  #next = 0
  #failure: MirrorError | null = null
  /** Scratch: the entries of one tile's bindings, and their leaf hashes. */
  #entries = new Uint8Array(256 * MAX_BINDING_ENTRY)
  #hashes = new Uint8Array(256 * HASH_SIZE)
  readonly #leaf = new Uint8Array(HASH_SIZE)
  readonly #batch: HashBatch | null

  constructor(c: SnapshotColumns, batch: HashBatch | null = simdAvailable() ? new HashBatch() : null) {
    this.#batch = batch
    this.#treeSize = c.treeSize
    const n = c.bindings
    // Index and time come in log order from the decoder; number, app and TTL are gathered
    // (app and TTL packed in one word first, so the gather reads two arrays, not three).
    this.#index = c.logIndex
    this.#time = c.logTime
    const subjectAt = new Float64Array(n)
    const appTtl = new Float64Array(n)
    let p = 0
    for (let r = 0; r < c.records; r++) {
      const subject = c.subjects[r]!
      for (let end = p + c.counts[r]!; p < end; p++) {
        subjectAt[p] = subject
        appTtl[p] = c.app[p]! * 2 ** 32 + c.ttlDays[p]!
      }
    }
    this.#subject = new Float64Array(n)
    this.#app = new Uint32Array(n)
    this.#ttl = new Uint32Array(n)
    const order = c.byIndex
    for (let k = 0; k < n; k++) {
      const q = order[k]!
      this.#subject[k] = subjectAt[q]!
      const x = appTtl[q]!
      this.#ttl[k] = x % 2 ** 32
      this.#app[k] = Math.floor(x / 2 ** 32)
    }
    if (c.keys.size > 0) for (let k = 0; k < n; k++) if (c.keys.has(order[k]!)) this.#keys.set(k, c.keys.get(order[k]!)!)
  }

  /** The leaf hashes of log entries `first`, `first + 1`, ... lie in `leaves[0 ..]`, `count` of them. */
  leaves(first: number, leaves: Uint8Array, count: number): void {
    const end = first + count
    const index = this.#index
    // The bindings made by entries in [first, end): hash each one's add entry (in bulk), then compare.
    const from = this.#next
    let to = from
    while (to < index.length && index[to]! < end) to++
    this.#next = to
    if (this.#failure || to === from) return
    if (index[from]! < first) throw new MirrorError('internal', `binding check fed entry ${first} after ${index[from]}`)
    if ((to - from) * HASH_SIZE > this.#hashes.length) this.#hashes = new Uint8Array((to - from) * HASH_SIZE)
    const batch = this.#batch
    for (let k = from; k < to; k++) {
      const at = (k - from) * MAX_BINDING_ENTRY
      const n = this.#encode('add', k, at)
      if (n < 0) this.#hashes.fill(0, (k - from) * HASH_SIZE, (k - from + 1) * HASH_SIZE)
      else if (batch) batch.leaf(this.#entries, at, at + n, this.#hashes, (k - from) * HASH_SIZE)
      else leafHashInto(this.#entries, at, at + n, this.#hashes, (k - from) * HASH_SIZE)
    }
    batch?.flush()
    for (let k = from; k < to; k++) {
      const at = (index[k]! - first) * HASH_SIZE
      // Most bindings were made by an add; one made by a renew is hashed again as one.
      if (equal(this.#hashes, (k - from) * HASH_SIZE, leaves, at) || this.#renewMatches(k, leaves, at)) continue
      this.#failure = new MirrorError(
        'bad_snapshot',
        `snapshot at tree size ${this.#treeSize}: a binding to app ${this.#app[k]} is not log entry ${index[k]}`,
      )
      return
    }
  }

  /** Throws the first mismatch, or unless every binding has been checked. */
  done(): void {
    if (this.#failure) throw this.#failure
    if (this.#next !== this.#index.length) throw new MirrorError('internal', 'the snapshot binding check did not see every binding')
  }

  /** Encodes the entry of `kind` that made binding `k` (log order) at `#entries[at ..]`; its length, or -1 when no entry can carry it. */
  #encode(kind: 'add' | 'renew', k: number, at: number): number {
    if (at + MAX_BINDING_ENTRY > this.#entries.length) {
      const grown = new Uint8Array(Math.max(at + MAX_BINDING_ENTRY, this.#entries.length * 2))
      grown.set(this.#entries)
      this.#entries = grown
    }
    const key = this.#keys.size > 0 ? this.#keys.get(k) : undefined
    return encodeBindingEntryInto(kind, this.#subject[k]!, this.#app[k]!, this.#time[k]!, this.#ttl[k]!, key, this.#entries, at)
  }

  #renewMatches(k: number, leaves: Uint8Array, at: number): boolean {
    const n = this.#encode('renew', k, 0)
    if (n < 0) return false
    leafHashInto(this.#entries, 0, n, this.#leaf, 0)
    return equal(this.#leaf, 0, leaves, at)
  }
}

function equal(a: Uint8Array, aAt: number, b: Uint8Array, bAt: number): boolean {
  for (let i = 0; i < HASH_SIZE; i++) if (a[aAt + i] !== b[bAt + i]) return false
  return true
}

/**
 * Checks a snapshot's app table against the log, once the hashes up to its size are known to be
 * the log's: each app's app-register entry, as the directory serves it, must be the log's leaf
 * at its index, below the snapshot's size, registering that number with that id. Otherwise the
 * snapshot names apps the log does not (`bad_snapshot`). Whether an app was revoked is still the
 * snapshot's word.
 */
export async function checkSnapshotApps(client: LogClient, apps: readonly SnapshotApp[], treeSize: number, hashes: HashFile): Promise<void> {
  const bad = (why: string) => new MirrorError('bad_snapshot', `snapshot at tree size ${treeSize}: ${why}`, { size: treeSize })
  for (const app of apps) {
    const registration = await client.appRegistration(app.id)
    if (!registration) throw bad(`it names app ${app.num} "${app.id}", which ${client.url} knows no registration of`)
    const { index, entry } = registration
    let decoded
    try {
      decoded = decodeEntry(entry)
    } catch {
      decoded = null
    }
    const leaf = index < treeSize ? hashes.reader([storedHashIndex(0, index)])[0]! : null
    if (!leaf || !sameBytes(leafHash(entry), leaf) || decoded?.kind !== 'app-register' || decoded.app !== app.num || decoded.id !== app.id) {
      throw bad(`it names app ${app.num} "${app.id}", but log entry ${index} does not register it so`)
    }
  }
}

/** What `hashesFromTiles` feeds with the log's leaf hashes. */
export interface BindingCheck {
  /** The leaf hashes of log entries `first`, `first + 1`, ... lie in `leaves[0 ..]`, `count` of them (in log order). */
  leaves(first: number, leaves: Uint8Array, count: number): void
  /** Resolves once every binding is checked; rejects with the first mismatch (`bad_snapshot`). */
  done(): Promise<void>
}

/**
 * Writes the stored hashes of the tree of `size` into `hashes` (from empty), from the public
 * level-0 tiles, and requires them to hash to `rootHash` (else `bad_data`). Returns the edge.
 * `check`, if given, sees every tile's leaves in log order (the snapshot binding check).
 */
export async function hashesFromTiles(
  client: LogClient,
  size: number,
  rootHash: Uint8Array,
  hashes: HashFile,
  progress?: Progress,
  check?: BindingCheck,
  concurrency = 16,
): Promise<RightEdge> {
  if (hashes.writtenCount !== 0) throw new MirrorError('internal', 'hashesFromTiles needs an empty hash file')
  const tree = new TreeAppender(new HashAppender())
  const edge = tree.edge
  const tiles = Math.ceil(size / TILE_WIDTH)
  const inFlight = new Map<number, Promise<Uint8Array>>()
  const request = (t: number) => {
    if (t >= tiles || inFlight.has(t)) return
    const p = client.tile({ level: 0, index: t, width: Math.min(TILE_WIDTH, size - t * TILE_WIDTH) })
    p.catch(() => {})
    inFlight.set(t, p)
  }
  const stored = new Uint8Array(TILE_STORED_BYTES)
  let written = 0
  let finished = false
  try {
    for (let t = 0; t < tiles; t++) {
      for (let ahead = t; ahead < t + concurrency; ahead++) request(ahead)
      const data = await inFlight.get(t)!
      inFlight.delete(t)
      const count = data.length / HASH_SIZE
      check?.leaves(edge.size, data, count)
      const n = tree.append(data, 0, count, stored)
      hashes.writeRun(written, stored, 0, n)
      written += n
      progress?.update(edge.size)
    }
    finished = true
  } finally {
    // Background writes of hashes.bin end here, whatever happened (a write error wins only if nothing else failed).
    await hashes.drain().catch((err) => {
      if (finished) throw err
    })
  }
  if (written !== storedHashIndex(0, edge.size) || !sameBytes(edge.root(), rootHash)) {
    throw new MirrorError('bad_data', `the level-0 hash tiles up to tree size ${size} do not hash to the signed root`, { size })
  }
  await check?.done()
  return edge.rightEdge()
}
