/**
 * A loopback stand-in for Twilio's Messages API (`POST /2010-04-01/Accounts/{AccountSid}/Messages.json`),
 * strict where Twilio is strict, so the real `TwilioSender` can be tested over real HTTP.
 *
 * What it checks, as Twilio documents it:
 * - HTTP basic auth with the account SID as user and the auth token as password; anything else is
 *   `401` with `{"code":20003,"message":"Authenticate",...}` and a `WWW-Authenticate` challenge;
 * - the path's AccountSid is the authenticated account (`404`, code 20404, otherwise); only POST
 *   is served (`405`, code 20004); unknown paths are `404`, code 20404;
 * - parameters come form-encoded: a body of any other `Content-Type` is not read, so the request
 *   has no `To` (`400`, code 21604), as with Twilio;
 * - `To` is required (21604) and must be E.164 (21211); `From` or `MessagingServiceSid` is required
 *   (21603); `From` must be E.164 or an alphanumeric sender ID (21212); `MessagingServiceSid` must
 *   be `MG` + 32 hex (21701); `Body` (or `MediaUrl`/`ContentSid`) is required (21602) and at most
 *   1600 characters (21617). Twilio accepts `From` and `MessagingServiceSid` together (see error
 *   21603's documentation), and so does this fake; a test that wants exactly one asserts it on the
 *   recorded request.
 * - Twilio's magic test numbers fail as documented for test credentials: +15005550001 (21211),
 *   +15005550002 (21612), +15005550003 (21408), +15005550004 (21610), +15005550009 (21614); more
 *   can be added with {@link FakeTwilio.undeliverable}.
 *
 * A valid request gets `201` with a message resource shaped like Twilio's (`sid` `SM` + 32 hex,
 * `status` `queued`, or `accepted` when only a Messaging Service was given, RFC 2822 dates, string
 * `num_segments`, `uri`, `subresource_uris`, ...).
 *
 * Every request is recorded in {@link FakeTwilio.requests}, including those answered by a
 * simulated failure ({@link FakeMode}): an arbitrary Twilio error, 429 with Retry-After, 5xx,
 * a slow answer, a body that stalls half-way, a non-JSON body, a 2xx without `sid`, a reset.
 * @module
 */
import { randomBytes } from 'node:crypto'
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'

/** How the fake answers; `normal` is the documented API, the rest simulate failures. */
export type FakeMode =
  | { kind: 'normal' }
  /** Any Twilio-style JSON error, e.g. `{ status: 403, code: 20008 }`. */
  | { kind: 'error'; status: number; code: number; message?: string; headers?: Record<string, string> }
  /** `429`, code 20429, with `Retry-After` when given. */
  | { kind: 'rateLimited'; retryAfter?: string }
  /** A 5xx: Twilio's JSON error (20500 / 20503), or an HTML page as a load balancer sends. */
  | { kind: 'serverError'; status: number; html?: boolean; retryAfter?: string }
  /** Answers normally, but only after `delayMs`. */
  | { kind: 'slow'; delayMs: number }
  /** Sends `201` headers and half a JSON body, then never finishes. */
  | { kind: 'stallBody' }
  /** Answers `status` with a body that is not JSON. */
  | { kind: 'nonJson'; status: number; body?: string; contentType?: string }
  /** Answers `status` (default 201) with JSON that has no `sid`. */
  | { kind: 'noSid'; status?: number }
  /** Reads the request, then resets the TCP connection without answering. */
  | { kind: 'reset' }

export interface RecordedRequest {
  method: string
  /** Path and query as sent. */
  url: string
  headers: IncomingHttpHeaders
  /** The raw request body. */
  rawBody: string
  /** The form parameters, or `null` when the body was not form-encoded. */
  form: URLSearchParams | null
  /** Decoded HTTP basic credentials, or `null` when there were none. */
  auth: { username: string; password: string } | null
  /** The status answered, `'reset'` for a reset, `'stalled'` for a body that never ended. */
  answered?: number | 'reset' | 'stalled'
  /** True when the client closed the connection before the fake finished answering. */
  clientAborted: boolean
}

