/**
 * C2SP tlog-proof (https://c2sp.org/tlog-proof), whodis's receipt: an entry's index, its
 * RFC 6962 inclusion proof, and the signed checkpoint it proves against. The text is lines
 * ending in "\n":
 *
 *     c2sp.org/tlog-proof@v1
 *     extra <standard base64 of opaque, unauthenticated data>      (optional)
 *     index <zero-based decimal index, no leading zeros>
 *     <standard base64 of a 32-byte hash>                          (zero or more: leaf's sibling first, up to the root's child)
 *     <empty line>
 *     <the checkpoint signed note, verbatim, through its final newline>
 *
 * This module is the codec only; checking the proof is merkle.ts's and note.ts's job.
 * @module
 */
import { fromBase64, toBase64 } from './bytes.ts'
import { parseCheckpoint } from './checkpoint.ts'
import { splitNote } from './note.ts'

/** First line of every proof. */
export const TLOG_PROOF_HEADER = 'c2sp.org/tlog-proof@v1'

/** Most inclusion-proof hashes accepted (a tree of 2^63 leaves needs no more). */
export const MAX_PROOF_HASHES = 63

/** A parsed tlog-proof. */
export interface TlogProof {
  /** Opaque application data; not authenticated. */
  extra?: Uint8Array
  index: number
  /** Inclusion proof, 32 bytes each, leaf's sibling first. */
  hashes: Uint8Array[]
  /** The checkpoint signed note, verbatim. */
  checkpoint: string
}

/** A tlog-proof text or value that does not follow the format. */
export class TlogProofError extends Error {
  override name = 'TlogProofError'
}

/** The proof's text; throws TlogProofError on a field that cannot be written. */
export function formatTlogProof(p: TlogProof): string {
  checkCheckpointNote(p.checkpoint)
  return formatChecked(p)
}

/**
 * The texts of many proofs against one checkpoint (a batch of receipts), the checkpoint checked
 * once; throws TlogProofError as {@link formatTlogProof} does.
 */
export function formatTlogProofs(checkpoint: string, proofs: readonly Omit<TlogProof, 'checkpoint'>[]): string[] {
  checkCheckpointNote(checkpoint)
  return proofs.map((p) => formatChecked({ ...p, checkpoint }))
}

// The text of a proof whose checkpoint has been checked.
function formatChecked(p: TlogProof): string {
  if (!Number.isSafeInteger(p.index) || p.index < 0) fail('index must be a non-negative safe integer')
  if (p.hashes.length > MAX_PROOF_HASHES) fail(`more than ${MAX_PROOF_HASHES} proof hashes`)
  if (p.hashes.some((h) => h.length !== 32)) fail('proof hashes must be 32 bytes')
  let text = `${TLOG_PROOF_HEADER}\n`
  if (p.extra) text += `extra ${toBase64(p.extra)}\n`
  text += `index ${p.index}\n`
  for (const h of p.hashes) text += `${toBase64(h)}\n`
  return `${text}\n${p.checkpoint}`
}

/**
 * Parses a proof strictly: exact header, canonical base64 everywhere, canonical decimal index,
 * at most MAX_PROOF_HASHES hashes of 32 bytes, the empty line, then a checkpoint that is a
 * well-formed note (signatures not checked) with a well-formed checkpoint body and nothing
 * after it. Throws TlogProofError.
 */
export function parseTlogProof(text: string): TlogProof {
  let at = 0
  const nextLine = (): string => {
    const end = text.indexOf('\n', at)
    if (end < 0) fail('proof ends before its checkpoint')
    const line = text.slice(at, end)
    at = end + 1
    return line
  }
  if (nextLine() !== TLOG_PROOF_HEADER) fail(`first line must be ${TLOG_PROOF_HEADER}`)
  let line = nextLine()
  let extra: Uint8Array | undefined
  if (line.startsWith('extra ')) {
    extra = decodeCanonicalBase64(line.slice('extra '.length)) ?? fail('extra is not canonical base64')
    line = nextLine()
  }
  const indexText = /^index (0|[1-9][0-9]*)$/.exec(line)?.[1] ?? fail('expected "index <decimal>"')
  const index = Number(indexText)
  if (!Number.isSafeInteger(index)) fail('index is too large')
  const hashes: Uint8Array[] = []
  for (line = nextLine(); line !== ''; line = nextLine()) {
    if (hashes.length === MAX_PROOF_HASHES) fail(`more than ${MAX_PROOF_HASHES} proof hashes`)
    const hash = decodeCanonicalBase64(line)
    if (hash?.length !== 32) fail('proof hash is not canonical base64 of 32 bytes')
    hashes.push(hash)
  }
  const checkpoint = text.slice(at)
  checkCheckpointNote(checkpoint)
  return extra ? { extra, index, hashes, checkpoint } : { index, hashes, checkpoint }
}

function checkCheckpointNote(note: string): void {
  try {
    parseCheckpoint(splitNote(note).text)
  } catch (e) {
    fail(`checkpoint: ${(e as Error).message}`)
  }
}

function decodeCanonicalBase64(text: string): Uint8Array | null {
  try {
    const bytes = fromBase64(text)
    return toBase64(bytes) === text ? bytes : null
  } catch {
    return null
  }
}

function fail(message: string): never {
  throw new TlogProofError(`malformed tlog-proof: ${message}`)
}
