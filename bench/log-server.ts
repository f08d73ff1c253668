/**
 * Serves a {@link BenchLog} over loopback HTTP the way the directory serves its log
 * (`/.well-known/whodis`, `/log/checkpoint`, level-0 hash tiles, entry bundles, the snapshot,
 * the app registrations a mirror checks a snapshot's app table against),
 * from a worker thread, so that the mirror being measured has the main thread to itself and the
 * server's work runs on the other core, as a remote directory's would.
 *
 * Main thread: `const server = await startLogServer(log)`, then `server.setSize(n)` to publish
 * the checkpoint at `n` (one of the log's checkpoints), `server.stop()`.
 * @module
 */
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads'
import { encodeBundle, parseTilePath, TILE_WIDTH } from '../src/protocol/tiles.ts'
import type { BenchLog } from './log.ts'

/** The token the bench server asks for on app-only routes (any bearer token passes). */
export const BENCH_TOKEN = 'bench-token'

/** A running log server. */
export interface LogServer {
  url: string
  /** Publishes the checkpoint at `size`. */
  setSize(size: number): Promise<void>
  /** Requests served so far. */
  requests(): Promise<number>
  stop(): Promise<void>
}

/** Starts the server in a worker thread. */
export async function startLogServer(log: BenchLog, size = log.snapshotSize): Promise<LogServer> {
  // Only what the server reads (the shared buffers are shared, not copied).
  const served = {
    origin: log.origin,
    logKey: log.logKey,
    snapshotSize: log.snapshotSize,
    entryBytes: log.entryBytes,
    offsets: log.offsets,
    leaves: log.leaves,
    checkpoints: log.checkpoints,
    snapshot: { manifest: log.snapshot.manifest, data: log.snapshot.data },
  }
  // A worker cannot be started on a .ts file directly: load it through tsx's API.
  const boot = `import('tsx/esm/api').then(({ tsImport }) => tsImport(${JSON.stringify(import.meta.url)}, ${JSON.stringify(import.meta.url)}))`
  const worker = new Worker(boot, { eval: true, workerData: { log: served, size } })
  const ask = (message: unknown) =>
    new Promise<any>((resolve, reject) => {
      const onMessage = (m: any) => {
        worker.off('error', reject)
        resolve(m)
      }
      worker.once('message', onMessage)
      worker.once('error', reject)
      worker.postMessage(message)
    })
  const { url } = await ask({ op: 'listen' })
  return {
    url,
    setSize: async (n) => {
      await ask({ op: 'size', size: n })
    },
    requests: async () => (await ask({ op: 'requests' })).requests,
    stop: async () => {
      await ask({ op: 'stop' })
      await worker.terminate()
    },
  }
}

if (!isMainThread && parentPort && (workerData as { log?: BenchLog })?.log) {
  const { log, size: initial } = workerData as { log: Omit<BenchLog, 'size'>; size: number }
  let size = initial
  let requests = 0
  const text = (res: import('node:http').ServerResponse, status: number, body: string | Uint8Array, type: string) => {
    res.writeHead(status, { 'Content-Type': type, 'Content-Length': typeof body === 'string' ? Buffer.byteLength(body) : body.length })
    res.end(body)
  }
  const notFound = (res: import('node:http').ServerResponse) =>
    text(res, 404, JSON.stringify({ error: { code: 'not_found', message: 'not found' } }), 'application/json')
  const server = createServer((req, res) => {
    requests++
    const path = (req.url ?? '/').split('?')[0]!
    if (path === '/.well-known/whodis') return text(res, 200, JSON.stringify({ origin: log.origin, logKey: log.logKey }), 'application/json')
    if (path === '/log/checkpoint') return text(res, 200, log.checkpoints[size]!, 'text/plain; charset=utf-8')
    if (path === '/log/snapshot/latest') return text(res, 200, log.snapshot.manifest, 'text/plain; charset=utf-8')
    if (path === `/log/snapshot/${log.snapshotSize}/manifest`) return text(res, 200, log.snapshot.manifest, 'text/plain; charset=utf-8')
    if (path === `/log/snapshot/${log.snapshotSize}/data`) return text(res, 200, log.snapshot.data, 'application/octet-stream')
    const app = /^\/v1\/apps\/([a-z0-9.-]+)$/.exec(path)
    if (app) {
      // An app's registration, as much of it as a mirror reads: its app-register entry and index.
      for (let i = 0; i < size; i++) {
        const entry = log.entryBytes.subarray(log.offsets[i]!, log.offsets[i + 1]!)
        if (entry[1] === 8 && new TextDecoder().decode(entry.subarray(9)) === app[1]) {
          return text(res, 200, JSON.stringify({ app: app[1], index: i, entry: Buffer.from(entry).toString('base64') }), 'application/json')
        }
      }
      return text(res, 404, JSON.stringify({ error: { code: 'app_not_found', message: 'no such app' } }), 'application/json')
    }
    if (path.startsWith('/log/tile/')) {
      const tile = parseTilePath(path.slice('/log/'.length))
      if (!tile) return notFound(res)
      const first = tile.index * TILE_WIDTH
      if (first + tile.width > size) return notFound(res)
      if (tile.kind === 'entries') {
        const entries: Uint8Array[] = []
        for (let i = first; i < first + tile.width; i++) entries.push(log.entryBytes.subarray(log.offsets[i]!, log.offsets[i + 1]!))
        return text(res, 200, encodeBundle(entries), 'application/octet-stream')
      }
      if (tile.level !== 0) return notFound(res) // the mirror reads level 0 only (higher levels: fork checks)
      return text(res, 200, log.leaves.slice(first * 32, (first + tile.width) * 32), 'application/octet-stream')
    }
    return notFound(res)
  })
  server.keepAliveTimeout = 60_000
  parentPort.on('message', (m: { op: string; size?: number }) => {
    if (m.op === 'listen') {
      server.listen(0, '127.0.0.1', () => parentPort!.postMessage({ url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` }))
    } else if (m.op === 'size') {
      if (!log.checkpoints[m.size!]) throw new Error(`no checkpoint at ${m.size}`)
      size = m.size!
      parentPort!.postMessage({ ok: true })
    } else if (m.op === 'requests') {
      parentPort!.postMessage({ requests })
    } else if (m.op === 'stop') {
      server.close()
      server.closeAllConnections()
      parentPort!.postMessage({ ok: true })
    }
  })
}
