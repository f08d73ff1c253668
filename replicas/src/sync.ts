/**
 * One verified sync step: from what the store holds to the directory's latest checkpoint.
 *
 * 1. Fetch the checkpoint and open it with the pinned key (origin = key name).
 * 2. Compare it with the held one: smaller and consistent with the held hashes is a rollback,
 *    smaller or same-size and inconsistent is a fork; same is "up to date".
 * 3. Pass one ({@link verifyRange}): fetch the entry bundles from the applied size to the new
 *    size, hash them into a copy of the held right edge, require the root to equal the held
 *    checkpoint's where the range crosses it and the new checkpoint's at its end. The new
 *    Merkle hashes are written (and fsynced) past the verified end of hashes.bin.
 * 4. Pass two: fold the verified entries with the directory's own fold, chunk by chunk, and
 *    commit each chunk atomically with the new checkpoint, the edge at the chunk's end and the
 *    raw entries. Only committed state is ever served.
 *
 * Intermediate sizes have no signed checkpoint, so nothing is committed until the whole range
 * has passed the root check; a chunk is then committed as "applied through N, proven through
 * the new checkpoint". A crash between chunks leaves such a state, which is a verified prefix;
 * the next step resumes it (and re-checks the held root on the way). An entry the fold refuses
 * in the first chunk leaves the store untouched; in a later chunk of a long range, the earlier
 * chunks stay committed (they are proven and well-formed) and nothing at or past the bad entry
 * is ever applied. See docs/mirror.md.
 *
 * The first sync of an empty store bootstraps from the newest signed snapshot when there is one
 * (see snapshot.ts), else replays from entry 0.
 * @module
 */
import { join } from 'node:path'
import { RightEdge, storedHashCount } from '../../src/protocol/merkle.ts'
import type { NoteVerifierKey } from '../../src/protocol/note-keys.ts'
import { toBase64 } from '../../src/protocol/bytes.ts'
import { FoldError } from '../../src/protocol/state.ts'
import { checkLargerTree, checkSmallerTree, forkRefusal, type SignedTree } from './consistency.ts'
import { MirrorError } from './errors.ts'
import { writeEvidence, type SnapshotOrigin } from './evidence.ts'
import { FoldSession, indexBase, storeBase, type BaseRecords } from './fold.ts'
import type { HashFile } from './hashes.ts'
import type { LogClient } from './log-client.ts'
import type { Logger } from './logger.ts'
import { receiptFor } from './proofs.ts'
import { readSnapshotOrigin, writeSnapshotOrigin } from './replay.ts'
import { checkSnapshotApps, fetchSnapshot, hashesFromTiles, type SnapshotFile } from './snapshot.ts'
import { prepareSnapshot, type DecodedSnapshot, type PreparedSnapshot } from './snapshot-worker.ts'
import { Spool } from './spool.ts'
import type { AppInfo, BuildOrder, MirrorStore, SubjectIndex } from './store/index.ts'
import { verifyCheckpoint, type VerifiedCheckpoint, type WitnessPolicy } from './trust.ts'
import { RootMismatch, sameBytes, verifyRange, type RangeTarget } from './verify-range.ts'

/** A committed batch of entries, as listeners see it. */
export interface CommitEvent {
  /** Log index of `entries[0]`. */
  from: number
  /** Tree size after the batch. */
  to: number
  entries: Uint8Array[]
  checkpoint: VerifiedCheckpoint
}

/** What one sync step did. */
export interface SyncResult {
  /** `up-to-date`: nothing new; `applied`: entries applied; `bootstrapped`: started from a snapshot. */
  status: 'up-to-date' | 'applied' | 'bootstrapped'
  /** Applied tree size before and after. */
  from: number
  treeSize: number
  /** Size of the checkpoint now held. */
  checkpointSize: number
  /** Entries folded in this step. */
  applied: number
  /** Tree size of the snapshot bootstrapped from, if any. */
  snapshotSize?: number
  /** Set when this step finished a replay from entry 0: the suspect snapshot's size and the evidence written, if any. */
  replayed?: { from: 0; snapshotSize?: number; evidence?: string }
}

