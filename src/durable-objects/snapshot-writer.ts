/**
 * Writes snapshots: the whole state at a tree size, for mirrors to bootstrap from. The state is
 * read in one synchronous step (so it is exactly the fold of the first N entries, N being the
 * entry count at that instant), then the writer waits until N is sequenced, so the snapshot's
 * right edge and root are those of a tree the log has committed to.
 * @module
 */
import { sha256 } from '@noble/hashes/sha2.js'
import { LATEST_SNAPSHOT_KEY, snapshotDataKey, snapshotManifestKey } from '../adapters/log-bucket.ts'
import type { LogConfig } from '../env.ts'
import { fromBase64 } from '../protocol/bytes.ts'
import { subjectOf } from '../protocol/entry.ts'
import { RightEdge } from '../protocol/merkle.ts'
import { signNote, type NoteSigner } from '../protocol/note.ts'
import { encodeSnapshot, formatManifest, gzip, type SnapshotApp, type SnapshotRecord } from '../protocol/snapshot.ts'
import type { TreeStore } from './tree-store.ts'

const DAY_MS = 86_400_000

/** What a snapshot run needs from the Sequencer. */
export interface SnapshotJob {
  sql: SqlStorage
  tree: TreeStore
  bucket: R2Bucket
  signer: NoteSigner
  config: LogConfig
  /** Resolves once entry `index` is in a committed checkpoint. */
  sequenced(index: number): Promise<void>
}

/** The written snapshot, or null when one at this size already exists. */
export type SnapshotResult = { size: number; records: number; bytes: number } | null

/** Captures the state now, waits for it to be sequenced, and writes data, manifest and `latest`. */
export async function writeSnapshot(job: SnapshotJob): Promise<SnapshotResult> {
  const { sql, tree, bucket, signer, config } = job
  // Synchronous from here to the first await: nothing else runs in between.
  const size = sql.exec<{ n: number }>('SELECT COALESCE(MAX(idx), -1) + 1 AS n FROM entries').one().n
  if (sql.exec('SELECT 1 FROM snapshots WHERE size = ?', size).toArray().length > 0) return null
  const apps: SnapshotApp[] = sql
    .exec<{ num: number; id: string; revoked_at: number | null }>('SELECT num, id, revoked_at FROM apps ORDER BY num')
    .toArray()
    .map((a) => ({ num: a.num, id: a.id, revoked: a.revoked_at !== null }))
  const records = readRecords(sql)

  await job.sequenced(size - 1)
  const edge = RightEdge.fromStoredHashes(size, tree.reader())
  const { bytes } = encodeSnapshot({ treeSize: size, rightEdge: edge.hashes, apps, records })
  const data = await gzip(bytes)
  await bucket.put(snapshotDataKey(size), data)
  const manifest = await signNote(
    formatManifest({ origin: config.origin, treeSize: size, rootHash: edge.root(), records: records.length, bytes: data.length, sha256: sha256(data) }),
    signer,
  )
  await bucket.put(snapshotManifestKey(size), manifest)
  await bucket.put(LATEST_SNAPSHOT_KEY, manifest)
  sql.exec('INSERT OR REPLACE INTO snapshots (size, records, bytes, at) VALUES (?, ?, ?, ?)', size, records.length, data.length, Date.now())
  await prune(sql, bucket, config.snapshotsKept)
  return { size, records: records.length, bytes: data.length }
}

/** The sizes of the snapshots kept, newest first. */
export function snapshotSizes(sql: SqlStorage): number[] {
  return sql.exec<{ size: number }>('SELECT size FROM snapshots ORDER BY size DESC').toArray().map((r) => r.size)
}

function readRecords(sql: SqlStorage): SnapshotRecord[] {
  const bySubject = new Map<number, SnapshotRecord>()
  const rows = sql.exec<{ phone: string; num: number; verified_at: number; expires_at: number; public_key: string | null; idx: number }>(
    'SELECT b.phone, a.num, b.verified_at, b.expires_at, b.public_key, b.idx FROM bindings b JOIN apps a ON a.id = b.app',
  )
  for (const row of rows) {
    const subject = subjectOf(row.phone)
    let record = bySubject.get(subject)
    if (!record) bySubject.set(subject, (record = { subject, bindings: [] }))
    record.bindings.push({
      app: row.num,
      index: row.idx,
      verifiedAt: row.verified_at / 1000,
      ttlDays: Math.round((row.expires_at - row.verified_at) / DAY_MS),
      ...(row.public_key ? { keyFingerprint: sha256(fromBase64(row.public_key)) } : {}),
    })
  }
  const records = [...bySubject.values()].sort((a, b) => a.subject - b.subject)
  for (const r of records) r.bindings.sort((a, b) => a.app - b.app)
  return records
}

async function prune(sql: SqlStorage, bucket: R2Bucket, keep: number): Promise<void> {
  for (const size of snapshotSizes(sql).slice(keep)) {
    await bucket.delete([snapshotDataKey(size), snapshotManifestKey(size)])
    sql.exec('DELETE FROM snapshots WHERE size = ?', size)
  }
}
