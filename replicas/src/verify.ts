/**
 * `whodis-mirror verify`: replays everything the data directory holds and checks it against the
 * held checkpoint, with no network:
 * - the held checkpoint is signed by the pinned key (checked when the mirror opens);
 * - hashes.bin hashes to the checkpoint's root;
 * - every binding of the state the store started from (a snapshot, or nothing) is the log entry
 *   at its index;
 * - every held entry has the leaf hash the tree holds at its index, and they extend the tree's
 *   right edge at the start to the stored edge at the applied size;
 * - folding the held entries over the starting state gives exactly the stored state and app table.
 * @module
 */
import { toBase64 } from '../../src/protocol/bytes.ts'
import { decodeEntry } from '../../src/protocol/entry.ts'
import { leafHash, RightEdge, storedHashCount, storedHashIndex, treeHash } from '../../src/protocol/merkle.ts'
import { FoldError } from '../../src/protocol/state.ts'
import { MirrorError } from './errors.ts'
import { FoldSession, indexBase } from './fold.ts'
import type { HashFile } from './hashes.ts'
import type { Logger } from './logger.ts'
import { entryOfBinding, leafReader } from './proofs.ts'
import { IndexBuilder, type AppInfo, type Binding, type MirrorStore } from './store/index.ts'
import type { VerifiedCheckpoint } from './trust.ts'
import { sameBytes } from './verify-range.ts'

/** What verify checked. */
export interface VerifyReport {
  checkpointSize: number
  treeSize: number
  /** Tree size of the state the store started from (a snapshot), 0 if synced from the first entry. */
  originSize: number
  /** Snapshot bindings checked against their log entries. */
  originBindings: number
  entriesReplayed: number
  records: number
  bindings: number
}

/** Replays and checks everything held; throws `verify_failed` naming the first mismatch. */
export function verifyHeld(store: MirrorStore, hashes: HashFile, held: VerifiedCheckpoint | null, logger: Logger): VerifyReport {
  if (!held) throw new MirrorError('no_data', `${store.dir} holds no verified checkpoint yet: run sync first`)
  const fail = (why: string): never => {
    throw new MirrorError('verify_failed', `verify ${store.dir}: ${why}`)
  }
  if (hashes.validCount < storedHashCount(held.size)) fail('hashes.bin lacks part of the held tree (sync rebuilds it)')
  const root = treeHash(held.size, hashes.reader)
  if (!sameBytes(root, held.rootHash)) fail(`hashes.bin hashes to ${toBase64(root)}, not the checkpoint root ${toBase64(held.rootHash)}`)

  // The starting state and its bindings' entries.
  const originSize = store.entriesFrom
  const leaves = leafReader(hashes)
  const builder = new IndexBuilder()
  let originBindings = 0
  for (const record of store.originRecords()) {
    for (const b of record.bindings) {
      if (!entryOfBinding(record.subject, b, leaves)) fail(`a binding of the starting state to app ${b.app} is not log entry ${b.index}`)
      originBindings++
    }
    builder.add(record)
  }
  const index = builder.finish()

  // The app table at the start: today's, less what the held entries registered or revoked.
  const registered = new Set<number>()
  const revoked = new Set<number>()
  for (const batch of store.entryBatches()) {
    for (const bytes of batch.entries) {
      try {
        const e = decodeEntry(bytes)
        if (e.kind === 'app-register') registered.add(e.app)
        if (e.kind === 'app-revoke') revoked.add(e.app)
      } catch {
        // Reported with its index by the replay below.
      }
    }
  }
  const originApps: AppInfo[] = store.apps
    .filter((a) => !registered.has(a.num))
    .map((a) => ({ num: a.num, id: a.id, revoked: a.revoked && !revoked.has(a.num) }))

  // Replay.
  const session = new FoldSession(indexBase(index), originApps, originSize)
  const edge = RightEdge.fromStoredHashes(originSize, hashes.reader)
  const progress = logger.progress('verify', store.treeSize - originSize, 'entries')
  let replayed = 0
  try {
    for (const batch of store.entryBatches()) {
      const first = batch.treeSize - batch.entries.length
      if (first !== session.size) fail(`held entries jump from ${session.size} to ${first}`)
      batch.entries.forEach((bytes, i) => {
        const n = first + i
        const leaf = leafHash(bytes)
        if (n >= held.size) fail(`entry ${n} is beyond the checkpoint`)
        if (!sameBytes(leaf, hashes.reader([storedHashIndex(0, n)])[0]!)) fail(`held entry ${n} is not the log's entry ${n}`)
        edge.append(leaf)
        try {
          session.apply(bytes, n)
        } catch (err) {
          if (err instanceof FoldError) fail(`replaying entry ${n}: ${err.message}`)
          throw err
        }
      })
      index.apply(session.takeChanges(indexBase(index)))
      replayed += batch.entries.length
      progress.update(replayed)
    }
  } finally {
    progress.end()
  }
  if (session.size !== store.treeSize) fail(`held entries end at ${session.size}, the store is at ${store.treeSize}`)
  const stored = new RightEdge(store.treeSize, store.rightEdge)
  if (!sameBytes(edge.root(), stored.root())) fail('the held entries do not lead to the stored right edge')

  // The replayed state must be the stored state.
  if (index.size !== store.index.size) fail(`replay gives ${index.size} numbers, the store holds ${store.index.size}`)
  let bindings = 0
  for (const record of index.records()) {
    const have = store.get(record.subject)
    if (!have || !sameBindings(have, record.bindings)) fail(`the stored bindings of the number bound by log entries ${record.bindings.map((b) => b.index).join(', ')} differ from the replayed ones`)
    bindings += record.bindings.length
  }
  const apps = JSON.stringify(session.apps())
  if (apps !== JSON.stringify(store.apps.sort((a, b) => a.num - b.num))) fail(`replay gives app table ${apps}`)
  return {
    checkpointSize: held.size,
    treeSize: store.treeSize,
    originSize,
    originBindings,
    entriesReplayed: replayed,
    records: index.size,
    bindings,
  }
}

function sameBindings(a: readonly Binding[], b: readonly Binding[]): boolean {
  if (a.length !== b.length) return false
  return a.every((x, i) => {
    const y = b[i]!
    const fx = x.keyFingerprint ? toBase64(x.keyFingerprint) : ''
    const fy = y.keyFingerprint ? toBase64(y.keyFingerprint) : ''
    return x.app === y.app && x.index === y.index && x.verifiedAt === y.verifiedAt && x.ttlDays === y.ttlDays && fx === fy
  })
}
