/**
 * The mirror's local HTTP server (`whodis-mirror serve`):
 * - `GET /v1/numbers/:phone[?proof=1]`: exactly the directory's JSON, status and error bodies
 *   (400 `invalid_phone` / `invalid_request`, 404 `number_not_found`), from the applied state;
 * - `GET /log/checkpoint`: the held signed checkpoint, for peer mirrors to cross-check;
 * - `GET /healthz`: tree sizes and the age of the last verified checkpoint (503 unless healthy);
 * - `GET /metrics`: Prometheus text.
 * It binds to loopback by default and asks for no token: it serves the app that runs it.
 * @module
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { NUMBER_NOT_FOUND } from '../../src/protocol/lookup.ts'
import { InvalidPhoneError } from '../../src/protocol/phone.ts'
import { asMirrorError, MirrorError } from './errors.ts'
import { Metrics } from './metrics.ts'
import type { Mirror } from './mirror.ts'

/** Options of {@link startServer}. */
export interface ServeOptions {
  /** Port (0 picks a free one). */
  port: number
  /** Interface to bind (default 127.0.0.1). */
  host?: string
  /** Shared counters (default: new ones). */
  metrics?: Metrics
  /** A checkpoint verified longer ago than this is stale (default 300000 ms). */
  staleAfterMs?: number
  /** Why syncing stopped for good (e.g. a fork), if it did; reported by /healthz. */
  halted?: () => string | null
  /** The clock (default Date.now). */
  now?: () => number
}

/** A running server. */
export interface MirrorServer {
  url: string
  port: number
  metrics: Metrics
  close(): Promise<void>
}

/** Starts serving `mirror`. */
export async function startServer(mirror: Mirror, options: ServeOptions): Promise<MirrorServer> {
  const metrics = options.metrics ?? new Metrics()
  const now = options.now ?? Date.now
  const staleAfter = options.staleAfterMs ?? 300_000
  const server: Server = createServer((req, res) => {
    try {
      route(req, res)
    } catch (err) {
      const e = asMirrorError(err)
      json(res, 500, { error: { code: 'internal_error', message: e.message } })
    }
  })

  function route(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://mirror.invalid')
    const path = url.pathname
    const method = req.method ?? 'GET'
    if (method !== 'GET' && method !== 'HEAD') return notFound(res, method, path)
    if (path.startsWith('/v1/numbers/') && path.length > '/v1/numbers/'.length && !path.slice('/v1/numbers/'.length).includes('/')) {
      return lookup(res, path.slice('/v1/numbers/'.length), url.searchParams)
    }
    if (path === '/log/checkpoint') {
      const held = mirror.checkpoint
      if (!held) return json(res, 503, { error: { code: 'not_synced', message: 'this mirror holds no verified checkpoint yet' } })
      res.writeHead(200, { 'Content-Type': 'text/plain; charset=utf-8', 'Cache-Control': 'public, max-age=2' })
      return void res.end(held.note)
    }
    if (path === '/healthz') return health(res)
    if (path === '/metrics') {
      res.writeHead(200, { 'Content-Type': 'text/plain; version=0.0.4; charset=utf-8' })
      return void res.end(metrics.render(mirror.status, mirror.records, now()))
    }
    return notFound(res, method, path)
  }

  function lookup(res: ServerResponse, rawPhone: string, query: URLSearchParams): void {
    const proofParam = query.get('proof')
    if (proofParam !== null && proofParam !== '0' && proofParam !== '1') {
      metrics.lookup('invalid_request', false)
      return json(res, 400, { error: { code: 'invalid_request', message: 'proof: Invalid option: expected one of "0"|"1"' } })
    }
    const proof = proofParam === '1'
    let phone = rawPhone
    try {
      phone = decodeURIComponent(rawPhone)
    } catch {
      // Left as sent, like the directory: it then fails phone validation.
    }
    try {
      const body = proof ? mirror.lookupWithProof(phone) : mirror.lookup(phone)
      metrics.lookup(body ? 'found' : 'not_found', proof)
      if (!body) return json(res, 404, NUMBER_NOT_FOUND)
      return json(res, 200, body)
    } catch (err) {
      if (err instanceof InvalidPhoneError) {
        metrics.lookup('invalid_phone', proof)
        return json(res, 400, { error: { code: 'invalid_phone', message: err.message } })
      }
      const e = asMirrorError(err)
      metrics.lookup('error', proof)
      return json(res, e.code === 'internal' ? 500 : 503, { error: { code: e.code, message: e.message } })
    }
  }

  function health(res: ServerResponse): void {
    const s = mirror.status
    const ageSeconds = s.lastVerifiedAt === null ? null : Math.round((now() - s.lastVerifiedAt) / 1000)
    const halted = options.halted?.() ?? null
    let status: string
    if (halted) status = 'halted'
    else if (s.checkpointSize === 0 && s.lastVerifiedAt === null) status = 'starting'
    else if (s.treeSize < s.checkpointSize) status = 'catching_up'
    else if (ageSeconds === null || ageSeconds * 1000 > staleAfter) status = 'stale'
    else status = 'ok'
    json(res, status === 'ok' ? 200 : 503, {
      status,
      treeSize: s.treeSize,
      checkpointSize: s.checkpointSize,
      directorySize: s.directorySize,
      lastVerifiedAt: s.lastVerifiedAt === null ? null : new Date(s.lastVerifiedAt).toISOString(),
      checkpointAgeSeconds: ageSeconds,
      records: mirror.records,
      ...(halted ? { halted } : {}),
      ...(s.lastError ? { lastError: { ...s.lastError, at: new Date(s.lastError.at).toISOString() } } : {}),
    })
  }

  await listen(server, options.port, options.host ?? '127.0.0.1')
  const address = server.address() as AddressInfo
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address
  return {
    url: `http://${host}:${address.port}`,
    port: address.port,
    metrics,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve())
        server.closeAllConnections()
      }),
  }
}

/** Why a listen failed, and which setting to change, by error code. */
const LISTEN_FAILURES: Readonly<Record<string, [string, 'port' | 'host']>> = {
  EADDRINUSE: ['the port is in use', 'port'],
  EACCES: ['permission denied (ports below 1024 need privileges)', 'port'],
  ERR_SOCKET_BAD_PORT: ['a port is a number from 0 to 65535', 'port'],
  EADDRNOTAVAIL: ['no interface of this machine has that address', 'host'],
  ENOTFOUND: ['the host name does not resolve', 'host'],
  EAI_AGAIN: ['the host name does not resolve', 'host'],
}

/**
 * listen: binds `server`, or throws a `usage` error saying why it cannot (`details.setting`
 * names what to change: `port` or `host`). A port in use is a configuration mistake, not a bug.
 */
async function listen(server: Server, port: number, host: string): Promise<void> {
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(port, host, () => {
        server.off('error', reject)
        resolve()
      })
    })
  } catch (err) {
    const [why, setting] = LISTEN_FAILURES[(err as NodeJS.ErrnoException).code ?? ''] ?? [(err as Error).message, 'host']
    throw new MirrorError('usage', `cannot listen on ${host.includes(':') ? `[${host}]` : host}:${port}: ${why}`, { host, port, setting }, { cause: err })
  }
}

function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'Content-Type': 'application/json' })
  res.end(JSON.stringify(body))
}

function notFound(res: ServerResponse, method: string, path: string): void {
  json(res, 404, { error: { code: 'not_found', message: `no route ${method} ${path}` } })
}
