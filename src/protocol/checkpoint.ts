/**
 * C2SP tlog-checkpoint note bodies (https://c2sp.org/tlog-checkpoint):
 *
 *     <origin>\n
 *     <tree size, decimal, no leading zeros>\n
 *     <root hash, standard padded base64 of 32 bytes>\n
 *     <extension line>\n   (zero or more, each non-empty)
 * @module
 */
import { fromBase64, toBase64 } from './bytes.ts'
import { openNote, signNote, type NoteSigner } from './note.ts'
import type { NoteVerifierKey } from './note-keys.ts'

/** A log's signed tree head: origin, tree size, RFC 6962 root hash, and opaque extension lines. */
export interface Checkpoint {
  origin: string
  size: number
  rootHash: Uint8Array
  extensions: string[]
}

/** Why a checkpoint body was rejected. */
export type CheckpointErrorCode = 'malformed' | 'wrong_origin'

/** A checkpoint body that is malformed or names a different log. */
export class CheckpointError extends Error {
  override name = 'CheckpointError'
  constructor(
    readonly code: CheckpointErrorCode,
    message: string,
  ) {
    super(message)
  }
}

/** The note text of a checkpoint; throws CheckpointError if a field cannot be written. */
export function formatCheckpoint(c: Checkpoint): string {
  if (c.origin === '' || hasControl(c.origin)) fail('origin must be non-empty, one line, with no control characters')
  if (!Number.isSafeInteger(c.size) || c.size < 0) fail('tree size must be a non-negative safe integer')
  if (c.rootHash.length !== 32) fail('root hash must be 32 bytes')
  for (const line of c.extensions) {
    if (line === '' || hasControl(line)) fail('extension lines must be non-empty, one line, with no control characters')
  }
  return [c.origin, String(c.size), toBase64(c.rootHash), ...c.extensions].map((line) => `${line}\n`).join('')
}

/**
 * Parses checkpoint note text strictly: non-empty origin, canonical decimal size (a safe
 * integer), canonical base64 of a 32-byte root hash, non-empty extension lines, final newline,
 * no control characters. Throws CheckpointError 'malformed'.
 */
export function parseCheckpoint(text: string): Checkpoint {
  if (!text.endsWith('\n')) fail('checkpoint must end in a newline')
  if (hasControl(text.replace(/\n/g, ''))) fail('checkpoint contains a control character')
  const [origin, sizeText, rootText, ...extensions] = text.slice(0, -1).split('\n')
  if (!origin) fail('checkpoint origin is empty')
  if (sizeText === undefined || !/^(?:0|[1-9][0-9]*)$/.test(sizeText)) fail('checkpoint tree size is not a canonical decimal')
  const size = Number(sizeText)
  if (!Number.isSafeInteger(size)) fail('checkpoint tree size is too large')
  if (rootText === undefined) fail('checkpoint has no root hash')
  const rootHash = decodeHash(rootText)
  if (!rootHash) fail('checkpoint root hash is not the base64 of 32 bytes')
  if (extensions.some((line) => line === '')) fail('checkpoint has an empty extension line')
  return { origin, size, rootHash, extensions }
}

/** Signs a checkpoint as a note. */
export async function signCheckpoint(c: Checkpoint, signer: NoteSigner): Promise<string> {
  return signNote(formatCheckpoint(c), signer)
}

/**
 * Opens a signed checkpoint: the note must carry a valid signature by `verifier` (else
 * NoteError), its text must parse, and its origin must equal `expectedOrigin`, by default the
 * verifier's key name (else CheckpointError).
 */
export async function openCheckpoint(
  note: string | Uint8Array,
  verifier: NoteVerifierKey,
  expectedOrigin: string = verifier.name,
): Promise<Checkpoint> {
  const { text } = await openNote(note, [verifier])
  const checkpoint = parseCheckpoint(text)
  if (checkpoint.origin !== expectedOrigin) {
    throw new CheckpointError(
      'wrong_origin',
      `checkpoint origin ${JSON.stringify(checkpoint.origin)} is not ${JSON.stringify(expectedOrigin)}`,
    )
  }
  return checkpoint
}

/** Decodes canonical padded standard base64 of exactly 32 bytes, or returns null. */
export function decodeHash(text: string): Uint8Array | null {
  if (text.length !== 44) return null
  try {
    const bytes = fromBase64(text)
    return bytes.length === 32 && toBase64(bytes) === text ? bytes : null
  } catch {
    return null
  }
}

function hasControl(text: string): boolean {
  return /[\x00-\x1f]/.test(text) || /\p{Cs}/u.test(text)
}

function fail(message: string): never {
  throw new CheckpointError('malformed', message)
}