/** A message resource as Twilio returns it from create. */
export interface MessageResource {
  sid: string
  account_sid: string
  api_version: '2010-04-01'
  body: string
  date_created: string
  date_sent: null
  date_updated: string
  direction: 'outbound-api'
  error_code: null
  error_message: null
  from: string | null
  messaging_service_sid: string | null
  num_media: string
  num_segments: string
  price: null
  price_unit: 'USD'
  status: 'queued' | 'accepted'
  subresource_uris: { media: string }
  to: string
  uri: string
}

export interface FakeTwilio {
  /** Base URL to pass as `apiBase`, e.g. `http://127.0.0.1:54321`. */
  url: string
  accountSid: string
  authToken: string
  /** Every request received, oldest first. */
  requests: RecordedRequest[]
  /** Every message created (201), oldest first. */
  messages: MessageResource[]
  /** The mode used when no one-shot mode is queued. */
  mode: FakeMode
  /** Queues a mode for the next request only (several calls queue several requests). */
  once(mode: FakeMode): void
  /** Makes sending to `to` fail with Twilio error `code` (HTTP 400). */
  undeliverable(to: string, code: number): void
  /** Clears requests, messages and queued modes, and returns to `normal`. */
  reset(): void
  close(): Promise<void>
}

export interface FakeTwilioOptions {
  accountSid?: string
  authToken?: string
}

const E164 = /^\+[1-9][0-9]{1,14}$/
// Alphanumeric sender IDs: up to 11 characters, letters, digits and spaces, at least one letter.
const ALPHANUMERIC_SENDER = /^(?=.*[A-Za-z])[A-Za-z0-9 ]{1,11}$/
const MESSAGING_SERVICE_SID = /^MG[0-9a-f]{32}$/
const MAX_BODY = 1600

/** Twilio's magic "To" numbers for test credentials, and the errors they produce. */
export const MAGIC_UNDELIVERABLE: ReadonlyMap<string, number> = new Map([
  ['+15005550001', 21211],
  ['+15005550002', 21612],
  ['+15005550003', 21408],
  ['+15005550004', 21610],
  ['+15005550009', 21614],
])

export function hexSid(prefix: string): string {
  return prefix + randomBytes(16).toString('hex')
}

/** Twilio's dates: RFC 2822, e.g. `Thu, 24 Aug 2023 05:01:45 +0000`. */
function rfc2822(date: Date): string {
  return date.toUTCString().replace(/GMT$/, '+0000')
}

// GSM 03.38 basic set and the extension table (two septets each).
const GSM_BASIC = new Set(
  '@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !"#¤%&\'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà',
)
const GSM_EXTENDED = new Set('^{}\\[~]|€\f')

/** SMS segments: GSM-7 when every character fits (160, or 153 per part), else UCS-2 (70 / 67). */
export function segmentCount(body: string): number {
  let septets = 0
  let gsm = true
  for (const ch of body) {
    if (GSM_BASIC.has(ch)) septets += 1
    else if (GSM_EXTENDED.has(ch)) septets += 2
    else {
      gsm = false
      break
    }
  }
  if (gsm) return septets <= 160 ? 1 : Math.ceil(septets / 153)
  const units = body.length // UTF-16 code units
  return units <= 70 ? 1 : Math.ceil(units / 67)
}

function errorBody(status: number, code: number, message: string) {
  // Twilio's error shape and key order.
  return { code, message, more_info: `https://www.twilio.com/docs/errors/${code}`, status }
}

function basicAuth(header: string | undefined): { username: string; password: string } | null {
  const match = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header ?? '')
  if (!match) return null
  const decoded = Buffer.from(match[1]!, 'base64').toString('utf8')
  const colon = decoded.indexOf(':')
  if (colon < 0) return null
  return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) }
}

function isFormEncoded(headers: IncomingHttpHeaders): boolean {
  const type = (headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase()
  return type === 'application/x-www-form-urlencoded'
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    req.on('data', (chunk: Buffer) => chunks.push(chunk))
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')))
    req.on('error', reject)
  })
}

const UNDELIVERABLE_MESSAGES: Record<number, (to: string, from: string) => string> = {
  21211: (to) => `The 'To' number ${to} is not a valid phone number.`,
  21408: (to) => `Permission to send an SMS has not been enabled for the region indicated by the 'To' number: ${to}.`,
  21610: () => 'Attempt to send to unsubscribed recipient',
  21612: (to, from) => `The 'To' phone number: ${to}, is not currently reachable using the 'From' phone number: ${from} via SMS.`,
  21614: (to) => `'To' number ${to} is not a valid mobile number`,
}

