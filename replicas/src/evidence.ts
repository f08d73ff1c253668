/**
 * Proof-of-misbehaviour files: when the log is caught signing two inconsistent trees, signing
 * an entry its own rules refuse, or signing a snapshot that is not the state of its log, the
 * mirror writes what anyone can check offline with the log key: the signed notes verbatim and
 * the Merkle proof. Files are named `misbehaviour-<kind>-<time>.json` in the data directory and
 * are never overwritten.
 * @module
 */
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { toBase64 } from '../../src/protocol/bytes.ts'

/** Two signed checkpoints (or a checkpoint and a signed snapshot manifest) that cannot both be true. */
export interface ForkEvidence {
  kind: 'fork'
  /** What was held (or the earlier statement). */
  held: { source: string; note: string; size: number; rootHash: Uint8Array }
  /** What was served (or the later statement). */
  served: { source: string; note: string; size: number; rootHash: Uint8Array }
  /** Why the pair is inconsistent, in words. */
  explanation: string
  /**
   * An RFC 6962 consistency proof, authenticated against `proof.treeSize`'s signed root, that
   * shows the tree of `proof.oldSize` in it does not have the other note's root.
   */
  proof?: { treeSize: number; oldSize: number; hashes: Uint8Array[]; impliedOldRoot?: Uint8Array }
}

/** The signed snapshot a mirror's state started from: its tree size, manifest note and file SHA-256 (base64; both unknown only for a data directory bootstrapped before they were kept). */
export interface SnapshotOrigin {
  treeSize: number
  manifest?: string
  sha256?: string
}

/**
 * A log entry the directory's fold refuses, proven to be in the log. When the state it was
 * folded over came from a snapshot, the snapshot is the suspect, not the entry: a snapshot that
 * lacks a binding makes the honest removal of that binding look invalid. Only a replay from
 * entry 0 tells which.
 */
export interface InvalidEntryEvidence {
  kind: 'invalid-entry'
  index: number
  entry: Uint8Array
  reason: string
  /** C2SP tlog-proof of the entry against the signed checkpoint. */
  receipt: string
  /** `entry`: the fold of every entry from 0 refuses it. `snapshot`: it was refused over the state of `snapshot`. */
  suspect: 'entry' | 'snapshot'
  snapshot?: SnapshotOrigin
}

/**
 * A signed snapshot that is not the log's state at its size: an entry refused over the
 * snapshot's state was accepted when the log was replayed from entry 0 (so the snapshot lacks,
 * or holds, what the entry needs). The manifest signs the snapshot's SHA-256; the entry and its
 * receipt are in the log; anyone with the log's bundles can replay to see it.
 */
export interface IncompleteSnapshotEvidence {
  kind: 'incomplete-snapshot'
  snapshot: SnapshotOrigin
  index: number
  entry: Uint8Array
  /** Why the fold refused the entry over the snapshot's state. */
  reason: string
  receipt: string
  explanation: string
}

/** Any kind of evidence. */
export type Evidence = ForkEvidence | InvalidEntryEvidence | IncompleteSnapshotEvidence

/** Writes `evidence` into `dir`; returns the file's path. */
export function writeEvidence(dir: string, evidence: Evidence, logKey: string, now = Date.now()): string {
  const stamp = new Date(now).toISOString().replace(/[:.]/g, '-')
  const body = {
    warning: 'SECURITY: the whodis log signed statements that cannot all be true; keep this file as proof',
    logKey,
    detectedAt: new Date(now).toISOString(),
    ...evidence,
  }
  const text = `${JSON.stringify(body, (_k, v) => (v instanceof Uint8Array ? toBase64(v) : v), 2)}\n`
  for (let n = 0; ; n++) {
    const path = join(dir, `misbehaviour-${evidence.kind}-${stamp}${n ? `-${n}` : ''}.json`)
    try {
      writeFileSync(path, text, { flag: 'wx' })
      return path
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err
    }
  }
}
