/**
 * Bootstrapping from the directory's newest signed snapshot, and rebuilding the held Merkle
 * hashes from the public level-0 hash tiles.
 *
 * A snapshot is accepted only when its manifest is signed by the pinned key and names the log,
 * its file has exactly the manifest's byte length and SHA-256, it decompresses within the size
 * cap and decodes strictly, it holds the manifest's tree size and record count, and its right
 * edge hashes to the manifest's root (the directory's `openSnapshot` does these checks). The caller then fetches the hash tiles up to the
 * snapshot's size (they must hash to the same root) and checks every binding against the leaf
 * hash at its index, before the snapshot's size is extended to a signed checkpoint.
 * @module
 */
import { RightEdge, storedHashIndex } from '../../src/protocol/merkle.ts'
import type { NoteVerifierKey } from '../../src/protocol/note-keys.ts'
import type { SnapshotContent, SnapshotManifest } from '../../src/protocol/snapshot.ts'
import { openSnapshot, SnapshotError } from '../../src/protocol/snapshot-verify.ts'
import { splitTile, TILE_WIDTH } from '../../src/protocol/tiles.ts'
import { MirrorError } from './errors.ts'
import type { HashFile } from './hashes.ts'
import type { LogClient } from './log-client.ts'
import type { Progress } from './logger.ts'
import { entryOfBinding, type LeafReader } from './proofs.ts'
import { verifyManifest } from './trust.ts'
import { sameBytes } from './verify-range.ts'

/** A snapshot that passed every check against its signed manifest. */
export interface VerifiedSnapshot {
  manifest: SnapshotManifest & { note: string }
  content: SnapshotContent
  edge: RightEdge
}

/**
 * Fetches and verifies the newest snapshot; null when the directory has none (or only the empty
 * tree's). `maxUnzippedBytes` caps decompression.
 */
export async function fetchSnapshot(client: LogClient, key: NoteVerifierKey, maxUnzippedBytes: number): Promise<VerifiedSnapshot | null> {
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
    return verifySnapshotData(manifest, data, key, maxUnzippedBytes)
  }
  return null
}

/**
 * Checks a snapshot file against its signed manifest with the directory's own code
 * (`openSnapshot`: signature, origin, length, SHA-256, size-capped gunzip, strict decode, tree
 * size, record count, edge root); any failure is `bad_snapshot`.
 */
export async function verifySnapshotData(
  manifest: SnapshotManifest & { note: string },
  data: Uint8Array,
  key: NoteVerifierKey,
  maxUnzippedBytes: number,
): Promise<VerifiedSnapshot> {
  let content: SnapshotContent
  try {
    content = (await openSnapshot(manifest.note, data, key, maxUnzippedBytes)).content
  } catch (err) {
    if (!(err instanceof SnapshotError)) throw err
    throw new MirrorError('bad_snapshot', `snapshot at tree size ${manifest.treeSize}: ${err.message}`, { size: manifest.treeSize, reason: err.code })
  }
  return { manifest, content, edge: new RightEdge(content.treeSize, content.rightEdge) }
}

/** Throws `bad_snapshot` unless every binding is the add or renew entry the log holds at its index. */
export function checkSnapshotBindings(content: SnapshotContent, leafAt: LeafReader): void {
  for (const record of content.records) {
    for (const b of record.bindings) {
      if (!entryOfBinding(record.subject, b, leafAt)) {
        throw new MirrorError(
          'bad_snapshot',
          `snapshot at tree size ${content.treeSize}: the binding of +${record.subject} to app ${b.app} is not log entry ${b.index}`,
        )
      }
    }
  }
}

/**
 * Writes the stored hashes of the tree of `size` into `hashes` (from empty), from the public
 * level-0 tiles, and requires them to hash to `rootHash` (else `bad_data`). Returns the edge.
 */
export async function hashesFromTiles(
  client: LogClient,
  size: number,
  rootHash: Uint8Array,
  hashes: HashFile,
  progress?: Progress,
  concurrency = 8,
): Promise<RightEdge> {
  if (hashes.writtenCount !== 0) throw new MirrorError('internal', 'hashesFromTiles needs an empty hash file')
  const edge = new RightEdge()
  const tiles = Math.ceil(size / TILE_WIDTH)
  const inFlight = new Map<number, Promise<Uint8Array>>()
  const request = (t: number) => {
    if (t >= tiles || inFlight.has(t)) return
    const p = client.tile({ level: 0, index: t, width: Math.min(TILE_WIDTH, size - t * TILE_WIDTH) })
    p.catch(() => {})
    inFlight.set(t, p)
  }
  for (let t = 0; t < tiles; t++) {
    for (let ahead = t; ahead < t + concurrency; ahead++) request(ahead)
    const data = await inFlight.get(t)!
    inFlight.delete(t)
    for (const leaf of splitTile(data)) {
      const at = storedHashIndex(0, edge.size)
      hashes.write(at, edge.append(leaf))
    }
    progress?.update(edge.size)
  }
  if (!sameBytes(edge.root(), rootHash)) {
    throw new MirrorError('bad_data', `the level-0 hash tiles up to tree size ${size} do not hash to the signed root`, { size })
  }
  return edge
}
