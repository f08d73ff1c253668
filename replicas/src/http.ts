/**
 * GET with bounded retries: network errors, timeouts, 408, 429 and 5xx are retried with
 * exponential backoff and jitter, then reported as `unavailable`; nothing fetched is trusted
 * here (callers verify every byte). Bodies are read with a size cap, so a hostile server cannot
 * make the mirror buffer without bound.
 * @module
 */
import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from 'node:http'
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https'
import { createBrotliDecompress, createGunzip, createInflate } from 'node:zlib'
import { readAll } from '../../src/protocol/bytes.ts'
import { MirrorError } from './errors.ts'

/** How requests are retried and bounded. */
export interface RetryPolicy {
  /** Retries after the first attempt (default 5). */
  retries: number
  /** First backoff delay, doubled on each retry up to `maxDelayMs` (default 250). */
  baseDelayMs: number
  /** Longest single backoff delay (default 8000). */
  maxDelayMs: number
  /** Per-attempt timeout, headers and body (default 30000). */
  timeoutMs: number
}

/** The defaults of {@link RetryPolicy}. */
export const DEFAULT_RETRY: RetryPolicy = { retries: 5, baseDelayMs: 250, maxDelayMs: 8000, timeoutMs: 30_000 }

/** Options of an {@link HttpClient}. */
export interface HttpOptions {
  /** Bearer token sent where a request asks for it. */
  token?: string
  retry?: Partial<RetryPolicy>
  /**
   * The fetch implementation. Default: a node:http(s) client with keep-alive connections, the
   * same semantics (status handling, size caps, timeouts, redirects) at about half the CPU per
   * request of the global fetch, which matters when a bootstrap reads tens of thousands of tiles.
   */
  fetch?: typeof fetch
  /** Called before each retry, for logging. */
  onRetry?: (info: { url: string; attempt: number; delayMs: number; reason: string }) => void
}

/** One GET. */
export interface GetRequest {
  /** Send the bearer token. */
  auth?: boolean
  /** Largest body accepted; a larger one is `malformed`. */
  maxBytes: number
  /** Answer null on 404 instead of failing. */
  allow404?: boolean
}

/**
 * checkBaseUrl: `text` as a base URL (http or https, a host, no credentials, query or fragment;
 * no trailing slash), or a `usage` error naming `where`. Without it a scheme-less
 * `127.0.0.1:8787` (a URL of scheme `127.0.0.1:`) would be retried as a network failure.
 */
