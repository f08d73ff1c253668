/**
 * Telling a forked log from a bad response. When entries fail the root check, or a peer shows a
 * different checkpoint, the mirror asks whether the two signed trees can both be true:
 * - a tree no larger than the held one is checked against the mirror's own Merkle hashes;
 * - a larger tree is checked with a consistency proof read from the directory's hash tiles,
 *   which are first authenticated against that tree's signed root (so garbage tiles are
 *   `bad_data`, never mistaken for a fork).
 * An inconsistent pair is a fork: both notes and the proof go to a misbehaviour file.
 * @module
 */
import { checkTree, proveTree, treeHash, treeProofFromHashes, treeProofIndexes, type Hash } from '../../src/protocol/merkle.ts'
import { tileHashReader } from '../../src/protocol/tiles.ts'
import { toBase64 } from '../../src/protocol/bytes.ts'
import { MirrorError } from './errors.ts'
import { writeEvidence, type ForkEvidence } from './evidence.ts'
import type { HashFile } from './hashes.ts'
import type { LogClient } from './log-client.ts'
import { sameBytes } from './verify-range.ts'

/** A signed statement of a tree: a checkpoint or a snapshot manifest. */
export interface SignedTree {
  /** Where it came from ("held checkpoint", "https://dir/log/checkpoint", a peer URL). */
  source: string
  note: string
  size: number
  rootHash: Uint8Array
}

/** The verdict on a pair of signed trees. */
export type Verdict = { consistent: true } | { consistent: false; evidence: ForkEvidence }

/**
 * Checks a tree no larger than the held one against the held Merkle hashes (which are verified
 * through `held.size`): consistent iff the held tree's root at `other.size` is `other.rootHash`.
 */
export function checkSmallerTree(held: SignedTree, other: SignedTree, hashes: HashFile): Verdict {
  if (other.size > held.size) throw new MirrorError('internal', 'checkSmallerTree needs a tree no larger than the held one')
  if (other.size === held.size) {
    return sameBytes(other.rootHash, held.rootHash)
      ? { consistent: true }
      : { consistent: false, evidence: fork(held, other, `both sign tree size ${held.size} with different roots`) }
  }
  if (other.size === 0) return { consistent: true }
  const rootAt = treeHash(other.size, hashes.reader)
  if (sameBytes(rootAt, other.rootHash)) return { consistent: true }
  const proof = proveTree(held.size, other.size, hashes.reader)
  return {
    consistent: false,
    evidence: fork(held, other, `the tree of size ${held.size} contains a tree of size ${other.size} whose root is ${toBase64(rootAt)}, not the signed ${toBase64(other.rootHash)}`, {
      treeSize: held.size,
      oldSize: other.size,
      hashes: proof,
      impliedOldRoot: rootAt,
    }),
  }
}

/**
 * Checks that `newer` (larger than `older`, `older.size` ≥ 1) extends `older`, with a
 * consistency proof read from tiles authenticated against `newer.rootHash`. Tiles that do not
 * hash to that root are `bad_data`.
 */
export async function checkLargerTree(older: SignedTree, newer: SignedTree, client: LogClient): Promise<Verdict> {
  if (newer.size <= older.size || older.size < 1) throw new MirrorError('internal', 'checkLargerTree needs 1 ≤ older < newer')
  const reader = tileHashReader(newer.size, newer.rootHash, (tile) => client.tile(tile))
  let hashes: Hash[]
  try {
    hashes = await reader(treeProofIndexes(newer.size, older.size))
  } catch (err) {
    if (err instanceof MirrorError) throw err
    throw new MirrorError('bad_data', `hash tiles served for tree size ${newer.size} do not hash to its signed root: ${(err as Error).message}`, {}, { cause: err })
  }
  const proof = treeProofFromHashes(newer.size, older.size, hashes)
  if (checkTree(proof, newer.size, newer.rootHash, older.size, older.rootHash)) return { consistent: true }
  return {
    consistent: false,
    evidence: fork(older, newer, `the tree of size ${newer.size} (its tiles authenticated by its signed root) does not extend the signed tree of size ${older.size}`, {
      treeSize: newer.size,
      oldSize: older.size,
      hashes: proof,
    }),
  }
}

/** Writes the evidence and returns the `fork` refusal to throw. */
export function forkRefusal(dataDir: string, logKey: string, evidence: ForkEvidence): MirrorError {
  const path = writeEvidence(dataDir, evidence, logKey)
  return new MirrorError(
    'fork',
    `the log is forked: ${evidence.explanation} (${evidence.held.source} vs ${evidence.served.source}); proof of misbehaviour written to ${path}`,
    { evidence: path, heldSize: evidence.held.size, servedSize: evidence.served.size },
  )
}

function fork(held: SignedTree, served: SignedTree, explanation: string, proof?: ForkEvidence['proof']): ForkEvidence {
  return {
    kind: 'fork',
    held: { source: held.source, note: held.note, size: held.size, rootHash: held.rootHash },
    served: { source: served.source, note: served.note, size: served.size, rootHash: served.rootHash },
    explanation,
    ...(proof ? { proof } : {}),
  }
}
