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
 */
export async function verifyReceipt(
  receipt: string,
  entry: Uint8Array,
  logKey: NoteVerifierKey,
): Promise<{ index: number; checkpoint: Checkpoint }> {
  let proof
  try {
    proof = parseTlogProof(receipt)
  } catch (err) {
    throw new ReceiptError(`malformed receipt: ${(err as Error).message}`)
  }
  const checkpoint = await openCheckpoint(proof.checkpoint, logKey)
  if (proof.index >= checkpoint.size) throw new ReceiptError('receipt index is beyond its checkpoint')
  if (!checkRecord(proof.hashes, checkpoint.size, checkpoint.rootHash, proof.index, leafHash(entry))) {
    throw new ReceiptError('inclusion proof does not lead to the checkpoint root')
  }
  return { index: proof.index, checkpoint }
}