/** What a sync step works with. */
export interface SyncContext {
  dir: string
  store: MirrorStore
  hashes: HashFile
  key: NoteVerifierKey
  keyText: string
  client: LogClient
  logger: Logger
  chunkEntries: number
  /** Sizes at which a commit must also end (see verifyRange's `chunkBreaks`). */
  chunkBreaks?: readonly number[]
  useSnapshots: boolean
  maxSnapshotBytes: number
  /** Witnesses that must cosign a served checkpoint before it is taken (none: the log key suffices). */
  witnesses?: WitnessPolicy | null
  /** The held verified checkpoint. */
  held(): VerifiedCheckpoint | null
  /** Called once before the first store write of a step (the mirror pins its key there). */
  beforeWrite(): Promise<void>
  /** Called after each commit, before the next one starts. */
  committed(event: CommitEvent): void
}

/** Runs one sync step; see the module comment. Throws a MirrorError refusal, changing nothing stored. */
export async function syncStep(ctx: SyncContext): Promise<SyncResult> {
  const { client, key, store, hashes } = ctx
  const source = `${client.url}/log/checkpoint`
  const served = await verifyCheckpoint(await client.checkpoint(), key, source, ctx.witnesses)
  const held = ctx.held()
  const from = store.treeSize

  if (!held) {
    if (from !== 0) throw new MirrorError('store', `the store holds tree size ${from} but no checkpoint`)
    return bootstrap(ctx, served)
  }
  // The comparisons below read the held Merkle hashes: make sure they are all there.
  await repairHashes(ctx, held)
  const heldTree: SignedTree = { source: 'the held checkpoint', ...held }
  const servedTree: SignedTree = { source, ...served }
  if (served.size <= held.size) {
    const verdict = checkSmallerTree(heldTree, servedTree, hashes)
    if (!verdict.consistent) throw forkRefusal(ctx.dir, ctx.keyText, verdict.evidence)
    if (served.size < held.size) {
      throw new MirrorError('rollback', `${source} serves tree size ${served.size}, smaller than the held ${held.size}: refusing to roll back`, {
        servedSize: served.size,
        heldSize: held.size,
      })
    }
  }
  if (served.size === held.size && from === held.size) {
    return { status: 'up-to-date', from, treeSize: from, checkpointSize: held.size, applied: 0 }
  }
  // Resuming an interrupted apply keeps the held checkpoint; otherwise move to the served one.
  const target = served.size === held.size ? held : served
  const targets: RangeTarget[] = []
  if (held.size > from && held.size < target.size) targets.push({ size: held.size, rootHash: held.rootHash, what: 'the held checkpoint' })
  targets.push({ size: target.size, rootHash: target.rootHash, what: `the checkpoint from ${source}` })
  const applied = await applyRange(ctx, {
    from,
    edge: new RightEdge(from, store.rightEdge),
    targets,
    checkpoint: target,
    base: storeBase(store),
    apps: store.apps,
    older: target === held ? null : heldTree,
    servedSource: source,
  })
  return { status: 'applied', from, treeSize: store.treeSize, checkpointSize: target.size, applied }
}

/** The first sync: from the newest snapshot when there is one, else from entry 0. */
async function bootstrap(ctx: SyncContext, served: VerifiedCheckpoint): Promise<SyncResult> {
  const { client, key, hashes, logger } = ctx
  const source = `${client.url}/log/checkpoint`
  const file = ctx.useSnapshots ? await fetchSnapshot(client, key) : null
  // Checked and decoded now (a large snapshot: in a worker, while the tiles are hashed below).
  const prepared = file ? await prepareSnapshot(file, key, ctx.keyText, ctx.maxSnapshotBytes) : null
  try {
    return await bootstrapFrom(ctx, served, file && prepared ? { file, prepared } : null)
  } finally {
    prepared?.close()
  }
}