export function checkBaseUrl(text: string, where = 'URL'): string {
  const fail = (why: string) => new MirrorError('usage', `${where} ${JSON.stringify(text)} ${why}`)
  const url = URL.parse(text)
  if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:')) {
    if (!text.includes('://') && URL.parse(`http://${text}`)?.hostname) throw fail(`has no scheme: write http://${text} (or https://)`)
    throw fail('is not an http or https URL')
  }
  if (!url.hostname) throw fail('has no host')
  if (url.username || url.password) throw fail('carries credentials: pass the app token with --token (or WHODIS_TOKEN)')
  if (url.search || url.hash || /[?#]/.test(text)) throw fail('has a query or fragment: give the base URL only')
  return url.href.replace(/\/+$/, '')
}

/** A minimal GET client for one base URL. */
export class HttpClient {
  readonly base: string
  readonly policy: RetryPolicy
  readonly #token: string | undefined
  readonly #fetch: typeof fetch | null
  readonly #onRetry: HttpOptions['onRetry']

  /** Throws `usage` unless `base` is an http(s) base URL ({@link checkBaseUrl}). */
  constructor(base: string, options: HttpOptions = {}) {
    this.base = checkBaseUrl(base)
    this.policy = { ...DEFAULT_RETRY, ...options.retry }
    this.#token = options.token
    this.#fetch = options.fetch ?? null
    this.#onRetry = options.onRetry
  }

  /** The body of GET `path` (relative to the base), or null for an allowed 404. */
  async get(path: string, req: GetRequest): Promise<Uint8Array | null> {
    const url = `${this.base}${path}`
    let lastReason = ''
    for (let attempt = 0; ; attempt++) {
      let retryAfterMs: number | undefined
      try {
        const result = await this.#once(url, req)
        if (result.kind === 'ok') return result.body
        if (result.kind === 'missing') return null
        lastReason = result.reason
        retryAfterMs = result.retryAfterMs
      } catch (err) {
        if (err instanceof MirrorError) throw err
        lastReason = describeNetworkError(err)
      }
      if (attempt >= this.policy.retries) {
        throw new MirrorError('unavailable', `GET ${url} failed after ${attempt + 1} attempts: ${lastReason}`, { url })
      }
      const backoff = Math.min(this.policy.maxDelayMs, this.policy.baseDelayMs * 2 ** attempt)
      const delayMs = Math.min(this.policy.maxDelayMs, Math.max(retryAfterMs ?? 0, backoff * (0.75 + Math.random() * 0.5)))
      this.#onRetry?.({ url, attempt: attempt + 1, delayMs: Math.round(delayMs), reason: lastReason })
      await new Promise((resolve) => setTimeout(resolve, delayMs))
    }
  }

  /** GET `path` as UTF-8 text (strict: invalid UTF-8 is `malformed`). */
  async getText(path: string, req: GetRequest): Promise<string | null> {
    const body = await this.get(path, req)
    if (body === null) return null
    try {
      return new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(body)
    } catch {
      throw new MirrorError('malformed', `GET ${this.base}${path}: the response is not valid UTF-8`)
    }
  }

  async #once(
    url: string,
    req: GetRequest,
  ): Promise<{ kind: 'ok'; body: Uint8Array } | { kind: 'missing' } | { kind: 'retry'; reason: string; retryAfterMs?: number }> {
    // Entry bundles come gzip'd when asked (C2SP tlog-tiles: clients SHOULD accept gzip and identity).
    const headers: Record<string, string> = { 'Accept-Encoding': 'gzip, identity' }
    if (req.auth) {
      if (!this.#token) throw new MirrorError('usage', `GET ${url} needs an app token (--token or WHODIS_TOKEN)`)
      headers.Authorization = `Bearer ${this.#token}`
    }
    if (!this.#fetch) return nodeGet(url, headers, req, this.policy.timeoutMs)
    const signal = AbortSignal.timeout(this.policy.timeoutMs)
    const res = await this.#fetch(url, { headers, signal, redirect: 'follow' })
    if (res.status === 404 && req.allow404) {
      await readExcerpt(res)
      return { kind: 'missing' }
    }
    if (res.status === 408 || res.status === 429 || res.status >= 500) {
      const excerpt = await readExcerpt(res)
      return retryAnswer(res.status, excerpt, res.headers.get('Retry-After'))
    }
    if (res.status !== 200) {
      const excerpt = await readExcerpt(res)
      throw new MirrorError('http', `GET ${url} answered HTTP ${res.status}${excerpt ? `: ${excerpt}` : ''}`, { url, status: res.status })
    }
    const declared = Number(res.headers.get('Content-Length'))
    if (Number.isFinite(declared) && declared > req.maxBytes) {
      await res.body?.cancel().catch(() => {})
      throw tooLarge(url, declared, req.maxBytes)
    }
    return { kind: 'ok', body: await readCapped(res, req.maxBytes, url) }
  }
}

type Answer = { kind: 'ok'; body: Uint8Array } | { kind: 'missing' } | { kind: 'retry'; reason: string; retryAfterMs?: number }

function retryAnswer(status: number, excerpt: string, retryAfterHeader: string | null | undefined): Answer {
  const retryAfter = Number(retryAfterHeader)
  return {
    kind: 'retry',
    reason: `HTTP ${status}${excerpt ? `: ${excerpt}` : ''}`,
    ...(Number.isFinite(retryAfter) && retryAfter > 0 ? { retryAfterMs: retryAfter * 1000 } : {}),
  }
}

function tooLarge(url: string, declared: number, maxBytes: number): MirrorError {
  return new MirrorError('malformed', `GET ${url}: response of ${declared} bytes exceeds the ${maxBytes}-byte limit`, { url })
}

// Keep-alive connections shared by every client; idle sockets do not keep the process alive.
const HTTP_AGENT = new HttpAgent({ keepAlive: true, maxSockets: 16 })
const HTTPS_AGENT = new HttpsAgent({ keepAlive: true, maxSockets: 16 })
const MAX_REDIRECTS = 10

/** A network failure of the node:http client (retried like a fetch TypeError). */
class NetworkError extends Error {
  override readonly name: string
  constructor(message: string, name = 'NetworkError', options?: { cause?: unknown }) {
    super(message, options)
    this.name = name
  }
}

/** One GET with node:http(s), as {@link HttpClient.get}'s attempt needs it (see the fetch path above). */
async function nodeGet(url: string, headers: Record<string, string>, req: GetRequest, timeoutMs: number): Promise<Answer> {
  const deadline = Date.now() + timeoutMs
  let target = new URL(url)
  const origin = target.origin
  for (let redirects = 0; ; redirects++) {
    const sameOrigin = target.origin === origin
    const res = await send(target, sameOrigin ? headers : {}, deadline)
    const status = res.statusCode ?? 0
    const location = res.headers.location
    if (status >= 300 && status < 400 && status !== 304 && location) {
      res.resume()
      if (redirects >= MAX_REDIRECTS) throw new NetworkError(`GET ${url}: too many redirects`)
      target = new URL(location, target)
      continue
    }
    if (status === 404 && req.allow404) {
      await readBody(res, 4096, deadline).catch(() => {})
      return { kind: 'missing' }
    }
    if (status === 408 || status === 429 || status >= 500) {
      return retryAnswer(status, await excerptOf(res, deadline), headerValue(res.headers['retry-after']))
    }
    if (status !== 200) {
      const excerpt = await excerptOf(res, deadline)
      throw new MirrorError('http', `GET ${url} answered HTTP ${status}${excerpt ? `: ${excerpt}` : ''}`, { url, status })
    }
    const declared = Number(headerValue(res.headers['content-length']) ?? NaN)
    if (Number.isFinite(declared) && declared > req.maxBytes) {
      res.destroy()
      throw tooLarge(url, declared, req.maxBytes)
    }
    const body = await readBody(res, req.maxBytes, deadline)
    if (body === null) throw new MirrorError('malformed', `GET ${url}: response exceeds the ${req.maxBytes}-byte limit`, { url })
    return { kind: 'ok', body }
  }
}

function headerValue(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v
}

/** Sends a GET and resolves with the response head; network errors and the deadline reject. */
function send(target: URL, headers: Record<string, string>, deadline: number): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    const https = target.protocol === 'https:'
    if (!https && target.protocol !== 'http:') return reject(new NetworkError(`unsupported protocol ${target.protocol}`))
    const request = (https ? httpsRequest : httpRequest)(target, { method: 'GET', headers, agent: https ? HTTPS_AGENT : HTTP_AGENT })
    const timer = setTimeout(() => request.destroy(new NetworkError('timed out', 'TimeoutError')), Math.max(0, deadline - Date.now()))
    request.once('response', (res) => {
      clearTimeout(timer)
      resolve(res)
    })
    request.once('error', (err) => {
      clearTimeout(timer)
      reject(err)
    })
    request.end()
  })
}

