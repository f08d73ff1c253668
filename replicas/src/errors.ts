/**
 * Every way the mirror refuses or fails, each with a stable code and a distinct process exit
 * code (the CLI exits with {@link MirrorError.exitCode}). A refusal never changes what the
 * store holds; see docs/mirror.md for the table.
 * @module
 */

/** Why the mirror stopped. */
export type MirrorErrorCode =
  | 'internal'
  | 'usage'
  | 'unavailable'
  | 'not_found'
  | 'invalid_phone'
  | 'http'
  | 'no_data'
  | 'proof_unavailable'
  | 'key_mismatch'
  | 'bad_signature'
  | 'rollback'
  | 'fork'
  | 'bad_data'
  | 'malformed'
  | 'bad_snapshot'
  | 'entry_refused'
  | 'store'
  | 'verify_failed'

/** Process exit code of each error code (0 is success). */
export const EXIT_CODES: Readonly<Record<MirrorErrorCode, number>> = {
  internal: 1,
  usage: 2,
  unavailable: 3,
  not_found: 4,
  invalid_phone: 5,
  http: 6,
  no_data: 7,
  proof_unavailable: 8,
  key_mismatch: 10,
  bad_signature: 11,
  rollback: 12,
  fork: 13,
  bad_data: 14,
  malformed: 15,
  bad_snapshot: 16,
  entry_refused: 17,
  store: 18,
  verify_failed: 19,
}

/** One line per exit code, for `--help` and the docs. */
export const EXIT_CODE_HELP: Readonly<Record<MirrorErrorCode, string>> = {
  internal: 'unexpected internal error (a bug: please report it)',
  usage: 'bad command line or configuration',
  unavailable: 'directory unreachable, or 5xx/429 after every retry (nothing applied)',
  not_found: 'lookup: no app is bound to this number',
  invalid_phone: 'lookup: not a valid phone number',
  http: 'the directory answered an unexpected 4xx (e.g. 401: bad token)',
  no_data: 'the data directory holds no verified checkpoint yet (run sync first)',
  proof_unavailable: 'proofs need the local Merkle hashes, which are missing (sync repairs them)',
  key_mismatch: 'the log key differs from the pinned one',
  bad_signature: 'a checkpoint is not validly signed by the pinned log key (or names another log)',
  rollback: 'the directory served a smaller tree than the one held',
  fork: 'the directory signed two inconsistent trees (a proof-of-misbehaviour file was written)',
  bad_data: 'an entry bundle or tile does not hash to the signed checkpoint',
  malformed: 'a truncated or garbled response',
  bad_snapshot: 'a snapshot whose signature, hash, size or content does not match',
  entry_refused: 'the log holds an entry the directory rules refuse (evidence file written)',
  store: 'the local store is locked by another process, or corrupt',
  verify_failed: 'verify: what is held does not replay to the held checkpoint',
}

/** A mirror failure with a stable code, an exit code and optional machine-readable details. */
export class MirrorError extends Error {
  override readonly name = 'MirrorError'
  constructor(
    readonly code: MirrorErrorCode,
    message: string,
    readonly details: Record<string, unknown> = {},
    options?: { cause?: unknown },
  ) {
    super(message, options)
  }

  /** The process exit code for this error. */
  get exitCode(): number {
    return EXIT_CODES[this.code]
  }

  /** True for failures worth retrying later unchanged (network, 5xx): nothing was wrong with the log. */
  get transient(): boolean {
    return this.code === 'unavailable'
  }
}

/** Codes that mean "the log or its server misbehaved": data was refused, nothing stored changed. */
export const REFUSALS: ReadonlySet<MirrorErrorCode> = new Set([
  'key_mismatch',
  'bad_signature',
  'rollback',
  'fork',
  'bad_data',
  'malformed',
  'bad_snapshot',
  'entry_refused',
])

/** `err` as a MirrorError: itself, or wrapped as `internal` (keeping it as the cause). */
export function asMirrorError(err: unknown): MirrorError {
  if (err instanceof MirrorError) return err
  if (err instanceof Error && err.name === 'StoreError') {
    return new MirrorError('store', `store: ${err.message}`, { storeCode: (err as Error & { code?: string }).code }, { cause: err })
  }
  return new MirrorError('internal', err instanceof Error ? err.message : String(err), {}, { cause: err })
}