async function bootstrapFrom(ctx: SyncContext, served: VerifiedCheckpoint, snapshot: { file: SnapshotFile; prepared: PreparedSnapshot } | null): Promise<SyncResult> {
  const { client, key, hashes, logger } = ctx
  const source = `${client.url}/log/checkpoint`
  // The checkpoint is cached for seconds, the snapshot manifest for a minute: a fresh snapshot
  // can be ahead of a cached checkpoint. Look again a few times before calling it a rollback.
  for (let attempt = 0; snapshot && snapshot.file.manifest.treeSize > served.size && attempt < 3; attempt++) {
    await new Promise((resolve) => setTimeout(resolve, client.http.policy.baseDelayMs * 4 * 2 ** attempt))
    served = await verifyCheckpoint(await client.checkpoint(), key, source, ctx.witnesses)
  }
  if (snapshot && snapshot.file.manifest.treeSize > served.size) {
    await snapshot.prepared.decoded // a snapshot that does not check out is refused as such first
    throw new MirrorError(
      'rollback',
      `${source} serves tree size ${served.size}, older than the signed snapshot at ${snapshot.file.manifest.treeSize}: refusing to roll back`,
    )
  }
  hashes.reset()
  if (!snapshot) {
    logger.info('bootstrap', { from: 0, to: served.size, snapshot: false })
    const applied = await applyRange(ctx, {
      from: 0,
      edge: new RightEdge(),
      targets: [{ size: served.size, rootHash: served.rootHash, what: `the checkpoint from ${source}` }],
      checkpoint: served,
      base: storeBase(ctx.store),
      apps: [],
      older: null,
      servedSource: source,
    })
    return { status: 'applied', from: 0, treeSize: ctx.store.treeSize, checkpointSize: served.size, applied }
  }

  const { manifest } = snapshot.file
  const { prepared } = snapshot
  logger.info('bootstrap', { from: 0, snapshot: manifest.treeSize, records: manifest.records, to: served.size })
  let decoded: DecodedSnapshot
  let built: { index: SubjectIndex; order: BuildOrder }
  try {
    // The level-0 tiles give the Merkle hashes; every binding is checked against them as they pass.
    const progress = logger.progress('hash tiles', manifest.treeSize, 'hashes')
    try {
      await hashesFromTiles(client, manifest.treeSize, manifest.rootHash, hashes, progress, prepared.check)
    } catch (err) {
      // A snapshot that does not check out is refused as such, whatever the tiles said.
      await prepared.decoded
      await prepared.index()
      throw err
    } finally {
      progress.end()
    }
    decoded = await prepared.decoded
    built = await prepared.index()
    await checkSnapshotApps(client, decoded.apps, manifest.treeSize, hashes)
  } catch (err) {
    hashes.discardUnverified()
    throw err
  }
  const { edge, apps } = decoded
  const applied = await applyRange(ctx, {
    from: manifest.treeSize,
    edge,
    targets: [{ size: served.size, rootHash: served.rootHash, what: `the checkpoint from ${source}` }],
    checkpoint: served,
    base: indexBase(built.index),
    apps,
    older: { source: `${client.url}/log/snapshot/latest`, note: manifest.note, size: manifest.treeSize, rootHash: manifest.rootHash },
    servedSource: source,
    bootstrap: {
      index: built.index,
      order: built.order,
      apps,
      edge,
      snapshot: { treeSize: manifest.treeSize, manifest: manifest.note, sha256: toBase64(manifest.sha256) },
    },
  })
  return {
    status: 'bootstrapped',
    from: 0,
    treeSize: ctx.store.treeSize,
    checkpointSize: served.size,
    applied,
    snapshotSize: manifest.treeSize,
  }
}

/** Rebuilds hashes.bin from tiles when it lacks part of the held tree (e.g. deleted by hand). */
async function repairHashes(ctx: SyncContext, held: VerifiedCheckpoint): Promise<void> {
  if (ctx.hashes.validCount >= storedHashCount(held.size)) return
  ctx.logger.warn('hashes_rebuild', { reason: 'hashes.bin is shorter than the held tree', size: held.size })
  ctx.hashes.reset()
  const progress = ctx.logger.progress('hash tiles', held.size, 'hashes')
  try {
    await hashesFromTiles(ctx.client, held.size, held.rootHash, ctx.hashes, progress)
    const logEdge = RightEdge.fromStoredHashes(ctx.store.treeSize, ctx.hashes.reader)
    if (!sameBytes(logEdge.root(), new RightEdge(ctx.store.treeSize, ctx.store.rightEdge).root())) {
      throw new MirrorError('store', 'the stored right edge does not match the log at the applied size: the store is corrupt')
    }
    ctx.hashes.sync()
    ctx.hashes.markValid(storedHashCount(held.size))
  } catch (err) {
    ctx.hashes.discardUnverified()
    throw err
  } finally {
    progress.end()
  }
}

