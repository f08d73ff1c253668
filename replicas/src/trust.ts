/**
 * Opening signed notes with the pinned log key: checkpoints and snapshot manifests. Every
 * failure maps to the refusal it is (bad signature, garbled, bad snapshot).
 * @module
 */
import { CheckpointError, openCheckpoint } from '../../src/protocol/checkpoint.ts'
import { NoteError } from '../../src/protocol/note.ts'
import { parseVerifierKey, type NoteVerifierKey } from '../../src/protocol/note-keys.ts'
import type { SnapshotManifest } from '../../src/protocol/snapshot.ts'
import { openManifest, SnapshotError } from '../../src/protocol/snapshot-verify.ts'
import { MirrorError, type MirrorErrorCode } from './errors.ts'

/** A checkpoint whose note carries a valid signature by the pinned key and names its log. */
export interface VerifiedCheckpoint {
  /** The signed note, verbatim. */
  note: string
  origin: string
  size: number
  rootHash: Uint8Array
}

/** Parses a verifier key string, or fails as a usage error naming where it came from. */
export function parseLogKey(text: string, source: string): NoteVerifierKey {
  try {
    return parseVerifierKey(text.trim())
  } catch (err) {
    throw new MirrorError('usage', `${source}: not a log verifier key (${(err as Error).message})`)
  }
}

/**
 * Opens a checkpoint note from `source` with the pinned key: a signature that fails, or no
 * signature by the key, is `bad_signature`, as is an origin other than the key's name; a note
 * or body that does not parse is `malformed`.
 */
export async function verifyCheckpoint(note: string, key: NoteVerifierKey, source: string): Promise<VerifiedCheckpoint> {
  try {
    const cp = await openCheckpoint(note, key)
    return { note, origin: cp.origin, size: cp.size, rootHash: cp.rootHash }
  } catch (err) {
    throw noteFailure(err, `checkpoint from ${source}`, 'bad_signature')
  }
}

/** Opens and parses a snapshot manifest note; any failure (signature, syntax, origin) is `bad_snapshot`. */
export async function verifyManifest(note: string, key: NoteVerifierKey, source: string): Promise<SnapshotManifest & { note: string }> {
  try {
    return { ...(await openManifest(note, key)), note }
  } catch (err) {
    if (!(err instanceof SnapshotError)) throw err
    throw new MirrorError('bad_snapshot', `${source}: ${err.message}`, { reason: err.code }, { cause: err })
  }
}

function noteFailure(err: unknown, what: string, signatureCode: MirrorErrorCode): MirrorError {
  const syntaxCode: MirrorErrorCode = 'malformed'
  if (err instanceof NoteError) {
    if (err.code === 'bad_signature' || err.code === 'unverified') {
      return new MirrorError(signatureCode, `${what}: ${err.message}`, { reason: err.code }, { cause: err })
    }
    return new MirrorError(syntaxCode, `${what} is garbled: ${err.message}`, { reason: err.code }, { cause: err })
  }
  if (err instanceof CheckpointError) {
    if (err.code === 'wrong_origin') return new MirrorError(signatureCode, `${what}: ${err.message}`, { reason: err.code }, { cause: err })
    return new MirrorError(syntaxCode, `${what} is garbled: ${err.message}`, { reason: err.code }, { cause: err })
  }
  return new MirrorError('internal', `${what}: ${(err as Error).message}`, {}, { cause: err })
}
