/**
 * Receipts: proof that a log entry is in the log. A receipt is a C2SP tlog-proof (index,
 * inclusion proof, signed checkpoint); checking one needs the entry's bytes and the pinned log
 * key, nothing else.
 * @module
 */
import { openCheckpoint, type Checkpoint } from './checkpoint.ts'
import { checkRecord, leafHash } from './merkle.ts'
import type { NoteVerifierKey } from './note-keys.ts'
import { parseTlogProof } from './tlog-proof.ts'

/** A receipt that does not prove what it claims. */
export class ReceiptError extends Error {
  override readonly name = 'ReceiptError'
}

/**
 * Verifies that `entry` is at the receipt's index in a checkpoint signed by `logKey`; returns
 * the index and checkpoint. Throws {@link ReceiptError} (or the note/checkpoint error) otherwise.
 * What that proves: the entry was appended to the log at that index. It says nothing about what
 * later entries did (a binding added may have been removed or renewed since).
 *
 * `opened`, if given, keeps each checkpoint note's verified opening, so that many receipts
 * against one checkpoint (a batch answer) check its signature once.
 */
export async function verifyReceipt(
  receipt: string,
  entry: Uint8Array,
  logKey: NoteVerifierKey,
  opened?: Map<string, Promise<Checkpoint>>,
): Promise<{ index: number; checkpoint: Checkpoint }> {
  let proof
  try {
    proof = parseTlogProof(receipt)
  } catch (err) {
    throw new ReceiptError(`malformed receipt: ${(err as Error).message}`)
  }
  let opening = opened?.get(proof.checkpoint)
  if (!opening) {
    opening = openCheckpoint(proof.checkpoint, logKey)
    opened?.set(proof.checkpoint, opening)
  }
  const checkpoint = await opening
  if (proof.index >= checkpoint.size) throw new ReceiptError('receipt index is beyond its checkpoint')
  if (!checkRecord(proof.hashes, checkpoint.size, checkpoint.rootHash, proof.index, leafHash(entry))) {
    throw new ReceiptError('inclusion proof does not lead to the checkpoint root')
  }
  return { index: proof.index, checkpoint }
}
