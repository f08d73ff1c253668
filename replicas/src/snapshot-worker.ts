/**
 * Preparing a snapshot for a bootstrap: check the file against its signed manifest and decode it
 * (snapshot.ts `verifySnapshotData`), build the store's index from it, and check every binding
 * against the log's leaf hashes as the hash tiles arrive (`SnapshotBindingCheck`).
 *
 * A large snapshot is prepared in a worker thread, on the machine's second core, while the
 * main thread fetches and hashes the tiles: the file goes to the worker, the index comes back
 * (its typed arrays transferred, not copied), and the leaf hashes are sent over in batches.
 * Same checks, same verdicts; a snapshot that does not check out is still `bad_snapshot`, and
 * is reported before anything the tiles say (see sync.ts). A small snapshot is prepared in the
 * main thread, before the tiles, as it always was.
 * @module
 */
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads'
import { RightEdge } from '../../src/protocol/merkle.ts'
import type { NoteVerifierKey } from '../../src/protocol/note-keys.ts'
import type { SnapshotApp, SnapshotColumns } from '../../src/protocol/snapshot.ts'
import { MirrorError } from './errors.ts'
import { SnapshotBindingCheck, verifySnapshotData, type BindingCheck, type SnapshotFile } from './snapshot.ts'
import { type BuildOrder, IndexBuilder, type IndexParts, StoreError, SubjectIndex } from './store/index.ts'
import { parseLogKey } from './trust.ts'

/** What a bootstrap needs of a snapshot. */
export interface DecodedSnapshot {
  treeSize: number
  records: number
  apps: SnapshotApp[]
  edge: RightEdge
}

/** A snapshot being prepared; see the module comment. */
export interface PreparedSnapshot {
  /** Resolves once the file checked out against its manifest and decoded; rejects with `bad_snapshot`. */
  decoded: Promise<DecodedSnapshot>
  check: BindingCheck
  /** The snapshot's records as a store index, with its build order (rejects with `bad_snapshot`). */
  index(): Promise<{ index: SubjectIndex; order: BuildOrder }>
  /** Ends the worker, if any. */
  close(): void
}

/** Records from which a snapshot is prepared in a worker (it costs a few hundred milliseconds to start one). */
const WORKER_RECORDS = 500_000
/** Leaf hashes per message to the worker (1 MiB). */
const BATCH_LEAVES = 32_768

/**
 * Prepares `file` (its manifest verified with `key`, whose text is `keyText`). `worker`: true to
 * use a worker whatever the size (tests), false never; default from 500,000 records. A small
 * snapshot that does not check out throws here (`bad_snapshot`); a large one rejects `decoded`.
 */
export async function prepareSnapshot(
  file: SnapshotFile,
  key: NoteVerifierKey,
  keyText: string,
  maxUnzippedBytes: number,
  options: { worker?: boolean } = {},
): Promise<PreparedSnapshot> {
  if (options.worker ?? file.manifest.records >= WORKER_RECORDS) {
    const prepared = await startWorker(file, keyText, maxUnzippedBytes)
    if (prepared) return prepared
  }
  const { columns, edge } = await verifySnapshotData(file.manifest, file.data, key, maxUnzippedBytes)
  const check = new SnapshotBindingCheck(columns)
  return {
    decoded: Promise.resolve({ treeSize: columns.treeSize, records: columns.records, apps: columns.apps, edge }),
    check: { leaves: (first, leaves, count) => check.leaves(first, leaves, count), done: async () => check.done() },
    index: async () => snapshotIndex(columns),
    close() {},
  }
}

/** The snapshot's records as a store index (no object per record); a record the store refuses is `bad_snapshot`. */
export function snapshotIndex(c: SnapshotColumns): { index: SubjectIndex; order: BuildOrder } {
  const builder = new IndexBuilder(c.records, c.bindings + (c.bindings >>> 4))
  let at = 0
  try {
    for (let r = 0; r < c.records; r++) {
      const count = c.counts[r]!
      builder.addColumns(c.subjects[r]!, count, at, c.app, c.ttlDays, c.verifiedAt, c.index, c.keys)
      at += count
    }
  } catch (err) {
    if (err instanceof StoreError) throw new MirrorError('bad_snapshot', `snapshot at tree size ${c.treeSize}: ${err.message}`)
    throw err
  }
  return { index: builder.finish(), order: { subjects: c.subjects, counts: c.counts } }
}

