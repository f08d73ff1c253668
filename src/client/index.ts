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
 * Lookups go in a request body (`POST /v1/lookups`), never in a URL, so no number reaches a
 * request log; they can be answered by your own mirror ({@link WhodisClient.lookupVia}) so the
 * directory never sees them. Credentials and receipts are verified against the log key you
 * pinned ({@link WhodisClient.pinLogKey}), and every field of a proven answer is checked against
 * the log entries its receipts prove ({@link WhodisClient.verifyLookup}).
 *
 * What a receipt proves: that a binding was *added* to the log (its entry is in the tree at
 * that index, under a checkpoint signed by the log key). It does not prove that the binding
 * still stands: a later entry may have removed or renewed it.
 *
 * {@link HolderClient} is the number holder's side: see and remove the number's bindings.
 * @module
 */
import { openCheckpoint, type Checkpoint } from '../protocol/checkpoint.ts'
import { verifyCredential, type Credential } from '../protocol/credential.ts'
import { appIdPathSegment, decodeEntry } from '../protocol/entry.ts'
import { MAX_LOOKUPS, type LookupBody, type LookupsBody } from '../protocol/lookup.ts'
import { parseVerifierKey, type NoteVerifierKey } from '../protocol/note-keys.ts'
import { normalizePhone } from '../protocol/phone.ts'
import { AppRegistry, CheckpointMark, proveEntry, proveLookup, proveRegistration, ProofError, type AppRegistrationBody, type OpenedCheckpoints, type ProvenLookup } from './proof.ts'

export { chooseApp } from '../protocol/choose-app.ts'
export { CredentialError, verifyCredential, type Credential } from '../protocol/credential.ts'
export { ReceiptError, verifyReceipt } from '../protocol/receipt.ts'
export { InvalidPhoneError, normalizePhone } from '../protocol/phone.ts'
export { parseVerifierKey, type NoteVerifierKey } from '../protocol/note-keys.ts'
export { MAX_LOOKUPS } from '../protocol/lookup.ts'
export type { LookupBody, LookupEntry, LookupsBody } from '../protocol/lookup.ts'
export type { Checkpoint } from '../protocol/checkpoint.ts'
export { ProofError, type ProofErrorCode, type ProvenBinding, type ProvenLookup, type AppRegistrationBody } from './proof.ts'

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

/** A credential checked by {@link WhodisClient.verifyPresented}, with its receipt's checkpoint when a receipt was given. */
export interface PresentedCredential extends Credential {
  /** The checkpoint the receipt proved the credential's entry against. */
  checkpoint?: Checkpoint
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
  private readonly mark = new CheckpointMark()
  private readonly registry = new AppRegistry()
  private readonly registering = new Map<string, Promise<number>>()

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

  /**
   * The apps `phone` can be reached on, or null when none (`POST /v1/lookups`: the number
   * travels in the body). With `proof`, each binding carries its entry and receipt: check them
   * with {@link verifyLookup}.
   */
  async lookup(phone: string, opts: { proof?: boolean } = {}): Promise<LookupBody | null> {
    const [body] = await this.lookupMany([phone], opts)
    return body!.apps.length > 0 ? body! : null
  }

  /**
   * Contact discovery: one answer per number, in the order given, each with its apps (`apps: []`
   * for none). Asks in batches of {@link MAX_LOOKUPS}; every number counts against the app's
   * lookup quota. Throws InvalidPhoneError before sending anything if one is not a number.
   */
  async lookupMany(phones: readonly string[], opts: { proof?: boolean } = {}): Promise<LookupBody[]> {
    return lookupBatches(phones, opts, (body) => this.json<LookupsBody>('POST', '/v1/lookups', body))
  }

  /**
   * Like {@link lookup}, answered by a mirror (`whodis-mirror serve`, usually your own on
   * loopback) instead of the directory, so the directory never learns which number you asked
   * about. The mirror answers with the directory's JSON; no token is sent to it. With `proof`,
   * check the receipts with {@link verifyLookup}: they are signed by the log key, not the mirror.
   */
  async lookupVia(mirrorUrl: string, phone: string, opts: { proof?: boolean } = {}): Promise<LookupBody | null> {
    const [body] = await this.lookupManyVia(mirrorUrl, [phone], opts)
    return body!.apps.length > 0 ? body! : null
  }

