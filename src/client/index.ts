/**
 * whodis client SDK: what a messaging app needs to integrate the directory. Import it from
 * plain Node (or any runtime with `fetch` and WebCrypto) as `whodis/client`:
 *
 * ```ts
 * import { WhodisClient, chooseApp, verifyCredential } from 'whodis/client'
 * const whodis = new WhodisClient({ baseUrl: 'https://whodis.example', token: process.env.WHODIS_TOKEN })
 * const { id } = await whodis.startVerification('+1 650 555 0011')
 * const { credential, receipt } = await whodis.checkVerification(id, codeTheUserTyped)
 * ```
 * Credentials and receipts are verified offline against the log key you pinned
 * ({@link WhodisClient.pinLogKey}); nothing here trusts the network for them.
 * @module
 */
import { fromBase64 } from '../protocol/bytes.ts'
import { openCheckpoint, type Checkpoint } from '../protocol/checkpoint.ts'
import { verifyCredential, type Credential } from '../protocol/credential.ts'
import type { LookupBody } from '../protocol/lookup.ts'
import { parseVerifierKey, type NoteVerifierKey } from '../protocol/note-keys.ts'
import { normalizePhone } from '../protocol/phone.ts'
import { verifyReceipt } from '../protocol/receipt.ts'

export { chooseApp } from '../protocol/choose-app.ts'
export { CredentialError, verifyCredential, type Credential } from '../protocol/credential.ts'
export { ReceiptError, verifyReceipt } from '../protocol/receipt.ts'
export { InvalidPhoneError, normalizePhone } from '../protocol/phone.ts'
export { parseVerifierKey, type NoteVerifierKey } from '../protocol/note-keys.ts'
export type { LookupBody, LookupEntry } from '../protocol/lookup.ts'
export type { Checkpoint } from '../protocol/checkpoint.ts'

/** An error answer from the directory: HTTP status, its stable `code`, and any retry hint. */
export class WhodisError extends Error {
  override readonly name = 'WhodisError'
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    /** Seconds to wait before retrying (429, 503). */
    readonly retryAfter?: number,
    /** Wrong codes still allowed (422 wrong_code). */
    readonly attemptsLeft?: number,
  ) {
    super(message)
  }
}

/** A binding as the directory returns it. */
export interface Binding {
  phone: string
  app: string
  verifiedAt: string
  expiresAt: string
  publicKey?: string
}

/** The answer to a right code: the binding, its log index, a credential and a receipt. */
export interface CheckResult {
  binding: Binding
  index: number
  credential: string
  receipt: string
}

/** Options of {@link WhodisClient}. */
export interface ClientOptions {
  /** The directory, e.g. `https://whodis.example` or `http://127.0.0.1:8787`. */
  baseUrl: string
  /** This app's token (from the operator). */
  token?: string
  /** The log verifier key to pin; otherwise {@link WhodisClient.pinLogKey} fetches it once. */
  logKey?: string
  fetch?: typeof fetch
}

/** A typed client for one directory and one app token. */
export class WhodisClient {
  private readonly base: string
  private readonly fetcher: typeof fetch
  private pinned: NoteVerifierKey | null

  constructor(private readonly options: ClientOptions) {
    this.base = options.baseUrl.replace(/\/+$/, '')
    this.fetcher = options.fetch ?? ((input, init) => fetch(input, init))
    this.pinned = options.logKey ? parseVerifierKey(options.logKey) : null
  }

  /** Sends a code to `phone` (as typed) → the verification id and its expiry. */
  startVerification(phone: string, opts: { publicKey?: string } = {}): Promise<{ id: string; expiresAt: string }> {
    return this.json('POST', '/v1/verifications', { phone, ...opts })
  }

  /** Checks the code the person typed; throws WhodisError (422 wrong_code, 410 expired, ...) otherwise. */
  checkVerification(id: string, code: string): Promise<CheckResult> {
    return this.json('POST', `/v1/verifications/${encodeURIComponent(id)}/check`, { code })
  }

