/**
 * What a mirror keeps in its data directory about where its state came from, so that it blames
 * the right party when the log's next entry is refused:
 * - `snapshot-origin.json`: the signed snapshot the state was bootstrapped from (tree size,
 *   manifest, SHA-256), written just before the bootstrap commit;
 * - `replay.json`: present while the mirror replays the log from entry 0 because an entry was
 *   refused over a snapshot's state (or the operator asked with `--replay`); it says which, so
 *   that the outcome can be written down once the replay reaches the checkpoint.
 * Both are written atomically (temp file, fsync, rename).
 * @module
 */
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import type { SnapshotOrigin } from './evidence.ts'
import { removeIfExists, replaceFile } from './store/fsutil.ts'

const ORIGIN_FILE = 'snapshot-origin.json'
const REPLAY_FILE = 'replay.json'

/** Why a replay from entry 0 runs. */
export interface ReplayReason {
  /** The snapshot the refused state came from, if any. */
  snapshot?: SnapshotOrigin
  /** The entry refused over that state, and why. */
  refused?: { index: number; reason: string }
  /** When the replay was started (ISO 8601). */
  startedAt: string
}

/** Records the snapshot about to be bootstrapped from. */
export function writeSnapshotOrigin(dir: string, origin: SnapshotOrigin): Promise<void> {
  return replaceFile(join(dir, ORIGIN_FILE), `${JSON.stringify(origin)}\n`)
}

/** The snapshot a state starting at tree size `from` came from, or null (from 0, or no record of it). */
export function readSnapshotOrigin(dir: string, from: number): SnapshotOrigin | null {
  if (from === 0) return null
  const origin = readJson<SnapshotOrigin>(join(dir, ORIGIN_FILE))
  return origin && origin.treeSize === from && typeof origin.manifest === 'string' ? origin : null
}

/** Forgets the snapshot origin (the state no longer comes from it). */
export function clearSnapshotOrigin(dir: string): Promise<void> {
  return removeIfExists(join(dir, ORIGIN_FILE))
}

/** Marks a replay from entry 0 as under way. */
export function startReplay(dir: string, reason: ReplayReason): Promise<void> {
  return replaceFile(join(dir, REPLAY_FILE), `${JSON.stringify(reason)}\n`)
}

/** The replay under way, or null. */
export function replayUnderWay(dir: string): ReplayReason | null {
  return readJson<ReplayReason>(join(dir, REPLAY_FILE))
}

/** Marks the replay done. */
export function endReplay(dir: string): Promise<void> {
  return removeIfExists(join(dir, REPLAY_FILE))
}

function readJson<T>(path: string): T | null {
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null
    throw err
  }
  try {
    return JSON.parse(text) as T
  } catch {
    return null
  }
}
