/**
 * Opening a snapshot: everything a mirror checks before it trusts one, with nothing but the
 * pinned log key. The manifest must be signed by the key and name its origin; the data must
 * have the manifest's length and SHA-256; it must decode; its tree size and record count must
 * be the manifest's; and the root of its right edge must be the manifest's root.
 * @module
 */
import { constantTimeEqual } from './bytes.ts'
import { RightEdge } from './merkle.ts'
import type { NoteVerifierKey } from './note-keys.ts'
import { openNote } from './note.ts'
import {
  columnContent,
  decodeSnapshotColumns,
  ExpectationError,
  gunzip,
  parseManifest,
  snapshotDigest,
  type SnapshotColumns,
  type SnapshotContent,
  type SnapshotManifest,
} from './snapshot.ts'

/** A snapshot that does not check out; `code` says which check failed. */
export class SnapshotError extends Error {
  override readonly name = 'SnapshotError'
  constructor(
    readonly code: 'bad_manifest' | 'wrong_log' | 'bad_data' | 'mismatch',
    message: string,
  ) {
    super(message)
  }
}

/** Opens a signed manifest: signature by `logKey`, strict body, origin equal to the key name. */
export async function openManifest(note: string, logKey: NoteVerifierKey): Promise<SnapshotManifest> {
  let manifest: SnapshotManifest
  try {
    manifest = parseManifest((await openNote(note, [logKey])).text)
  } catch (err) {
    throw new SnapshotError('bad_manifest', `snapshot manifest: ${(err as Error).message}`)
  }
  if (manifest.origin !== logKey.name) throw new SnapshotError('wrong_log', `snapshot is from log ${manifest.origin}, not ${logKey.name}`)
  return manifest
}

/**
 * Verifies snapshot `data` (the gzip'd file) against its signed manifest and decodes it into
 * columns: the manifest must be signed by `logKey` and name its log, the data must have the
 * manifest's length and SHA-256 (`digest` computes it; default the protocol's), decompress
 * within `maxBytes` (a gzip bomb is refused, not unpacked), decode, hold the manifest's tree
 * size and record count, and carry a right edge that hashes to the manifest's root. Throws
 * {@link SnapshotError}.
 */
export async function openSnapshotColumns(
  manifestNote: string,
  data: Uint8Array,
  logKey: NoteVerifierKey,
  maxBytes = 2 ** 31,
  digest: (data: Uint8Array) => Uint8Array = snapshotDigest,
): Promise<{ manifest: SnapshotManifest; columns: SnapshotColumns }> {
  const manifest = await openManifest(manifestNote, logKey)
  if (data.length !== manifest.bytes) throw new SnapshotError('mismatch', `snapshot is ${data.length} bytes, manifest says ${manifest.bytes}`)
  if (!constantTimeEqual(digest(data), manifest.sha256)) throw new SnapshotError('mismatch', 'snapshot SHA-256 does not match its manifest')
  let columns: SnapshotColumns
  try {
    columns = decodeSnapshotColumns(await gunzip(data, maxBytes), manifest)
  } catch (err) {
    if (err instanceof ExpectationError) throw new SnapshotError('mismatch', err.message)
    throw new SnapshotError('bad_data', `snapshot data: ${(err as Error).message}`)
  }
  let root: Uint8Array
  try {
    root = new RightEdge(columns.treeSize, columns.rightEdge).root()
  } catch (err) {
    throw new SnapshotError('bad_data', `snapshot right edge: ${(err as Error).message}`)
  }
  if (!constantTimeEqual(root, manifest.rootHash)) throw new SnapshotError('mismatch', 'snapshot right edge does not hash to the manifest root')
  return { manifest, columns }
}

/** {@link openSnapshotColumns}, with the records as objects. */
export async function openSnapshot(
  manifestNote: string,
  data: Uint8Array,
  logKey: NoteVerifierKey,
  maxBytes = 2 ** 31,
): Promise<{ manifest: SnapshotManifest; content: SnapshotContent }> {
  const { manifest, columns } = await openSnapshotColumns(manifestNote, data, logKey, maxBytes)
  return { manifest, content: columnContent(columns) }
}
