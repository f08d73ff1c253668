/**
 * The self-service page for a number's holder, server-rendered and script-free:
 *
 * - `GET /` asks for the number; `POST /me/start` texts a code and redirects to `GET /me/code`;
 * - `POST /me/code` checks it, opens a 30-minute session and redirects to `GET /me`;
 * - `GET /me` lists the number's bindings (by app name) and log entries; each binding's Remove
 *   opens `GET /me/remove?app=`, which says what removing it does, and only its form,
 *   `POST /me/remove`, removes the binding and redirects back; `POST /me/signout` ends the session.
 *
 * Every form that changes anything POSTs (URL-encoded, at most 16 KiB) and carries a CSRF
 * token: an HMAC of the cookie-held value it protects (the pre-session cookie, the pending
 * challenge, or the session token's hash, and for a removal the one app it removes too). Cookies
 * are HttpOnly, SameSite=Strict, Path=/, and Secure except on plain-HTTP loopback. Errors are
 * rendered on the page with the API's status and code, never as a 500.
 * @module
 */
import { Hono, type Context } from 'hono'
import { deleteCookie, getCookie, setCookie } from 'hono/cookie'
import { createMiddleware } from 'hono/factory'
import type { CookieOptions } from 'hono/utils/cookie'
import type { ContentfulStatusCode } from 'hono/utils/http-status'
import { deleteHolderSession, HOLDER_SESSION_TTL_MS, readHolderSession } from '../adapters/holder-sessions.ts'
import { csrfToken, csrfValid, randomHex, type CsrfPurpose } from '../crypto.ts'
import { CHALLENGE_TTL_MS } from '../durable-objects/phone-challenge.ts'
import { sequencer } from '../directory.ts'
import { requireSecret, type AppEnv, type HolderIdentity } from '../env.ts'
import { ApiError, toApiError } from '../errors.ts'
import { createLogger } from '../log.ts'
import { formGuard } from '../middleware/request.ts'
import { codePage, confirmRemovePage, errorPage, formatTime, formatWait, mePage, startPage, type AppNames, type PageError } from '../pages/holder.ts'
import type { Html } from '../pages/html.ts'
import { CSS_HASH } from '../pages/style.ts'
import { isE164 } from '../protocol/phone.ts'
import { checkHolderCode, holderOverview, removeHolderBinding, startHolderVerification, type HolderOverview } from './holder-flow.ts'
import { APP_ID } from './schemas.ts'

type Ctx = Context<AppEnv>

/** Cookie names. */
export const COOKIES = { pre: 'whodis_pre', challenge: 'whodis_challenge', session: 'whodis_session' } as const

const PRE_MAX_AGE_S = 24 * 3600
const CSP = [
  "default-src 'none'",
  `style-src ${CSS_HASH}`,
  "img-src 'self'",
  "form-action 'self'",
  "frame-ancestors 'none'",
  "base-uri 'none'",
].join('; ')

export const pages = new Hono<AppEnv>()

const PAGE_HEADERS = {
  'Content-Security-Policy': CSP,
  'Cache-Control': 'no-store',
  'X-Content-Type-Options': 'nosniff',
  'X-Frame-Options': 'DENY',
  'Referrer-Policy': 'no-referrer',
}

// Scoped to the page's own paths: this sub-app is mounted at `/`, so `*` would reach the API too.
const pageHeaders = createMiddleware<AppEnv>(async function pageHeaders(c, next) {
  await next()
  for (const [name, value] of Object.entries(PAGE_HEADERS)) c.header(name, value)
})
pages.use('/', pageHeaders)
pages.use('/me/*', pageHeaders)
pages.use('/me/*', formGuard)

// ---- cookies and CSRF ------------------------------------------------------------------------

/** Secure everywhere but plain-HTTP loopback (where browsers would refuse to store it). */
function cookieOptions(c: Ctx, maxAgeSeconds?: number): CookieOptions {
  const url = new URL(c.req.url)
  const loopback = url.protocol === 'http:' && ['127.0.0.1', 'localhost', '[::1]'].includes(url.hostname)
  return { httpOnly: true, sameSite: 'Strict', path: '/', secure: !loopback, ...(maxAgeSeconds ? { maxAge: maxAgeSeconds } : {}) }
}

function secret(c: Ctx): string {
  return requireSecret(c.env, 'HMAC_SECRET')
}

