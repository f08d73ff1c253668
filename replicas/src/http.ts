/**
 * GET with bounded retries: network errors, timeouts, 408, 429 and 5xx are retried with
 * exponential backoff and jitter, then reported as `unavailable`; nothing fetched is trusted
 * here (callers verify every byte). Bodies are read with a size cap, so a hostile server cannot
 * make the mirror buffer without bound.
 * @module
 */
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
  /** The fetch implementation (default: the global one). */
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

/** A minimal GET client for one base URL. */
export class HttpClient {
  readonly base: string
  readonly policy: RetryPolicy
  readonly #token: string | undefined
  readonly #fetch: typeof fetch
  readonly #onRetry: HttpOptions['onRetry']

  constructor(base: string, options: HttpOptions = {}) {
    this.base = base.replace(/\/+$/, '')
    this.policy = { ...DEFAULT_RETRY, ...options.retry }
    this.#token = options.token
    this.#fetch = options.fetch ?? fetch
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
    const headers: Record<string, string> = {}
    if (req.auth) {
      if (!this.#token) throw new MirrorError('usage', `GET ${url} needs an app token (--token or WHODIS_TOKEN)`)
      headers.Authorization = `Bearer ${this.#token}`
    }
    const signal = AbortSignal.timeout(this.policy.timeoutMs)
    const res = await this.#fetch(url, { headers, signal, redirect: 'follow' })
    if (res.status === 404 && req.allow404) {
      await readExcerpt(res)
      return { kind: 'missing' }
    }
    if (res.status === 408 || res.status === 429 || res.status >= 500) {
      const excerpt = await readExcerpt(res)
      const retryAfter = Number(res.headers.get('Retry-After'))
      return {
        kind: 'retry',
        reason: `HTTP ${res.status}${excerpt ? `: ${excerpt}` : ''}`,
        ...(Number.isFinite(retryAfter) && retryAfter > 0 ? { retryAfterMs: retryAfter * 1000 } : {}),
      }
    }
    if (res.status !== 200) {
      const excerpt = await readExcerpt(res)
      throw new MirrorError('http', `GET ${url} answered HTTP ${res.status}${excerpt ? `: ${excerpt}` : ''}`, { url, status: res.status })
    }
    const declared = Number(res.headers.get('Content-Length'))
    if (Number.isFinite(declared) && declared > req.maxBytes) {
      await res.body?.cancel().catch(() => {})
      throw new MirrorError('malformed', `GET ${url}: response of ${declared} bytes exceeds the ${req.maxBytes}-byte limit`, { url })
    }
    return { kind: 'ok', body: await readCapped(res, req.maxBytes, url) }
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