/** The decoded body, or null past `maxBytes`; a cut connection or the deadline rejects. */
function readBody(res: IncomingMessage, maxBytes: number, deadline: number): Promise<Uint8Array | null> {
  return new Promise((resolve, reject) => {
    const encoding = headerValue(res.headers['content-encoding'])?.trim().toLowerCase()
    const decoder =
      encoding === 'gzip' || encoding === 'x-gzip' ? createGunzip() : encoding === 'deflate' ? createInflate() : encoding === 'br' ? createBrotliDecompress() : null
    const stream = decoder ? res.pipe(decoder) : res
    const chunks: Buffer[] = []
    let total = 0
    let settled = false
    const finish = (err: Error | null, value?: Uint8Array | null) => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      if (err) {
        res.destroy()
        decoder?.destroy()
        reject(err)
      } else resolve(value!)
    }
    const timer = setTimeout(() => finish(new NetworkError('timed out', 'TimeoutError')), Math.max(0, deadline - Date.now()))
    stream.on('data', (chunk: Buffer) => {
      total += chunk.length
      if (total > maxBytes) {
        res.destroy()
        decoder?.destroy()
        return finish(null, null)
      }
      chunks.push(chunk)
    })
    stream.once('end', () => {
      if (!res.complete) return finish(new NetworkError('the connection closed before the whole body arrived'))
      finish(null, chunks.length === 1 ? new Uint8Array(chunks[0]!.buffer, chunks[0]!.byteOffset, chunks[0]!.length) : Buffer.concat(chunks, total))
    })
    stream.once('error', (err) => finish(err))
    res.once('aborted', () => finish(new NetworkError('the connection closed before the whole body arrived')))
    res.once('error', (err) => finish(err))
  })
}

async function excerptOf(res: IncomingMessage, deadline: number): Promise<string> {
  try {
    const body = await readBody(res, 64 * 1024, deadline)
    return body ? new TextDecoder().decode(body).replace(/\s+/g, ' ').trim().slice(0, 200) : ''
  } catch {
    return ''
  }
}

/** Reads a body, failing as `malformed` past `maxBytes`. Stream errors propagate (and are retried). */
async function readCapped(res: Response, maxBytes: number, url: string): Promise<Uint8Array> {
  if (!res.body) return new Uint8Array(0)
  return readAll(res.body, maxBytes, () => new MirrorError('malformed', `GET ${url}: response exceeds the ${maxBytes}-byte limit`, { url }))
}

/** The first 200 characters of an error body, on one line. */
async function readExcerpt(res: Response): Promise<string> {
  try {
    const text = await res.text()
    return text.replace(/\s+/g, ' ').trim().slice(0, 200)
  } catch {
    return ''
  }
}

function describeNetworkError(err: unknown): string {
  if (err instanceof Error) {
    const cause = (err as Error & { cause?: unknown }).cause
    const causeText = cause instanceof Error ? `${(cause as NodeJS.ErrnoException).code ?? cause.name}: ${cause.message}` : ''
    if (err.name === 'TimeoutError') return 'timed out'
    return causeText ? `${err.message} (${causeText})` : err.message
  }
  return String(err)
}
