/**
 * The mirror's local HTTP server (`whodis-mirror serve`):
 * - `POST /v1/lookups {phones, proof?}` and `GET /v1/numbers/:phone[?proof=1]`: exactly the
 *   directory's JSON (built by the same function, src/protocol/lookup.ts), status and error
 *   codes (400 `invalid_phone` / `invalid_request`, 404 `number_not_found`, 413, 415), from the
 *   applied state;
 * - `GET /log/checkpoint`: the held signed checkpoint, for peer mirrors to cross-check;
 * - `GET /healthz`: tree sizes and the age of the last verified checkpoint (503 unless healthy);
 * - `GET /metrics`: Prometheus text;
 * - with a witness: `POST /add-checkpoint` and `GET /<sha256(origin)>/checkpoint` (witness-server.ts).
 * It binds to loopback by default and asks for no token: it serves the app that runs it.
 * @module
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { lookupsBody, LookupsRequestError, NUMBER_NOT_FOUND, parseLookupsRequest } from '../../src/protocol/lookup.ts'
import { InvalidPhoneError, normalizePhone } from '../../src/protocol/phone.ts'
import { asMirrorError, MirrorError } from './errors.ts'
import { Metrics } from './metrics.ts'
import type { Mirror } from './mirror.ts'
import type { Logger } from './logger.ts'
import type { Witness } from './witness.ts'
import { listen } from './listen.ts'
import { handleWitnessRequest } from './witness-server.ts'

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
  /** A witness to serve too: POST /add-checkpoint and GET /<sha256(origin)>/checkpoint. */
  witness?: Witness
  /** Where the witness logs its answers (default: nowhere). */
  logger?: Logger
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
    const fail = (err: unknown) => {
      const e = asMirrorError(err)
      if (!res.headersSent) json(res, 500, { error: { code: 'internal_error', message: e.message } })
      else res.destroy()
    }
    try {
      const url = new URL(req.url ?? '/', 'http://mirror.invalid')
      if (req.method === 'POST' && url.pathname === '/v1/lookups') return void lookups(req, res).catch(fail)
      if (options.witness && handleWitnessRequest(options.witness, req, res, url.pathname, options.logger)) return
      route(req, res, url)
    } catch (err) {
      fail(err)
    }
  })

  function route(req: IncomingMessage, res: ServerResponse, url: URL): void {
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

  async function lookups(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const type = req.headers['content-type']?.split(';')[0]?.trim().toLowerCase()
    if (type !== 'application/json') {
      req.resume()
      metrics.lookup('invalid_request', false)
      return json(res, 415, { error: { code: 'unsupported_media_type', message: 'send the request body as Content-Type: application/json' } })
    }
    const text = await readBody(req, MAX_LOOKUPS_BODY_BYTES)
    if (text === null) {
      metrics.lookup('invalid_request', false)
      return json(res, 413, { error: { code: 'body_too_large', message: `request body is larger than ${MAX_LOOKUPS_BODY_BYTES} bytes` } })
    }
    let body: unknown
    try {
      body = JSON.parse(text)
    } catch {
      metrics.lookup('invalid_request', false)
      return json(res, 400, { error: { code: 'malformed_json', message: 'request body is not valid JSON' } })
    }
    let request
    try {
      request = parseLookupsRequest(body, (phone) => normalizePhone(phone).e164)
    } catch (err) {
      if (!(err instanceof LookupsRequestError)) throw err
      metrics.lookup(err.code, false)
      return json(res, 400, { error: { code: err.code, message: err.message } })
    }
    try {
      const results = mirror.lookupMany(request.phones, request.proof)
      for (const r of results) metrics.lookup(r.apps.length > 0 ? 'found' : 'not_found', request.proof)
      return json(res, 200, lookupsBody(results))
    } catch (err) {
      const e = asMirrorError(err)
      metrics.lookup('error', request.proof)
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
      ...(mirror.witnessPolicy ? { witnesses: witnessReport(mirror, now()) } : {}),
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

/** The witness policy and who cosigned the held checkpoint, with each cosignature's age. */
function witnessReport(mirror: Mirror, nowMs: number) {
  const policy = mirror.witnessPolicy!
  return {
    threshold: policy.threshold,
    trusted: policy.keys.length,
    cosigners: (mirror.checkpoint?.cosigners ?? []).map((c) => ({ name: c.key.name, ageSeconds: Math.max(0, Math.round(nowMs / 1000 - c.timestamp)) })),
  }
}

/** Largest body of `POST /v1/lookups`, as the directory takes it. */
const MAX_LOOKUPS_BODY_BYTES = 80 * 1024

/** The request body as text, or null when it is longer than `max` bytes. */
async function readBody(req: IncomingMessage, max: number): Promise<string | null> {
  const chunks: Buffer[] = []
  let length = 0
  for await (const chunk of req) {
    length += (chunk as Buffer).length
    if (length > max) {
      req.resume()
      return null
    }
    chunks.push(chunk as Buffer)
  }
  return Buffer.concat(chunks).toString('utf8')
}

function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'Content-Type': 'application/json' })
  res.end(JSON.stringify(body))
}

function notFound(res: ServerResponse, method: string, path: string): void {
  json(res, 404, { error: { code: 'not_found', message: `no route ${method} ${path}` } })
}
