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
 * ({@link WhodisClient.pinLogKey}); nothing here trusts the network for them. Lookups can be
 * answered by your own mirror ({@link WhodisClient.lookupVia}) so the directory never sees them,
 * and {@link HolderClient} is the number holder's side: see and remove the number's bindings.
 * @module
 */
import { fromBase64 } from '../protocol/bytes.ts'
import { openCheckpoint, type Checkpoint } from '../protocol/checkpoint.ts'
import { verifyCredential, type Credential } from '../protocol/credential.ts'
import { appIdPathSegment } from '../protocol/entry.ts'
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

  /**
   * Like {@link lookup}, answered by a mirror (`whodis-mirror serve`, usually your own on
   * loopback) instead of the directory, so the directory never learns which number you asked
   * about. The mirror answers with the directory's JSON; no token is sent to it. With `proof`,
   * check the receipts with {@link verifyLookup}: they are signed by the log key, not the mirror.
   */
  async lookupVia(mirrorUrl: string, phone: string, opts: { proof?: boolean } = {}): Promise<LookupBody | null> {
    const e164 = normalizePhone(phone).e164
    const path = `/v1/numbers/${encodeURIComponent(e164)}${opts.proof ? '?proof=1' : ''}`
    try {
      const res = await send(this.fetcher, mirrorUrl.replace(/\/+$/, ''), 'GET', path)
      return (await res.json()) as LookupBody
    } catch (err) {
      if (err instanceof WhodisError && err.code === 'number_not_found') return null
      throw err
    }
  }

  /** Removes this app's own binding of `phone`. */
  async removeBinding(phone: string, app: string): Promise<void> {
    const e164 = normalizePhone(phone).e164
    await this.json('DELETE', `/v1/numbers/${encodeURIComponent(e164)}/apps/${appIdPathSegment(app)}`)
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
    return readJson<T>(await this.request(method, path, body))
  }

  private request(method: string, path: string, body?: unknown): Promise<Response> {
    return send(this.fetcher, this.base, method, path, this.options.token, body)
  }
}

/** A binding of the holder's number, as {@link HolderClient.bindings} lists it. */
export interface HolderBinding {
  app: string
  verifiedAt: string
  expiresAt: string
}

/** One log entry that touches the holder's number. */
export interface HolderLogEntry {
  /** Its index in the transparency log. */
  index: number
  op: 'add' | 'renew' | 'remove' | 'expire'
  app: string
  at: string
  /** Why a binding was removed: by its app, by the holder, number reassigned, app revoked; null for add and renew. */
  reason: 'app' | 'holder' | 'reassigned' | 'app_revoked' | null
}

/** What a holder sees: every app the number is bound to and the log entries touching it. */
export interface HolderOverview {
  phone: string
  /** Unexpired bindings, sorted by app id. */
  apps: HolderBinding[]
  /** Newest first, at most 100. */
  entries: HolderLogEntry[]
  /** True when older entries exist beyond those listed. */
  more: boolean
}

/** A holder session: the bearer token (keep it secret), the number it is for, and when it ends. */
export interface HolderSession {
  token: string
  phone: string
  expiresAt: string
}

/** Options of {@link HolderClient}. */
export interface HolderClientOptions {
  /** The directory, e.g. `https://whodis.example`. */
  baseUrl: string
  /** A holder session token from an earlier {@link HolderClient.checkVerification}, to resume it. */
  session?: string
  fetch?: typeof fetch
}

/**
 * The number holder's side (`/v1/holder/...`, the JSON twin of the self-service page): a person
 * proves their number with a code the directory texts on its own behalf (no app token), then
 * sees every app the number is bound to and every log entry that touches it, and removes any
 * binding. No app token is involved: the holder decides who may find them.
 *
 * ```ts
 * const holder = new HolderClient({ baseUrl: 'https://whodis.example' })
 * const { id } = await holder.startVerification('+1 650 555 0011')   // texts "whodis code: NNNNNN"
 * await holder.checkVerification(id, code)                            // opens a 30-minute session
 * const { apps, entries } = await holder.bindings()
 * await holder.removeBinding('appb')
 * await holder.signOut()
 * ```
 */
export class HolderClient {
  private readonly base: string
  private readonly fetcher: typeof fetch
  private token: string | null

  constructor(options: HolderClientOptions) {
    this.base = options.baseUrl.replace(/\/+$/, '')
    this.fetcher = options.fetch ?? ((input, init) => fetch(input, init))
    this.token = options.session ?? null
  }

  /** The session token, or null before a right code (and after {@link signOut}). */
  get session(): string | null {
    return this.token
  }

  /** Texts a code to `phone` (as typed) on its holder's behalf → the verification id and its expiry. */
  async startVerification(phone: string): Promise<{ id: string; expiresAt: string }> {
    return readJson(await send(this.fetcher, this.base, 'POST', '/v1/holder/verifications', undefined, { phone }))
  }

  /**
   * Checks the code the holder typed; a right one opens a 30-minute session, kept by this client
   * for the calls below. Throws WhodisError (422 wrong_code with attemptsLeft, 410 expired, ...).
   */
  async checkVerification(id: string, code: string): Promise<HolderSession> {
    const session = await readJson<HolderSession>(
      await send(this.fetcher, this.base, 'POST', `/v1/holder/verifications/${encodeURIComponent(id)}/check`, undefined, { code }),
    )
    this.token = session.token
    return session
  }

  /** Every app the number is bound to, and the log entries that touch it (newest first). */
  async bindings(): Promise<HolderOverview> {
    return readJson(await send(this.fetcher, this.base, 'GET', '/v1/holder/bindings', this.requireSession()))
  }

  /** Removes `app`'s binding of the number (logged with reason `holder`); 404 binding_not_found if none. */
  async removeBinding(app: string): Promise<void> {
    await send(this.fetcher, this.base, 'DELETE', `/v1/holder/bindings/${appIdPathSegment(app)}`, this.requireSession())
  }

  /** Ends the session at the directory and forgets the token. */
  async signOut(): Promise<void> {
    if (!this.token) return
    await send(this.fetcher, this.base, 'DELETE', '/v1/holder/session', this.token)
    this.token = null
  }

  private requireSession(): string {
    if (!this.token) throw new WhodisError(401, 'unauthorized', 'no holder session: verify the number first (startVerification, checkVerification)')
    return this.token
  }
}

async function readJson<T>(res: Response): Promise<T> {
  if (res.status === 204) return undefined as T
  return (await res.json()) as T
}

/** One request; a non-2xx answer becomes a WhodisError with the directory's code and message. */
async function send(fetcher: typeof fetch, base: string, method: string, path: string, token?: string, body?: unknown): Promise<Response> {
  const headers: Record<string, string> = { Accept: 'application/json' }
  if (token) headers.Authorization = `Bearer ${token}`
  if (body !== undefined) headers['Content-Type'] = 'application/json'
  const res = await fetcher(base + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) })
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
