/**
 * The directory's own snapshot writer (`SnapshotJob`, src/core/snapshot-job.ts) over the benchmark
 * dataset, with its memory measured where a Durable Object would hold it: the writer runs in a
 * worker thread of its own, whose V8 heap is capped (old generation 48 MiB, young 16 MiB, so 64
 * MiB in all: a writer that needed more would die with ERR_WORKER_OUT_OF_MEMORY; Node lets a
 * process's --max-old-space-size override a worker's cap, so the cap holds only when the process
 * runs without that flag, and `snapshot_writer_heap_limit_bytes` says which it was), while the
 * binding shards (in-memory stores, one per shard, as many as production has) stay in the main
 * thread and answer its page reads over messages, as Durable Object RPC would. Parts of the
 * multipart upload are handed to the main thread as they are cut, as R2 would take them, and the
 * file is checked there: it must decompress to exactly the bytes `encodeSnapshot` (the protocol's
 * encoder, what the mirror reads) makes of the same records.
 *
 *   node --expose-gc --import tsx bench/snapshot-writer.ts --records 1000000
 *
 * Figures: `snapshot_writer_peak_heap_bytes` (the writer isolate's V8 heap in use plus its
 * external memory, ArrayBuffers included, at its peak over samples every 5 ms and at every page
 * read; with --expose-gc after a full collection at every 8th page, so the live peak, else the
 * heap in use, garbage included), `snapshot_writer_cpu_s` (the writer thread's CPU), `snapshot_writer_steps`, and the
 * file's bytes per record.
 * @module
 */
import { gunzipSync } from 'node:zlib'
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads'
import { getHeapStatistics } from 'node:v8'
import { concat } from '../src/protocol/bytes.ts'
import { encodeEntry } from '../src/protocol/entry.ts'
import { leafHash, RightEdge } from '../src/protocol/merkle.ts'
import { encodeSnapshot } from '../src/protocol/snapshot.ts'
import type { AppRecord, ObjectStore, ShardClient, StoredBinding, SubjectRecord } from '../src/core/ports.ts'
import { MemoryShardStore } from '../src/core/memory/shard-store.ts'
import { appId, DATASET_START, datasetEntries, generateDataset, type Dataset } from './dataset.ts'

/** Binding shards of the production log (wrangler.toml, `[env.production.vars]` BINDING_SHARDS). */
export const PRODUCTION_SHARDS = 64

/** The heap the writer is given: what a Durable Object's 128 MB leaves it with room to spare. */
export const WRITER_OLD_MB = 48
export const WRITER_YOUNG_MB = 16

/** What {@link measureSnapshotWriter} reports. */
export interface SnapshotWriterFigures {
  snapshot_writer_records: number
  snapshot_writer_shards: number
  snapshot_writer_peak_heap_bytes: number
  snapshot_writer_peak_v8_heap_bytes: number
  snapshot_writer_heap_limit_bytes: number
  snapshot_writer_cpu_s: number
  snapshot_writer_wall_s: number
  snapshot_writer_steps: number
  snapshot_writer_parts: number
  snapshot_writer_bytes_per_record: number
}

interface TreeInfo {
  size: number
  root: Uint8Array
  edge: Uint8Array[]
}

/** Every binding of `ds` in in-memory shard stores, by shard, as the directory's shards would hold them. */
export function loadShards(ds: Dataset, count: number, shardOfSubject: (s: number, n: number) => number): MemoryShardStore[] {
  const stores = Array.from({ length: count }, (_, i) => new MemoryShardStore(undefined, `shard-${i}`))
  for (let k = 0; k < ds.order.length; k++) {
    const r = ds.records[ds.order[k]!]!
    const b = r.bindings[ds.orderBinding[k]!]!
    const binding: StoredBinding = { app: b.app, index: b.index, verifiedAt: b.verifiedAt, ttlDays: b.ttlDays, publicKey: null, renewed: false }
    stores[shardOfSubject(r.subject, count)]!.putBinding(r.subject, binding)
  }
  for (const s of stores) s.prepareOrder()
  return stores
}

/** The tree of the dataset's log: its size, root and right edge. */
export function datasetTree(ds: Dataset): TreeInfo {
  const edge = new RightEdge()
  for (const e of datasetEntries(ds)) edge.append(leafHash(encodeEntry(e)))
  return { size: edge.size, root: edge.root(), edge: edge.hashes }
}