  /** The apps `phone` can be reached on, or null when none. With `proof`, each binding carries a receipt. */
  async lookup(phone: string, opts: { proof?: boolean } = {}): Promise<LookupBody | null> {
    const e164 = normalizePhone(phone).e164
    try {
      return await this.json<LookupBody>('GET', `/v1/numbers/${encodeURIComponent(e164)}${opts.proof ? '?proof=1' : ''}`)
    } catch (err) {
      if (err instanceof WhodisError && err.code === 'number_not_found') return null
      throw err
    }
  }

  /** Removes this app's own binding of `phone`. */
  async removeBinding(phone: string, app: string): Promise<void> {
    const e164 = normalizePhone(phone).e164
    await this.json('DELETE', `/v1/numbers/${encodeURIComponent(e164)}/apps/${encodeURIComponent(app)}`)
  }

  /**
   * The log key: the one given to the constructor, or fetched from /.well-known/whodis on first
   * use and kept for the life of this client. Pin it in your configuration for real trust.
   */
  async pinLogKey(): Promise<NoteVerifierKey> {
    if (!this.pinned) {
      const meta = await this.json<{ logKey: string }>('GET', '/.well-known/whodis')
      this.pinned = parseVerifierKey(meta.logKey)
    }
    return this.pinned
  }

  /** The latest checkpoint, signature checked against the pinned key. */
  async checkpoint(): Promise<Checkpoint> {
    const res = await this.request('GET', '/log/checkpoint')
    return openCheckpoint(await res.text(), await this.pinLogKey())
  }

  /**
   * Verifies a credential another app presented, offline, and (given its receipt) that its
   * entry is in the log. Throws CredentialError / ReceiptError when it does not hold.
   */
  async verifyPresented(credential: string, receipt?: string, nowSeconds = Math.floor(Date.now() / 1000)): Promise<Credential> {
    const key = await this.pinLogKey()
    const c = await verifyCredential(credential, key, { nowSeconds })
    if (receipt) {
      const { index } = await verifyReceipt(receipt, c.entry, key)
      if (index !== c.index) throw new WhodisError(0, 'receipt_mismatch', 'the receipt is for another log entry')
    }
    return c
  }

  /** Verifies each `?proof=1` receipt of a lookup answer against the pinned key. */
  async verifyLookup(body: LookupBody): Promise<void> {
    const key = await this.pinLogKey()
    for (const entry of body.apps) {
      if (!entry.receipt || !entry.entry) throw new WhodisError(0, 'no_proof', `binding to ${entry.app} carries no receipt`)
      await verifyReceipt(entry.receipt, fromBase64(entry.entry), key)
    }
  }

  private async json<T>(method: string, path: string, body?: unknown): Promise<T> {
    const res = await this.request(method, path, body)
    if (res.status === 204) return undefined as T
    return (await res.json()) as T
  }

  private async request(method: string, path: string, body?: unknown): Promise<Response> {
    const headers: Record<string, string> = { Accept: 'application/json' }
    if (this.options.token) headers.Authorization = `Bearer ${this.options.token}`
    if (body !== undefined) headers['Content-Type'] = 'application/json'
    const res = await this.fetcher(this.base + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) })
    if (res.ok) return res
    const text = await res.text()
    let parsed: { error?: { code?: string; message?: string }; attemptsLeft?: number } = {}
    try {
      parsed = JSON.parse(text)
    } catch {
      // Not our error shape (a proxy, say): keep the status.
    }
    const retry = Number(res.headers.get('Retry-After'))
    throw new WhodisError(
      res.status,
      parsed.error?.code ?? `http_${res.status}`,
      parsed.error?.message ?? `${method} ${path} answered ${res.status}`,
      Number.isFinite(retry) && retry > 0 ? retry : undefined,
      parsed.attemptsLeft,
    )
  }
}