/** The pre-session value the number form's CSRF token is bound to (set when missing). */
function preSession(c: Ctx): string {
  const current = getCookie(c, COOKIES.pre)
  if (current && /^[0-9a-f]{32}$/.test(current)) return current
  const fresh = randomHex(16)
  setCookie(c, COOKIES.pre, fresh, cookieOptions(c, PRE_MAX_AGE_S))
  return fresh
}

function startCsrf(c: Ctx): string {
  return csrfToken(secret(c), 'start', preSession(c))
}

/** The pending challenge (id and number) from its cookie, or null. */
function pendingChallenge(c: Ctx): { id: string; phone: string } | null {
  const raw = getCookie(c, COOKIES.challenge)
  const match = raw?.match(/^([0-9a-f]{96})\.(\+[0-9]{2,15})$/)
  if (!match || !isE164(match[2]!)) return null
  return { id: match[1]!, phone: match[2]! }
}

async function currentSession(c: Ctx): Promise<HolderIdentity | null> {
  return readHolderSession(c.env.DIRECTORY, getCookie(c, COOKIES.session), Date.now())
}

async function form(c: Ctx): Promise<Record<string, string>> {
  const body = await c.req.parseBody()
  return Object.fromEntries(Object.entries(body).flatMap(([k, v]) => (typeof v === 'string' ? [[k, v]] : [])))
}

function requireCsrf(c: Ctx, purpose: CsrfPurpose, boundTo: string, submitted: unknown): void {
  if (!csrfValid(secret(c), purpose, boundTo, submitted)) {
    throw new ApiError(403, 'invalid_csrf', 'this form has expired or did not come from this page')
  }
}

// ---- errors as people read them -------------------------------------------------------------

const sentence = (s: string) => s.charAt(0).toUpperCase() + s.slice(1).replace(/\s*\([^)]*\)$/, '') + (/[.!?]$/.test(s) ? '' : '.')

/** The page's words for an API error; the code and status stay the API's. */
export function describeError(err: ApiError, now = Date.now()): PageError {
  const retry = err.retryAfter
  const retryDetail = retry ? `Try again in ${formatWait(retry)} (after ${formatTime(now + retry * 1000)}).` : undefined
  switch (err.code) {
    case 'invalid_phone':
      return {
        code: err.code,
        field: 'phone',
        message: /empty/.test(err.message)
          ? 'Enter your phone number, starting with + and your country code.'
          : 'That is not a valid phone number. Type it with + and your country code, for example +1 650 555 0011.',
      }
    case 'invalid_request':
      return { code: err.code, field: 'code', message: 'Enter the 6 digits from the text message.' }
    case 'wrong_code': {
      const left = Number(err.extra.attemptsLeft ?? 0)
      return left > 0
        ? { code: err.code, field: 'code', message: `That code is not right. You have ${left} ${left === 1 ? 'attempt' : 'attempts'} left.` }
        : { code: err.code, field: 'code', message: 'That code is not right, and it was the last attempt.', detail: 'Send a new code to try again.' }
    }
    case 'verification_expired':
      return { code: err.code, message: 'That code has expired.', detail: 'Send a new code to try again.' }
    case 'verification_exhausted':
      return { code: err.code, message: 'Too many wrong codes were entered.', detail: 'Send a new code to try again.' }
    case 'verification_not_found':
      return { code: err.code, message: 'That code is no longer valid.', detail: 'Send a new code to try again.' }
    case 'rate_limited':
      return { code: err.code, message: sentence(err.message), detail: retryDetail }
    case 'unauthorized':
      return { code: err.code, message: 'You are not signed in, or your 30 minutes are over.', detail: 'Enter your number to get a new code.' }
    case 'invalid_csrf':
      return { code: err.code, message: 'This form has expired or did not come from this page.', detail: 'Please try again.' }
    case 'binding_not_found':
      return { code: err.code, message: sentence(err.message), detail: 'It may have been removed already.' }
    default:
      return { code: err.code, message: sentence(err.message), detail: retryDetail }
  }
}

function respond(c: Ctx, page: Html, status: ContentfulStatusCode, err?: ApiError): Response {
  if (err?.retryAfter !== undefined) c.header('Retry-After', String(err.retryAfter))
  return c.html(page.value, status)
}