/** Starts the fake on 127.0.0.1 and an ephemeral port. */
export async function startFakeTwilio(options: FakeTwilioOptions = {}): Promise<FakeTwilio> {
  const accountSid = options.accountSid ?? hexSid('AC')
  const authToken = options.authToken ?? randomBytes(16).toString('hex')
  const requests: RecordedRequest[] = []
  const messages: MessageResource[] = []
  const queued: FakeMode[] = []
  const undeliverable = new Map(MAGIC_UNDELIVERABLE)
  const timers = new Set<NodeJS.Timeout>()

  function sendJson(res: ServerResponse, record: RecordedRequest, status: number, body: unknown, headers: Record<string, string> = {}) {
    record.answered = status
    if (res.destroyed) return
    res.writeHead(status, {
      'Content-Type': 'application/json; charset=utf-8',
      'Twilio-Request-Id': hexSid('RQ'),
      ...headers,
    })
    res.end(JSON.stringify(body))
  }

  function sendError(res: ServerResponse, record: RecordedRequest, status: number, code: number, message: string, headers?: Record<string, string>) {
    sendJson(res, record, status, errorBody(status, code, message), headers)
  }

  /** The documented API: checks the request and creates the message, or answers Twilio's error. */
  function answerNormally(res: ServerResponse, record: RecordedRequest, pathSid: string) {
    if (!record.auth || record.auth.username !== accountSid || record.auth.password !== authToken) {
      return sendError(res, record, 401, 20003, 'Authenticate', { 'WWW-Authenticate': 'Basic realm="Twilio API"' })
    }
    if (pathSid !== accountSid) {
      return sendError(res, record, 404, 20404, `The requested resource ${record.url} was not found`)
    }
    if (record.method !== 'POST') return sendError(res, record, 405, 20004, 'Method not allowed')
    const form = record.form ?? new URLSearchParams()
    const to = form.get('To')
    const from = form.get('From')
    const service = form.get('MessagingServiceSid')
    const body = form.get('Body')
    if (!to) return sendError(res, record, 400, 21604, "A 'To' phone number is required.")
    if (!from && !service) {
      return sendError(res, record, 400, 21603, "A 'From' or 'MessagingServiceSid' parameter is required to send a message.")
    }
    if (!body && !form.get('MediaUrl') && !form.get('ContentSid')) {
      return sendError(res, record, 400, 21602, 'Message body is required.')
    }
    if (!E164.test(to)) return sendError(res, record, 400, 21211, UNDELIVERABLE_MESSAGES[21211]!(to, from ?? ''))
    if (from && !E164.test(from) && !ALPHANUMERIC_SENDER.test(from)) {
      return sendError(res, record, 400, 21212, `The 'From' number ${from} is not a valid phone number, shortcode, or alphanumeric sender ID.`)
    }
    if (service && !MESSAGING_SERVICE_SID.test(service)) {
      return sendError(res, record, 400, 21701, `The Messaging Service Sid ${service} is invalid.`)
    }
    if (body && [...body].length > MAX_BODY) {
      return sendError(res, record, 400, 21617, 'The concatenated message body exceeds the 1600 character limit.')
    }
    const failure = undeliverable.get(to)
    if (failure !== undefined) {
      const message = UNDELIVERABLE_MESSAGES[failure]?.(to, from ?? '') ?? `Message cannot be sent to ${to}.`
      return sendError(res, record, 400, failure, message)
    }
    const sid = hexSid('SM')
    const now = rfc2822(new Date())
    const uri = `/2010-04-01/Accounts/${accountSid}/Messages/${sid}.json`
    const viaServiceOnly = !from
    const message: MessageResource = {
      sid,
      account_sid: accountSid,
      api_version: '2010-04-01',
      body: body ?? '',
      date_created: now,
      date_sent: null,
      date_updated: now,
      direction: 'outbound-api',
      error_code: null,
      error_message: null,
      from: from ?? null,
      messaging_service_sid: service ?? null,
      num_media: String(form.getAll('MediaUrl').length),
      // A Messaging Service has not picked a sender yet, so Twilio reports 0 segments.
      num_segments: viaServiceOnly ? '0' : String(segmentCount(body ?? '')),
      price: null,
      price_unit: 'USD',
      status: viaServiceOnly ? 'accepted' : 'queued',
      subresource_uris: { media: `/2010-04-01/Accounts/${accountSid}/Messages/${sid}/Media.json` },
      to,
      uri,
    }
    messages.push(message)
    return sendJson(res, record, 201, message)
  }

  async function handle(req: IncomingMessage, res: ServerResponse) {
    const rawBody = await readBody(req)
    const record: RecordedRequest = {
      method: req.method ?? '',
      url: req.url ?? '',
      headers: req.headers,
      rawBody,
      form: isFormEncoded(req.headers) ? new URLSearchParams(rawBody) : null,
      auth: basicAuth(req.headers.authorization),
      clientAborted: false,
    }
    requests.push(record)
    res.on('close', () => {
      if (!res.writableFinished) record.clientAborted = true
    })

    const path = new URL(record.url, 'http://fake').pathname
    const match = /^\/2010-04-01\/Accounts\/([^/]+)\/Messages\.json$/.exec(path)
    if (!match) return sendError(res, record, 404, 20404, `The requested resource ${path} was not found`)
    const pathSid = decodeURIComponent(match[1]!)

    const mode = queued.shift() ?? fake.mode
    switch (mode.kind) {
      case 'normal':
        return answerNormally(res, record, pathSid)
      case 'error':
        return sendError(res, record, mode.status, mode.code, mode.message ?? `Error ${mode.code}`, mode.headers)
      case 'rateLimited':
        return sendError(res, record, 429, 20429, 'Too Many Requests', mode.retryAfter ? { 'Retry-After': mode.retryAfter } : {})
      case 'serverError': {
        const headers: Record<string, string> = mode.retryAfter ? { 'Retry-After': mode.retryAfter } : {}
        if (!mode.html) {
          const code = mode.status === 503 ? 20503 : 20500
          return sendError(res, record, mode.status, code, mode.status === 503 ? 'Service Unavailable' : 'An internal server error has occurred', headers)
        }
        record.answered = mode.status
        res.writeHead(mode.status, { 'Content-Type': 'text/html', ...headers })
        return res.end(`<html><body><h1>${mode.status} Service Temporarily Unavailable</h1></body></html>`)
      }
      case 'slow': {
        const timer = setTimeout(() => {
          timers.delete(timer)
          answerNormally(res, record, pathSid)
        }, mode.delayMs)
        timers.add(timer)
        return
      }
      case 'stallBody':
        record.answered = 'stalled'
        res.writeHead(201, { 'Content-Type': 'application/json; charset=utf-8' })
        res.write(`{"sid":"${hexSid('SM').slice(0, 10)}`)
        return
      case 'nonJson':
        record.answered = mode.status
        res.writeHead(mode.status, { 'Content-Type': mode.contentType ?? 'text/html; charset=utf-8' })
        return res.end(mode.body ?? '<html><body>Twilio is having a moment</body></html>')
      case 'noSid':
        return sendJson(res, record, mode.status ?? 201, { status: 'queued', to: record.form?.get('To') ?? null })
      case 'reset':
        record.answered = 'reset'
        req.socket.resetAndDestroy()
        return
    }
  }

  const server: Server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (!res.headersSent) res.writeHead(500, { 'Content-Type': 'text/plain' })
      res.end(`fake twilio crashed: ${String(err)}`)
    })
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => resolve())
  })
  const { port } = server.address() as AddressInfo

  const fake: FakeTwilio = {
    url: `http://127.0.0.1:${port}`,
    accountSid,
    authToken,
    requests,
    messages,
    mode: { kind: 'normal' },
    once(mode) {
      queued.push(mode)
    },
    undeliverable(to, code) {
      undeliverable.set(to, code)
    },
    reset() {
      requests.length = 0
      messages.length = 0
      queued.length = 0
      fake.mode = { kind: 'normal' }
    },
    async close() {
      for (const timer of timers) clearTimeout(timer)
      timers.clear()
      server.closeAllConnections()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
  return fake
}

/** A loopback URL nothing listens on (a port just released), for "connection refused". */
export async function refusedUrl(): Promise<string> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()))
  const { port } = server.address() as AddressInfo
  await new Promise<void>((resolve) => server.close(() => resolve()))
  return `http://127.0.0.1:${port}`
}