/** Entries whose records the fold loads together before folding them. */
const FOLD_GROUP = 32

interface RangePlan {
  from: number
  edge: RightEdge
  targets: RangeTarget[]
  /** The checkpoint the range ends at, committed with every chunk. */
  checkpoint: VerifiedCheckpoint
  /** Committed records before the range. */
  base: BaseRecords
  apps: readonly AppInfo[]
  /** The signed tree the range must extend (for telling a fork from garbage), if any. */
  older: SignedTree | null
  servedSource: string
  /** Store the snapshot first (with the first chunk); the store takes the index over. */
  bootstrap?: { index: SubjectIndex; order: BuildOrder; apps: AppInfo[]; edge: RightEdge; snapshot: SnapshotOrigin }
}

/** Verifies then applies [from, checkpoint.size); returns the entries applied. */
async function applyRange(ctx: SyncContext, plan: RangePlan): Promise<number> {
  const { store, hashes, logger } = ctx
  const to = plan.checkpoint.size
  const spool = new Spool(join(ctx.dir, 'sync-spool.bin'))
  let committed = false
  try {
    const progress = logger.progress('verify', to - plan.from, 'entries')
    let range
    try {
      range = await verifyRange({
        client: ctx.client,
        from: plan.from,
        edge: plan.edge,
        targets: plan.targets,
        hashes,
        chunkEntries: ctx.chunkEntries,
        ...(ctx.chunkBreaks ? { chunkBreaks: ctx.chunkBreaks } : {}),
        spool,
        progress,
      })
    } catch (err) {
      if (err instanceof RootMismatch) throw await explainMismatch(ctx, plan, err)
      throw err
    } finally {
      progress.end()
    }
    hashes.sync()

    const session = new FoldSession(plan.base, plan.apps, plan.from)
    const entries = spool.entries()
    const applying = logger.progress('apply', to - plan.from, 'entries')
    try {
      for (const chunk of range.chunks) {
        const batch: Uint8Array[] = []
        let index = session.size
        while (index < chunk.end) {
          // A group of entries at a time: their records are loaded together first.
          const group = batch.length
          for (let k = 0; k < FOLD_GROUP && index + k < chunk.end; k++) {
            const next = entries.next()
            if (next.done) throw new MirrorError('internal', `spool ended at entry ${index + k}`)
            batch.push(next.value)
          }
          const ahead = batch.slice(group)
          session.prefetch(ahead)
          for (const entry of ahead) {
            try {
              session.apply(entry, index)
            } catch (err) {
              if (err instanceof FoldError) throw entryRefusal(ctx, plan, index, entry, err)
              throw err
            }
            index++
          }
        }
        if (!committed) await ctx.beforeWrite()
        if (!committed && plan.bootstrap) {
          const b = plan.bootstrap
          await writeSnapshotOrigin(ctx.dir, b.snapshot)
          await store.bootstrapIndex(b.index, { treeSize: plan.from, checkpoint: plan.checkpoint.note, rightEdge: b.edge.hashes, apps: b.apps }, b.order)
          committed = true
          hashes.markValid(storedHashCount(to))
          ctx.committed({ from: plan.from, to: plan.from, entries: [], checkpoint: plan.checkpoint })
          if (chunk.end === plan.from) break
        }
        const changes = session.takeChanges(storeBase(store))
        await store.commit(changes, { treeSize: chunk.end, checkpoint: plan.checkpoint.note, rightEdge: chunk.edge.hashes, apps: session.apps(), entries: batch })
        if (!committed) hashes.markValid(storedHashCount(to))
        committed = true
        ctx.committed({ from: chunk.end - batch.length, to: chunk.end, entries: batch, checkpoint: plan.checkpoint })
        applying.update(chunk.end - plan.from)
      }
    } finally {
      applying.end()
    }
    return to - plan.from
  } finally {
    spool.dispose()
    hashes.discardUnverified()
  }
}