function renderStart(c: Ctx, err?: ApiError, phone?: string): Response {
  return respond(c, startPage({ csrf: startCsrf(c), phone, error: err ? describeError(err) : null }), err?.status ?? 200, err)
}

/** The names of every app the overview mentions, from the app registry in one request. */
async function appNames(c: Ctx, view: HolderOverview): Promise<AppNames> {
  const ids = [...new Set([...view.bindings.map((b) => b.app), ...view.entries.map((e) => e.app)])]
  return ids.length ? sequencer(c.env).appNames(ids) : {}
}

/** What the CSRF token of the form that removes `app` is bound to: the session and that one app. */
const removal = (holder: HolderIdentity, app: string) => `${holder.tokenHash}\n${app}`

async function renderMe(c: Ctx, holder: HolderIdentity, opts: { removed?: string; err?: ApiError } = {}): Promise<Response> {
  const view = await holderOverview(c.env, holder.phone)
  const names = await appNames(c, view)
  // Announced only for a registered app that is no longer bound, so a crafted link can say nothing false.
  const removed = opts.removed && !view.bindings.some((b) => b.app === opts.removed) ? names[opts.removed] : undefined
  const page = mePage({
    ...view,
    names,
    csrf: csrfToken(secret(c), 'session', holder.tokenHash),
    sessionEnds: holder.expiresAt,
    notice: removed ? `Removed ${removed}. It can no longer find your number through whodis.` : null,
    error: opts.err ? describeError(opts.err) : null,
  })
  return respond(c, page, opts.err?.status ?? 200, opts.err)
}

/** An error the page shows in place (logged like the API logs it when it is the directory's fault); anything else is rethrown. */
function expected(c: Ctx, err: unknown): ApiError {
  if (!(err instanceof ApiError)) throw err
  if (err.status >= 500) c.var.log.error('request_failed', { route: c.req.routePath, code: err.code, message: err.message })
  return err
}

const notSignedIn = () => new ApiError(401, 'unauthorized', 'invalid or expired holder session; verify the number again')

function signedOut(c: Ctx): Response {
  deleteCookie(c, COOKIES.session, cookieOptions(c))
  return renderStart(c, notSignedIn())
}

// ---- routes ---------------------------------------------------------------------------------

pages.get('/', async (c) => {
  if (await currentSession(c)) return c.redirect('/me', 303)
  const notice = c.req.query('signedout') === '1' ? 'You are signed out.' : null
  return c.html(startPage({ csrf: startCsrf(c), notice }).value, 200)
})

pages.post('/me/start', async (c) => {
  const body = await form(c)
  const phone = body.phone ?? ''
  try {
    const pre = getCookie(c, COOKIES.pre)
    if (!pre || !/^[0-9a-f]{32}$/.test(pre)) throw new ApiError(403, 'invalid_csrf', 'this form has expired or did not come from this page')
    requireCsrf(c, 'start', pre, body.csrf)
    const started = await startHolderVerification(c.env, phone, c.req.header('CF-Connecting-IP'), c.var.log)
    setCookie(c, COOKIES.challenge, `${started.id}.${started.phone}`, cookieOptions(c, CHALLENGE_TTL_MS / 1000))
    return c.redirect('/me/code', 303)
  } catch (err) {
    return renderStart(c, expected(c, err), phone)
  }
})

pages.get('/me/code', (c) => {
  const pending = pendingChallenge(c)
  if (!pending) return c.redirect('/', 303)
  const s = secret(c)
  return c.html(codePage({ phone: pending.phone, csrf: csrfToken(s, 'challenge', pending.id), resendCsrf: startCsrf(c) }).value, 200)
})