  /** {@link lookupMany}, answered by a mirror (see {@link lookupVia}). */
  async lookupManyVia(mirrorUrl: string, phones: readonly string[], opts: { proof?: boolean } = {}): Promise<LookupBody[]> {
    const base = mirrorUrl.replace(/\/+$/, '')
    return lookupBatches(phones, opts, async (body) => readJson<LookupsBody>(await send(this.fetcher, base, 'POST', '/v1/lookups', undefined, body)))
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

  /**
   * The latest checkpoint, signature checked against the pinned key. It becomes this client's
   * newest ({@link newestCheckpoint}); a smaller tree than one already verified is refused
   * (ProofError `stale_checkpoint`), and one of the same size with another root is a `fork`.
   */
  async checkpoint(): Promise<Checkpoint> {
    const res = await this.request('GET', '/log/checkpoint')
    const checkpoint = await openCheckpoint(await res.text(), await this.pinLogKey())
    this.mark.check(checkpoint, true)
    this.mark.advance(checkpoint)
    return checkpoint
  }

  /** The newest checkpoint this client has verified (from {@link checkpoint} and proven lookups), or null. */
  get newestCheckpoint(): Checkpoint | null {
    return this.mark.newest
  }

  /**
   * Verifies a credential another app presented: its signature by the pinned log key, its
   * origin, every field against the log entry it embeds, and its expiry (CredentialError
   * otherwise). Without a receipt that is all: the credential is the log key's signed statement,
   * and its app id is that key's word. With its receipt, also that the entry is in the log at the
   * credential's index and that the entry's app number is the credential's app (by the app's
   * proven registration, see {@link proveApps}); ProofError otherwise. The receipt's checkpoint
   * is returned: it is as old as the credential, so it is checked for a fork, not for freshness.
   * Like every receipt it proves the binding was added, not that it still stands.
   */
  async verifyPresented(credential: string, receipt?: string, nowSeconds = Math.floor(Date.now() / 1000)): Promise<PresentedCredential> {
    const key = await this.pinLogKey()
    const c = await verifyCredential(credential, key, { nowSeconds })
    if (!receipt) return c
    const proven = await proveEntry(c.entry, receipt, key)
    if (proven.index !== c.index) throw new ProofError('index_mismatch', `the receipt proves entry ${proven.index}, the credential names ${c.index}`)
    this.mark.check(proven.checkpoint, false)
    const entry = decodeEntry(c.entry)
    const num = await this.appNum(c.app)
    if (num !== entry.app) throw new ProofError('app_mismatch', `the credential names ${c.app} (app ${num}), its entry app ${entry.app}`)
    return { ...c, checkpoint: proven.checkpoint }
  }

  /**
   * Verifies a lookup answer asked with `proof` (from {@link lookup} or a mirror): every binding
   * must carry an entry and a receipt; each receipt must prove its entry under a checkpoint signed
   * by the pinned key; each entry must be an add or renew of the answer's number, for the app the
   * answer names (by that app's proven registration), at the answer's `verifiedAt`, with the TTL
   * that gives its `expiresAt`, at its `index`; no binding may have expired; all receipts must be
   * against one checkpoint, no older than {@link newestCheckpoint}, which it then becomes (so a
   * mirror's answer from behind a checkpoint already verified is refused as `stale_checkpoint`).
   * With `phone`, the answer must be for that number. Throws ProofError (with its `code`) otherwise.
   *
   * What this proves: each binding listed was added to the log as stated. Not that it still
   * stands (a later entry may have removed it), nor that the answer lists every binding.
   */
  async verifyLookup(body: LookupBody, opts: { phone?: string; nowSeconds?: number } = {}): Promise<ProvenLookup> {
    const [proven] = await this.verifyLookups([body], { ...opts, ...(opts.phone !== undefined ? { phones: [opts.phone] } : {}) })
    return proven!
  }

  /**
   * {@link verifyLookup} for each answer of {@link lookupMany}, in order (a number without apps
   * proves nothing); with `phones`, the answers must be for those numbers, in that order.
   */
  async verifyLookups(bodies: readonly LookupBody[], opts: { phones?: readonly string[]; nowSeconds?: number } = {}): Promise<ProvenLookup[]> {
    const key = await this.pinLogKey()
    const now = opts.nowSeconds ?? Math.floor(Date.now() / 1000)
    if (opts.phones) checkAnswered(opts.phones.map((p) => normalizePhone(p).e164), bodies)
    const opened: OpenedCheckpoints = new Map()
    const out: ProvenLookup[] = []
    for (const body of bodies) {
      const proven = await proveLookup(body, key, now, opened)
      if (proven.checkpoint) this.mark.check(proven.checkpoint, true)
      for (const b of proven.apps) {
        const num = await this.appNum(b.app)
        if (num !== b.appNum) throw new ProofError('app_mismatch', `the binding of ${proven.phone} to ${b.app}: its entry is for app ${b.appNum}, and ${b.app} is app ${num}`)
      }
      if (proven.checkpoint) this.mark.advance(proven.checkpoint)
      out.push(proven)
    }
    return out
  }

  /**
   * Proves the registrations of apps `ids` now (`GET /v1/apps/{id}` from the directory: its
   * app-register entry and receipt), so that later checks naming them need no request. Each
   * app is fetched once for the life of this client; the requests name apps, never a number.
   * Returns each app's number.
   */
  async proveApps(ids: readonly string[]): Promise<number[]> {
    return Promise.all(ids.map((id) => this.appNum(id)))
  }

  // The proven number of app `id`, fetching and checking its registration the first time.
  private appNum(id: string): Promise<number> {
    const known = this.registry.numOf(id)
    if (known !== undefined) return Promise.resolve(known)
    let pending = this.registering.get(id)
    if (!pending) {
      pending = (async () => {
        const key = await this.pinLogKey()
        let body: AppRegistrationBody
        try {
          body = await this.json<AppRegistrationBody>('GET', `/v1/apps/${encodeURIComponent(id)}`)
        } catch (err) {
          if (err instanceof WhodisError && (err.code === 'app_not_found' || err.code === 'invalid_request')) {
            throw new ProofError('unknown_app', `the log holds no registration of app ${id}`, { cause: err })
          }
          throw err
        }
        const { num, checkpoint } = await proveRegistration(id, body, key)
        this.mark.check(checkpoint, false)
        this.registry.add(num, id)
        return num
      })()
      this.registering.set(id, pending)
      pending.catch(() => this.registering.delete(id))
    }
    return pending
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

/** Asks `post` for `phones` in batches of {@link MAX_LOOKUPS}; the answers must be for those numbers, in order. */
async function lookupBatches(
  phones: readonly string[],
  opts: { proof?: boolean },
  post: (body: { phones: string[]; proof?: boolean }) => Promise<LookupsBody>,
): Promise<LookupBody[]> {
  const e164s = phones.map((p) => normalizePhone(p).e164)
  const out: LookupBody[] = []
  for (let i = 0; i < e164s.length; i += MAX_LOOKUPS) {
    const batch = e164s.slice(i, i + MAX_LOOKUPS)
    const answer = await post({ phones: batch, ...(opts.proof ? { proof: true } : {}) })
    checkAnswered(batch, answer?.results)
    out.push(...answer.results)
  }
  return out
}

/** Throws ProofError unless `results` answers `e164s`, one each, in order. */
function checkAnswered(e164s: readonly string[], results: readonly LookupBody[] | undefined): void {
  if (!Array.isArray(results) || results.length !== e164s.length) {
    throw new ProofError('malformed', `asked about ${e164s.length} numbers, answered ${Array.isArray(results) ? results.length : 'no results'}`)
  }
  results.forEach((r, i) => {
    if (r?.phone !== e164s[i] || !Array.isArray(r.apps)) throw new ProofError('phone_mismatch', `answer ${i} is for ${String(r?.phone)}, not ${e164s[i]}`)
  })
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