/** The refusal for a root mismatch: a fork if the tiles prove it, else corrupt bundles. */
async function explainMismatch(ctx: SyncContext, plan: RangePlan, err: RootMismatch): Promise<MirrorError> {
  const served: SignedTree = { source: plan.servedSource, ...plan.checkpoint }
  const older = plan.older
  const range = `[${plan.from}, ${plan.checkpoint.size})`
  if (older && older.size >= 1) {
    if (older.size === served.size) {
      if (!sameBytes(older.rootHash, served.rootHash)) {
        return forkRefusal(ctx.dir, ctx.keyText, {
          kind: 'fork',
          held: { source: older.source, note: older.note, size: older.size, rootHash: older.rootHash },
          served: { source: served.source, note: served.note, size: served.size, rootHash: served.rootHash },
          explanation: `both sign tree size ${served.size} with different roots`,
        })
      }
    } else if (older.size < served.size) {
      const verdict = await checkLargerTree(older, served, ctx.client)
      if (!verdict.consistent) return forkRefusal(ctx.dir, ctx.keyText, verdict.evidence)
      return new MirrorError(
        'bad_data',
        `the entry bundles served for ${range} do not hash to ${err.target.what} (tree size ${err.target.size}); the hash tiles show that checkpoint does extend ${older.source}, so the bundles are corrupt`,
        { from: plan.from, to: plan.checkpoint.size },
      )
    }
  }
  return new MirrorError('bad_data', `the entry bundles served for ${range} do not hash to ${err.target.what} (tree size ${err.target.size})`, {
    from: plan.from,
    to: plan.checkpoint.size,
  })
}

/**
 * The refusal for an entry the fold refuses, with evidence that the log holds it. When the state
 * it was folded over came from a snapshot (the one being bootstrapped, or the one the store
 * started from), the snapshot is named as the suspect: a snapshot that lacks a binding makes the
 * honest removal of it look invalid, and only a replay from entry 0 can tell (see mirror.ts).
 */
function entryRefusal(ctx: SyncContext, plan: RangePlan, index: number, entry: Uint8Array, err: FoldError): MirrorError {
  const from = ctx.store.entriesFrom
  // A state that starts past entry 0 came from a snapshot, even one bootstrapped before its manifest was kept.
  const snapshot: SnapshotOrigin | null = plan.bootstrap?.snapshot ?? (from > 0 ? (readSnapshotOrigin(ctx.dir, from) ?? { treeSize: from }) : null)
  let evidencePath: string | undefined
  try {
    evidencePath = writeEvidence(
      ctx.dir,
      {
        kind: 'invalid-entry',
        index,
        entry,
        reason: err.message,
        receipt: receiptFor(index, plan.checkpoint, ctx.hashes),
        suspect: snapshot ? 'snapshot' : 'entry',
        ...(snapshot ? { snapshot } : {}),
      },
      ctx.keyText,
    )
  } catch (writeErr) {
    ctx.logger.error('evidence_write_failed', { error: String(writeErr) })
  }
  const evidence = evidencePath ? `; evidence written to ${evidencePath}` : ''
  const details = { index, ...(evidencePath ? { evidence: evidencePath } : {}) }
  if (snapshot) {
    return new MirrorError(
      'entry_refused',
      `${err.message}, folded over the state of the signed snapshot at tree size ${snapshot.treeSize}: the snapshot is the suspect (it may lack a binding the entry needs), not the entry; a replay from entry 0 decides${evidence}`,
      { ...details, suspect: 'snapshot', snapshot },
      { cause: err },
    )
  }
  return new MirrorError(
    'entry_refused',
    `the log holds an entry the directory's rules refuse: ${err.message} (the fold of every entry from 0 refuses it)${evidence}`,
    { ...details, suspect: 'entry' },
    { cause: err },
  )
}