pages.post('/me/code', async (c) => {
  const body = await form(c)
  const pending = pendingChallenge(c)
  if (!pending) {
    return renderStart(c, new ApiError(410, 'verification_expired', 'this code has expired; start a new verification'))
  }
  try {
    requireCsrf(c, 'challenge', pending.id, body.csrf)
    const code = (body.code ?? '').replace(/[\s-]/g, '')
    const session = await checkHolderCode(c.env, pending.id, code, c.var.log)
    setCookie(c, COOKIES.session, session.token, cookieOptions(c, HOLDER_SESSION_TTL_MS / 1000))
    deleteCookie(c, COOKIES.challenge, cookieOptions(c))
    return c.redirect('/me', 303)
  } catch (caught) {
    const err = expected(c, caught)
    const describe = err.code === 'wrong_code' || err.code === 'invalid_request' || err.code === 'invalid_csrf'
    if (describe && !(err.code === 'wrong_code' && err.extra.attemptsLeft === 0)) {
      const page = codePage({
        phone: pending.phone,
        csrf: csrfToken(secret(c), 'challenge', pending.id),
        resendCsrf: startCsrf(c),
        error: describeError(err),
      })
      return respond(c, page, err.status, err)
    }
    // Expired, exhausted, unknown, or the last attempt: the only way on is a new code.
    deleteCookie(c, COOKIES.challenge, cookieOptions(c))
    return renderStart(c, err, pending.phone)
  }
})

pages.get('/me', async (c) => {
  const holder = await currentSession(c)
  if (!holder) return signedOut(c)
  return renderMe(c, holder, { removed: c.req.query('removed') })
})

const notBound = (app: string) => new ApiError(404, 'binding_not_found', `this number is not bound to ${APP_ID.test(app) ? app : 'that app'}`)

pages.get('/me/remove', async (c) => {
  const holder = await currentSession(c)
  if (!holder) return signedOut(c)
  const app = c.req.query('app') ?? ''
  if (!APP_ID.test(app)) return renderMe(c, holder, { err: notBound(app) })
  const [view, names] = await Promise.all([holderOverview(c.env, holder.phone), sequencer(c.env).appNames([app])])
  const binding = view.bindings.find((b) => b.app === app)
  if (!binding) return renderMe(c, holder, { err: notBound(app) })
  const name = names[app] ?? app
  return c.html(confirmRemovePage({ phone: holder.phone, binding, name, csrf: csrfToken(secret(c), 'remove', removal(holder, app)) }).value, 200)
})

pages.post('/me/remove', async (c) => {
  const body = await form(c)
  const holder = await currentSession(c)
  if (!holder) return signedOut(c)
  try {
    const app = body.app ?? ''
    requireCsrf(c, 'remove', removal(holder, app), body.csrf)
    if (!APP_ID.test(app)) throw notBound(app)
    await removeHolderBinding(c.env, holder.phone, app, c.var.log)
    return c.redirect(`/me?removed=${encodeURIComponent(app)}`, 303)
  } catch (err) {
    return renderMe(c, holder, { err: expected(c, err) })
  }
})

pages.post('/me/signout', async (c) => {
  const body = await form(c)
  const holder = await currentSession(c)
  if (holder) {
    try {
      requireCsrf(c, 'session', holder.tokenHash, body.csrf)
    } catch (err) {
      if (err instanceof ApiError) return renderMe(c, holder, { err })
      throw err
    }
    await deleteHolderSession(c.env.DIRECTORY, holder.tokenHash)
  }
  deleteCookie(c, COOKIES.session, cookieOptions(c))
  return c.redirect('/?signedout=1', 303)
})

/** Whether an `Accept` header names HTML, as a browser navigating does (API clients ask for JSON or anything). */
export function asksForHtml(accept: string | undefined): boolean {
  return /(^|,)\s*text\/html\s*(;|,|$)/i.test(accept ?? '')
}

/** The page a person sees for a path no route has, with the page's headers. */
export function pageNotFound(c: Ctx, err: ApiError): Response {
  const res = respond(c, errorPage({ title: 'Page not found', error: describeError(err) }), 404)
  for (const [name, value] of Object.entries(PAGE_HEADERS)) res.headers.set(name, value)
  return res
}

// Failures outside the cases above (a body that is too large or not a form, a directory that is
// not configured, the log briefly unavailable) are rendered as a page with the API's status.
pages.onError((err, c) => {
  const { apiError, unexpected } = toApiError(err)
  const log = c.get('log') ?? createLogger()
  if (unexpected) log.error('unhandled_error', { route: c.req.routePath, error: String(err), stack: (err as Error)?.stack })
  else if (apiError.status >= 500) log.error('request_failed', { route: c.req.routePath, code: apiError.code, message: apiError.message })
  const title = apiError.status >= 500 ? 'Something went wrong on our side' : 'That did not work'
  return respond(c as Ctx, errorPage({ title, error: describeError(apiError) }), apiError.status, apiError)
})