/** Runs the directory's snapshot writer over `ds` in `shards` shards, in a capped worker; see the module comment. */
export async function measureSnapshotWriter(
  ds: Dataset,
  shards: number,
  log: (line: string) => void = () => {},
  cap: { oldMb: number; youngMb: number } = { oldMb: WRITER_OLD_MB, youngMb: WRITER_YOUNG_MB },
): Promise<SnapshotWriterFigures> {
  const { shardOf } = await import('../src/core/shards.ts')
  const stores = loadShards(ds, shards, shardOf)
  const tree = datasetTree(ds)
  log(`snapshot writer: ${ds.records.length} records in ${shards} shards, tree ${tree.size}`)
  const boot = `import('tsx/esm/api').then(({ tsImport }) => tsImport(${JSON.stringify(import.meta.url)}, ${JSON.stringify(import.meta.url)}))`
  const apps: AppRecord[] = Array.from({ length: ds.appCount }, (_, i) => ({
    num: i + 1,
    id: appId(i + 1),
    name: appId(i + 1),
    tokenHash: '00'.repeat(32),
    createdAt: DATASET_START * 1000,
    status: 'active',
    bindings: 0,
    registeredIndex: i,
    revokedIndex: null,
  }))
  const worker = new Worker(boot, {
    eval: true,
    workerData: { tree, shards, apps },
    resourceLimits: { maxOldGenerationSizeMb: cap.oldMb, maxYoungGenerationSizeMb: cap.youngMb },
  })
  const parts: Uint8Array[] = []
  let whole: Uint8Array | null = null
  const t0 = performance.now()
  const done = new Promise<{ peak: number; peakV8: number; limit: number; cpuS: number; steps: number; bytes: number }>((resolve, reject) => {
    worker.on('error', reject)
    worker.on('exit', (code) => reject(new Error(`the snapshot writer exited (${code}) before it finished`)))
    worker.on('message', (m: WorkerMessage) => {
      if (m.type === 'records') worker.postMessage({ id: m.id, page: stores[m.shard]!.recordsAsOf(m.size, m.after, m.limit) })
      else if (m.type === 'bindings') worker.postMessage({ id: m.id, page: stores[m.shard]!.bindingsByIndexAsOf(m.size, m.after, m.limit) })
      else if (m.type === 'part') parts[m.part - 1] = m.data
      else if (m.type === 'object') whole = m.data
      else if (m.type === 'done') resolve(m)
      else if (m.type === 'failed') reject(new Error(m.error))
    })
  })
  const result = await done.finally(() => void worker.terminate())
  const wallS = (performance.now() - t0) / 1000
  const file = whole ?? concat(...parts)
  // The streamed file decompresses to the protocol encoder's bytes for the same records.
  const expected = encodeSnapshot({
    treeSize: tree.size,
    rightEdge: tree.edge,
    apps: apps.map((a) => ({ num: a.num, id: a.id, revoked: false })),
    records: ds.records.map((r) => ({ subject: r.subject, bindings: r.bindings.map((b) => ({ app: b.app, index: b.index, verifiedAt: b.verifiedAt, ttlDays: b.ttlDays })) })),
  }).bytes
  const actual = gunzipSync(file)
  if (Buffer.compare(actual, expected) !== 0) throw new Error('the streamed snapshot does not decompress to encodeSnapshot of the same records')
  if (file.length !== result.bytes) throw new Error(`the writer counted ${result.bytes} bytes but uploaded ${file.length}`)
  return {
    snapshot_writer_records: ds.records.length,
    snapshot_writer_shards: shards,
    snapshot_writer_peak_heap_bytes: result.peak,
    snapshot_writer_peak_v8_heap_bytes: result.peakV8,
    snapshot_writer_heap_limit_bytes: result.limit,
    snapshot_writer_cpu_s: result.cpuS,
    snapshot_writer_wall_s: wallS,
    snapshot_writer_steps: result.steps,
    snapshot_writer_parts: Math.max(1, parts.length),
    snapshot_writer_bytes_per_record: file.length / ds.records.length,
  }
}

type WorkerMessage =
  | { type: 'records'; id: number; shard: number; size: number; after: number | null; limit: number }
  | { type: 'bindings'; id: number; shard: number; size: number; after: number; limit: number }
  | { type: 'part'; part: number; data: Uint8Array }
  | { type: 'object'; data: Uint8Array }
  | { type: 'done'; peak: number; peakV8: number; limit: number; cpuS: number; steps: number; bytes: number }
  | { type: 'failed'; error: string }

// ---- the writer's thread -------------------------------------------------------------------

