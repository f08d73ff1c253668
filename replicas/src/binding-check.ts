/**
 * The snapshot binding check of a bootstrap (see {@link SnapshotBindingCheck}), on a second core
 * when the snapshot is large: a worker thread reads the decoded snapshot's columns from shared
 * memory, receives the log's leaf hashes in batches as the hash tiles arrive, and hashes and
 * compares while the main thread fetches tiles and hashes the tree. Same checks, same verdicts;
 * in the main thread when the snapshot is small or no worker can be started.
 * @module
 */
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads'
import type { SnapshotColumns } from '../../src/protocol/snapshot-columns.ts'
import { MirrorError } from './errors.ts'
import { SnapshotBindingCheck } from './snapshot.ts'

/** What `hashesFromTiles` feeds. */
export interface BindingCheck {
  /** The leaf hashes of log entries `first`, `first + 1`, ... lie in `leaves[0 ..]`, `count` of them (in log order). */
  leaves(first: number, leaves: Uint8Array, count: number): void
  /** Resolves once every binding is checked; rejects with the first mismatch (`bad_snapshot`). */
  done(): Promise<void>
  /** Frees the worker, if any (also after a failure). */
  close(): void
}

/** Bindings below which the check stays in the main thread (a worker costs a few hundred ms to start). */
const WORKER_THRESHOLD = 1_000_000
/** Leaf hashes per message to the worker (1 MiB). */
const BATCH_LEAVES = 32_768

/**
 * A check for `columns` (decoded with `shared: true` for a worker to read them). `worker`:
 * true to use a worker whatever the size (tests), false never; default above a million bindings.
 */
export async function startBindingCheck(columns: SnapshotColumns, options: { worker?: boolean } = {}): Promise<BindingCheck> {
  const wanted = options.worker ?? columns.bindings >= WORKER_THRESHOLD
  if (wanted && columns.subjects.buffer instanceof SharedArrayBuffer) {
    const worker = await startWorker(columns)
    if (worker) return worker
  }
  const check = new SnapshotBindingCheck(columns)
  return {
    leaves: (first, leaves, count) => check.leaves(first, leaves, count),
    done: async () => check.done(),
    close() {},
  }
}

/** Starts the worker and waits for it to be ready; null if it cannot start. */
async function startWorker(columns: SnapshotColumns): Promise<BindingCheck | null> {
  let tsx: string
  try {
    tsx = import.meta.resolve('tsx/esm/api')
  } catch {
    return null
  }
  // A worker cannot be started on a .ts file directly: it loads this module through tsx's API.
  const boot = `import(${JSON.stringify(tsx)}).then(({ tsImport }) => tsImport(${JSON.stringify(import.meta.url)}, ${JSON.stringify(import.meta.url)}))`
  let worker: Worker
  try {
    worker = new Worker(boot, { eval: true, workerData: { columns } })
  } catch {
    return null
  }
  const ready = await new Promise<boolean>((resolve) => {
    const onMessage = (m: { ready?: boolean }) => done(m.ready === true)
    const onFail = () => done(false)
    const done = (ok: boolean) => {
      worker.off('message', onMessage)
      worker.off('error', onFail)
      worker.off('exit', onFail)
      resolve(ok)
    }
    worker.on('message', onMessage)
    worker.on('error', onFail)
    worker.on('exit', onFail)
  })
  if (!ready) {
    await worker.terminate()
    return null
  }
  let batch = new Uint8Array(BATCH_LEAVES * 32)
  let batchFirst = -1
  let batchCount = 0
  // The worker's verdict: a mismatch or an error may come before `done` is asked for.
  type Verdict = { ok?: true; failure?: string; code?: string; error?: string }
  let verdict: Verdict | null = null
  let settle: ((v: Verdict) => void) | null = null
  const decide = (v: Verdict) => {
    verdict ??= v
    settle?.(verdict)
  }
  worker.on('message', (m: Verdict) => decide(m))
  worker.on('error', (err) => decide({ error: String(err) }))
  worker.on('exit', (code) => decide({ error: `the worker exited (${code})` }))
  const send = () => {
    if (batchCount === 0) return
    worker.postMessage({ first: batchFirst, leaves: batch.buffer, count: batchCount }, [batch.buffer])
    batch = new Uint8Array(BATCH_LEAVES * 32)
    batchCount = 0
  }
  return {
    leaves(first, leaves, count) {
      if (verdict) return
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
      if (!verdict) {
        send()
        worker.postMessage({ done: true })
      }
      const v = await new Promise<Verdict>((resolve) => {
        if (verdict) return resolve(verdict)
        settle = resolve
      })
      if (v.failure) throw new MirrorError(v.code === 'bad_snapshot' ? 'bad_snapshot' : 'internal', v.failure)
      if (v.error) throw new MirrorError('internal', `the snapshot binding check failed: ${v.error}`)
    },
    close() {
      void worker.terminate()
    },
  }
}

// ---- the worker ----

if (!isMainThread && parentPort && (workerData as { columns?: SnapshotColumns } | null)?.columns) {
  const port = parentPort
  const check = new SnapshotBindingCheck((workerData as { columns: SnapshotColumns }).columns)
  port.on('message', (m: { first?: number; leaves?: ArrayBuffer; count?: number; done?: boolean }) => {
    try {
      if (m.done) {
        check.done()
        port.postMessage({ ok: true })
      } else check.leaves(m.first!, new Uint8Array(m.leaves!), m.count!)
    } catch (err) {
      const e = err as MirrorError
      port.postMessage({ failure: e.message, code: e.code })
    }
  })
  port.postMessage({ ready: true })
}