// ---- the worker, as the main thread sees it ----

type FromWorker =
  | { ready: true }
  | { decoded: { treeSize: number; records: number; apps: SnapshotApp[]; rightEdge: Uint8Array[] } }
  | { index: { parts: IndexParts; subjects: Float64Array; counts: Uint32Array } }
  | { checked: true }
  | { refused: { code: string; message: string; details?: Record<string, unknown> }; stage: 'decoded' | 'index' | 'checked' }
  | { error: string }

/** A promise with its settlers. */
function deferred<T>() {
  let resolve!: (value: T) => void
  let reject!: (err: unknown) => void
  const promise = new Promise<T>((res, rej) => {
    resolve = res
    reject = rej
  })
  promise.catch(() => {}) // Awaited later (or never, after another failure).
  return { promise, resolve, reject }
}

/** Starts the worker on `file`; null if no worker can be started here. */
async function startWorker(file: SnapshotFile, keyText: string, maxUnzippedBytes: number): Promise<PreparedSnapshot | null> {
  let tsx: string
  try {
    tsx = import.meta.resolve('tsx/esm/api')
  } catch {
    return null
  }
  // The file is moved to the worker, not copied (a copy first if it shares its buffer).
  const data = file.data.byteOffset === 0 && file.data.byteLength === file.data.buffer.byteLength ? file.data : file.data.slice()
  // A worker cannot be started on a .ts file directly: it loads this module through tsx's API.
  const boot = `import(${JSON.stringify(tsx)}).then(({ tsImport }) => tsImport(${JSON.stringify(import.meta.url)}, ${JSON.stringify(import.meta.url)}))`
  let worker: Worker
  try {
    worker = new Worker(boot, {
      eval: true,
      workerData: { snapshot: { manifest: file.manifest, data, keyText, maxUnzippedBytes } },
      transferList: [data.buffer as ArrayBuffer],
    })
  } catch {
    return null
  }
  const ready = deferred<void>()
  const decoded = deferred<DecodedSnapshot>()
  const indexed = deferred<{ index: SubjectIndex; order: BuildOrder }>()
  const checked = deferred<void>()
  const stages = { decoded, index: indexed, checked }
  const failAll = (err: unknown) => {
    ready.reject(err)
    for (const d of Object.values(stages)) d.reject(err)
  }
  worker.on('message', (m: FromWorker) => {
    if ('ready' in m) ready.resolve()
    else if ('decoded' in m) decoded.resolve({ ...m.decoded, edge: new RightEdge(m.decoded.treeSize, m.decoded.rightEdge) })
    else if ('index' in m) indexed.resolve({ index: SubjectIndex.fromParts(m.index.parts), order: { subjects: m.index.subjects, counts: m.index.counts } })
    else if ('checked' in m) checked.resolve()
    else if ('refused' in m) {
      const err = new MirrorError(m.refused.code === 'bad_snapshot' ? 'bad_snapshot' : 'internal', m.refused.message, m.refused.details)
      // A refusal at one stage fails it and every later one.
      const order = ['decoded', 'index', 'checked'] as const
      for (const stage of order.slice(order.indexOf(m.stage))) stages[stage].reject(err)
    } else failAll(new MirrorError('internal', `preparing the snapshot failed: ${m.error}`))
  })
  worker.on('error', (err) => failAll(new MirrorError('internal', `preparing the snapshot failed: ${String(err)}`)))
  worker.on('exit', (code) => failAll(new MirrorError('internal', `the snapshot worker exited (${code})`)))
  try {
    await ready.promise
  } catch {
    await worker.terminate()
    return null
  }
  let batch = new Uint8Array(BATCH_LEAVES * 32)
  let batchFirst = -1
  let batchCount = 0
  const send = () => {
    if (batchCount === 0) return
    worker.postMessage({ first: batchFirst, leaves: batch.buffer, count: batchCount }, [batch.buffer])
    batch = new Uint8Array(BATCH_LEAVES * 32)
    batchCount = 0
  }
  return {
    decoded: decoded.promise,
    check: {
      leaves(first, leaves, count) {
        if (batchCount > 0 && (batchFirst + batchCount !== first || batchCount + count > BATCH_LEAVES)) send()
        if (count > BATCH_LEAVES) {
          const copy = leaves.slice(0, count * 32)
          worker.postMessage({ first, leaves: copy.buffer, count }, [copy.buffer])
          return
        }
        if (batchCount === 0) batchFirst = first
        batch.set(leaves.subarray(0, count * 32), batchCount * 32)
        batchCount += count
      },
      async done() {
        send()
        worker.postMessage({ done: true })
        await checked.promise
      },
    },
    index: () => indexed.promise,
    close() {
      worker.removeAllListeners('exit')
      void worker.terminate()
    },
  }
}