async function writerThread(data: { tree: TreeInfo; shards: number; apps: AppRecord[] }): Promise<void> {
  const port = parentPort!
  // Live memory: after a full collection, at every 8th page that arrives (a page arriving is when
  // the most is held: the new page and the one it replaces). Without `gc` (no --expose-gc), the
  // figure is the heap in use, garbage included: an upper bound.
  const gc = (globalThis as { gc?: () => void }).gc
  let peak = 0
  let peakV8 = 0
  let arrivals = 0
  const sample = () => {
    if (gc && arrivals++ % 8 === 0) gc()
    else if (gc) return
    const h = getHeapStatistics()
    peakV8 = Math.max(peakV8, h.used_heap_size)
    peak = Math.max(peak, h.used_heap_size + h.external_memory)
  }
  const timer = setInterval(() => gc || sample(), 5)
  const cpu0 = process.cpuUsage()
  try {
    const { SnapshotJob } = await import('../src/core/snapshot-job.ts')
    const { MemoryLogStore } = await import('../src/core/memory/log-store.ts')
    const { MEMORY_SIGNER_KEY } = await import('../src/core/memory/directory.ts')
    const { noteSignerFromKey } = await import('../src/protocol/note.ts')
    const pending = new Map<number, (page: unknown) => void>()
    let nextId = 0
    port.on('message', (m: { id: number; page: unknown }) => {
      sample()
      pending.get(m.id)!(m.page)
      pending.delete(m.id)
    })
    const ask = <T>(message: Record<string, unknown>): Promise<T> =>
      new Promise((resolve) => {
        const id = nextId++
        pending.set(id, resolve as (page: unknown) => void)
        port.postMessage({ ...message, id })
      })
    const shards: ShardClient = {
      count: data.shards,
      removeApp: async () => ({ removed: 0, more: false }),
      recordsAsOf: (shard, size, after, limit) => ask<SubjectRecord[]>({ type: 'records', shard, size, after, limit }),
      bindingsByIndexAsOf: (shard, size, after, limit) => ask<StoredBinding[]>({ type: 'bindings', shard, size, after, limit }),
    }
    // R2 as the writer sees it: each part leaves the writer's memory once uploaded.
    let uploads = 0
    const objects: ObjectStore = {
      get: async () => null,
      put: async (key, value) => {
        if (key.endsWith('/data')) port.postMessage({ type: 'object', data: typeof value === 'string' ? new TextEncoder().encode(value) : value })
      },
      delete: async () => {},
      startUpload: async () => `upload-${++uploads}`,
      putPart: async (_key, id, part, bytes) => {
        const copy = bytes.slice()
        port.postMessage({ type: 'part', part, data: copy }, [copy.buffer])
        return `${id}/${part}`
      },
      completeUpload: async () => {},
      abortUpload: async () => {},
    }
    const store = new MemoryLogStore()
    const tree = data.tree
    store.transaction(() => {
      for (const a of data.apps) store.putApp(a)
      store.commitTree(0, { size: tree.size, root: tree.root, note: null, edge: tree.edge, partialTiles: [], partialBundle: [] })
      store.setNote(tree.size, 'signed')
    })
    const job = new SnapshotJob({
      store,
      objects,
      shards,
      signer: () => noteSignerFromKey(MEMORY_SIGNER_KEY),
      config: () => ({ origin: 'whodis.localhost/log', snapshotEveryEntries: 1e12, snapshotsKept: 3 }),
      clock: () => Date.now(),
      log: { info() {}, warn() {}, error() {} },
      sequenced: async () => null,
      apps: () => data.apps,
      nextIndex: () => tree.size,
      partBytes: (await import('../src/core/snapshot-job.ts')).SNAPSHOT_PART_BYTES,
      // run() writes the whole file in this call; only a background job asks to be woken.
      later: () => {},
    })
    const info = await job.run()
    sample()
    const cpu = process.cpuUsage(cpu0)
    port.postMessage({ type: 'done', peak, peakV8, limit: getHeapStatistics().heap_size_limit, cpuS: (cpu.user + cpu.system) / 1e6, steps: job.steps, bytes: info?.bytes ?? 0 })
  } catch (err) {
    port.postMessage({ type: 'failed', error: err instanceof Error ? (err.stack ?? err.message) : String(err) })
  } finally {
    clearInterval(timer)
  }
}

if (!isMainThread && workerData?.tree) {
  void writerThread(workerData)
} else if (isMainThread && import.meta.url === `file://${process.argv[1]}`) {
  const { numberFlag } = await import('./args.ts')
  const records = numberFlag(process.argv, 'records', 1_000_000)
  const shards = numberFlag(process.argv, 'shards', PRODUCTION_SHARDS)
  const ds = generateDataset(records, 1)
  const cap = { oldMb: numberFlag(process.argv, 'old-mb', WRITER_OLD_MB), youngMb: numberFlag(process.argv, 'young-mb', WRITER_YOUNG_MB) }
  const figures = await measureSnapshotWriter(ds, shards, (l) => process.stderr.write(`${l}\n`), cap)
  process.stdout.write(`${JSON.stringify(figures, null, 2)}\n`)
}
