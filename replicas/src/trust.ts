/**
 * Opening signed notes with the pinned log key: checkpoints and snapshot manifests. Every
 * failure maps to the refusal it is (bad signature, garbled, bad snapshot).
 * @module
 */
import { CheckpointError, openCheckpoint } from '../../src/protocol/checkpoint.ts'
import { CosignatureError, verifyCosignatures, type Cosigner } from '../../src/protocol/cosignature.ts'
import { NoteError } from '../../src/protocol/note.ts'
import { parseCosignatureVerifierKey, parseVerifierKey, type CosignatureVerifierKey, type NoteVerifierKey } from '../../src/protocol/note-keys.ts'
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
  /** The trusted witnesses that cosigned it, when a witness policy is set. */
  cosigners?: Cosigner[]
}

/** Trusted witnesses, and how many of them must cosign a checkpoint before it is taken. */
export interface WitnessPolicy {
  keys: CosignatureVerifierKey[]
  threshold: number
  /** The clock, in ms (default Date.now): cosignatures dated past it by more than 5 minutes are refused. */
  now?: () => number
  /** A cosignature older than this many seconds does not count (a frozen log); default: no limit. */
  maxAgeSeconds?: number
}

/**
 * Parses `--witness-key` values and `--witness-threshold` (default: all of them) into a policy;
 * a bad key or a threshold out of range is a usage error. No keys: no policy (null).
 */
export function parseWitnessPolicy(keys: readonly string[], threshold: number | undefined, now?: () => number, maxAgeSeconds?: number): WitnessPolicy | null {
  if (keys.length === 0) {
    if (threshold !== undefined && threshold > 0) throw new MirrorError('usage', '--witness-threshold needs --witness-key (the witnesses to count)')
    return null
  }
  const parsed = keys.map((text) => {
    try {
      return parseCosignatureVerifierKey(text.trim())
    } catch (err) {
      throw new MirrorError('usage', `--witness-key ${text.split('+')[0]}: not a witness verifier key (${(err as Error).message})`)
    }
  })
  const k = threshold ?? parsed.length
  if (!Number.isSafeInteger(k) || k < 1 || k > parsed.length) {
    throw new MirrorError('usage', `--witness-threshold must be from 1 to the ${parsed.length} witness keys given, got ${k}`)
  }
  if (new Set(parsed.map((p) => p.publicKey.join())).size !== parsed.length) throw new MirrorError('usage', '--witness-key: two witness keys share one public key')
  return { keys: parsed, threshold: k, ...(now ? { now } : {}), ...(maxAgeSeconds !== undefined ? { maxAgeSeconds } : {}) }
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
export async function verifyCheckpoint(note: string, key: NoteVerifierKey, source: string, witnesses?: WitnessPolicy | null): Promise<VerifiedCheckpoint> {
  let verified: VerifiedCheckpoint
  try {
    const cp = await openCheckpoint(note, key)
    verified = { note, origin: cp.origin, size: cp.size, rootHash: cp.rootHash }
  } catch (err) {
    throw noteFailure(err, `checkpoint from ${source}`, 'bad_signature')
  }
  if (!witnesses) return verified
  try {
    const check = await verifyCosignatures(note, witnesses.keys, {
      threshold: witnesses.threshold,
      ...(witnesses.now ? { now: witnesses.now } : {}),
      ...(witnesses.maxAgeSeconds !== undefined ? { maxAgeSeconds: witnesses.maxAgeSeconds } : {}),
    })
    return { ...verified, cosigners: check.cosigners }
  } catch (err) {
    if (!(err instanceof CosignatureError)) throw err
    // Too few cosignatures is a missing signature: the checkpoint is not taken, nothing changes.
    throw new MirrorError('bad_signature', `checkpoint from ${source} does not meet the witness policy: ${err.message}`, {
      reason: `witness_${err.code}`,
      threshold: witnesses.threshold,
    }, { cause: err })
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