// ---- the worker itself ----

interface WorkerInput {
  manifest: SnapshotFile['manifest']
  data: Uint8Array
  keyText: string
  maxUnzippedBytes: number
}

if (!isMainThread && parentPort && (workerData as { snapshot?: WorkerInput } | null)?.snapshot) {
  const port = parentPort
  const input = (workerData as { snapshot: WorkerInput }).snapshot
  const refuse = (err: unknown, stage: 'decoded' | 'index' | 'checked') => {
    if (err instanceof MirrorError) port.postMessage({ refused: { code: err.code, message: err.message, details: err.details }, stage })
    else port.postMessage({ error: err instanceof Error ? `${err.message}\n${err.stack}` : String(err) })
  }
  // Leaf batches that arrive while the snapshot is decoded wait here.
  const queue: { first: number; leaves: ArrayBuffer; count: number }[] = []
  let check: SnapshotBindingCheck | null = null
  let dead = false
  let doneAsked = false
  const finish = () => {
    try {
      check!.done()
      port.postMessage({ checked: true })
    } catch (err) {
      refuse(err, 'checked')
    }
  }
  port.on('message', (m: { first?: number; leaves?: ArrayBuffer; count?: number; done?: boolean }) => {
    if (dead) return
    if (m.done) {
      doneAsked = true
      if (check) finish()
      return
    }
    if (!check) return void queue.push(m as { first: number; leaves: ArrayBuffer; count: number })
    try {
      check.leaves(m.first!, new Uint8Array(m.leaves!), m.count!)
    } catch (err) {
      dead = true
      refuse(err, 'checked')
    }
  })
  port.postMessage({ ready: true })
  void (async () => {
    let columns: SnapshotColumns
    try {
      const key = parseLogKey(input.keyText, 'the pinned key')
      columns = (await verifySnapshotData(input.manifest, input.data, key, input.maxUnzippedBytes)).columns
    } catch (err) {
      dead = true
      return refuse(err, 'decoded')
    }
    port.postMessage({ decoded: { treeSize: columns.treeSize, records: columns.records, apps: columns.apps, rightEdge: columns.rightEdge } })
    // The check gathers what it needs first: the index then takes (and moves away) the columns.
    check = new SnapshotBindingCheck(columns)
    try {
      const { index, order } = snapshotIndex(columns)
      const parts = index.parts()
      port.postMessage({ index: { parts, subjects: order.subjects, counts: order.counts } }, [parts.slots.buffer as ArrayBuffer, parts.bind.buffer as ArrayBuffer])
    } catch (err) {
      dead = true
      return refuse(err, 'index')
    }
    try {
      for (const m of queue.splice(0)) check.leaves(m.first, new Uint8Array(m.leaves), m.count)
    } catch (err) {
      dead = true
      return refuse(err, 'checked')
    }
    if (doneAsked) finish()
  })()
}
