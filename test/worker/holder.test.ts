/**
 * The holder flow: the JSON API under /v1/holder and the self-service page at / and /me/...,
 * through the real app with real bindings (PhoneChallenge, Limiter, Sequencer, KV).
 */
import { runInDurableObject } from 'cloudflare:test'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { holderKey } from '../../src/adapters/holder-sessions.ts'
import { newAppToken, sha256Hex } from '../../src/crypto.ts'
import { sequencer } from '../../src/directory.ts'
import { phoneChallenge } from '../../src/durable-objects/stubs.ts'
import type { Env } from '../../src/env.ts'
import { HOLDER_APP, HOLDER_SEND_LIMIT_KEY } from '../../src/routes/holder-flow.ts'
import { escapeHtml, html } from '../../src/pages/html.ts'
import { app as testApp, call, expectError, freshPhone, latestCode, randomClient, registerApp, startVerification, testEnv, verify } from './helpers.ts'

// The cap on holder codes in all is shared by every test in the run; tests that are not about
// it lift it (and the per-client cap), and the tests about it reset its counter first.
const LIFTED: Partial<Env> = { SMS_HOLDER_PER_MINUTE: '100000', SMS_HOLDER_PER_CLIENT_HOUR: '100000' }

async function resetLimit(key: string) {
  await runInDurableObject(testEnv.LIMITER.getByName(key), (_, state) => {
    state.storage.sql.exec('DELETE FROM slots')
  })
}

async function holderStart(phone: unknown, env: Partial<Env> = LIFTED) {
  return call('POST', '/v1/holder/verifications', { json: { phone }, env })
}

/** Proves `phone` through the JSON API and returns the session token. */
async function holderSession(phone: string): Promise<string> {
  const started = await holderStart(phone)
  expect(started.status).toBe(201)
  const { id } = (await started.json()) as { id: string }
  const res = await call('POST', `/v1/holder/verifications/${id}/check`, { json: { code: await latestCode(phone) } })
  expect(res.status).toBe(200)
  return ((await res.json()) as { token: string }).token
}

async function lookup(token: string, phone: string) {
  return call('GET', `/v1/numbers/${encodeURIComponent(phone)}`, { token })
}

describe('holder API: /v1/holder', () => {
  it('sends "whodis code: NNNNNN", opens a 30-minute session stored only as a hash, and lists bindings and entries', async () => {
    const a = await registerApp()
    const b = await registerApp()
    const phone = freshPhone()
    const va = await verify(a.token, phone)
    const vb = await verify(b.token, phone)

    const started = await holderStart('+1 ' + phone.slice(2, 5) + ' ' + phone.slice(5))
    expect(started.status).toBe(201)
    const { id, expiresAt } = (await started.json()) as { id: string; expiresAt: string }
    expect(id).toMatch(/^[0-9a-f]{96}$/)
    expect(Date.parse(expiresAt) - Date.now()).toBeGreaterThan(9 * 60_000)
    const outbox = await call('GET', `/dev/outbox?phone=${encodeURIComponent(phone)}`, { token: testEnv.ADMIN_TOKEN })
    const { messages } = (await outbox.json()) as { messages: { body: string }[] }
    expect(messages.at(-1)!.body).toMatch(/^whodis code: \d{6}$/)

    const checked = await call('POST', `/v1/holder/verifications/${id}/check`, { json: { code: await latestCode(phone) } })
    expect(checked.status).toBe(200)
    const session = (await checked.json()) as { token: string; phone: string; expiresAt: string }
    expect(session.token).toMatch(/^whodis_holder_[A-Za-z0-9_-]{43}$/)
    expect(session.phone).toBe(phone)
    const ttl = Date.parse(session.expiresAt) - Date.now()
    expect(ttl).toBeGreaterThan(29 * 60_000)
    expect(ttl).toBeLessThanOrEqual(30 * 60_000)
    // Stored under the token's SHA-256; the token itself appears nowhere in KV.
    const stored = await testEnv.DIRECTORY.getWithMetadata(holderKey(sha256Hex(session.token)), 'json')
    expect(stored.value).toMatchObject({ v: 1, phone })
    const keys = await testEnv.DIRECTORY.list({ prefix: 'holder:' })
    expect(keys.keys.some((k) => k.name.includes(session.token))).toBe(false)
    expect(keys.keys.find((k) => k.name === holderKey(sha256Hex(session.token)))?.expiration).toBeGreaterThan(Date.now() / 1000)

    const res = await call('GET', '/v1/holder/bindings', { token: session.token })
    expect(res.status).toBe(200)
    const body = (await res.json()) as any
    expect(body.phone).toBe(phone)
    expect(body.apps).toEqual(
      [
        { app: a.id, verifiedAt: va.binding.verifiedAt, expiresAt: va.binding.expiresAt },
        { app: b.id, verifiedAt: vb.binding.verifiedAt, expiresAt: vb.binding.expiresAt },
      ].sort((x, y) => x.app.localeCompare(y.app)),
    )
    // Entries newest first: the two adds, with their log indexes.
    expect(body.entries).toEqual([
      { index: vb.index, op: 'add', app: b.id, at: vb.binding.verifiedAt, reason: null },
      { index: va.index, op: 'add', app: a.id, at: va.binding.verifiedAt, reason: null },
    ])
    expect(body.more).toBe(false)
  })

  it('removes any app\'s binding (reason holder), visible in the log and the lookup', async () => {
    const a = await registerApp()
    const b = await registerApp()
    const phone = freshPhone()
    await verify(a.token, phone)
    await verify(b.token, phone)
    const token = await holderSession(phone)

    expect((await call('DELETE', `/v1/holder/bindings/${a.id}`, { token })).status).toBe(204)
    const view = (await (await call('GET', '/v1/holder/bindings', { token })).json()) as any
    expect(view.apps.map((x: { app: string }) => x.app)).toEqual([b.id])
    expect(view.entries[0]).toMatchObject({ op: 'remove', app: a.id, reason: 'holder' })
    const found = (await (await lookup(b.token, phone)).json()) as any
    expect(found.apps.map((x: { app: string }) => x.app)).toEqual([b.id])

    // Removing it again, or an app that never bound the number, or an app that does not exist: 404.
    await expectError(await call('DELETE', `/v1/holder/bindings/${a.id}`, { token }), 404, 'binding_not_found')
    await expectError(await call('DELETE', `/v1/holder/bindings/no-such-app`, { token }), 404, 'binding_not_found')
    await expectError(await call('DELETE', `/v1/holder/bindings/NOT_AN_ID`, { token }), 400, 'invalid_request')
    // The holder only ever touches their own number: another number's binding to b is untouched.
    const other = freshPhone()
    await verify(b.token, other)
    expect((await call('DELETE', `/v1/holder/bindings/${b.id}`, { token })).status).toBe(204)
    expect((await lookup(b.token, other)).status).toBe(200)
    expect((await lookup(b.token, phone)).status).toBe(404)
  })

  it('answers a number with no bindings with empty lists', async () => {
    const phone = freshPhone()
    const token = await holderSession(phone)
    expect(await (await call('GET', '/v1/holder/bindings', { token })).json()).toEqual({ phone, apps: [], entries: [], more: false })
  })

  it('rejects invalid numbers and malformed bodies with the API codes', async () => {
    for (const phone of ['6505550011', '+1 650 555', 'hello', '', '+16505550011; DROP TABLE', '<script>']) {
      await expectError(await holderStart(phone), 400, 'invalid_phone')
    }
    await expectError(await holderStart(16505550011), 400, 'invalid_request')
    await expectError(await call('POST', '/v1/holder/verifications', { json: {}, env: LIFTED }), 400, 'invalid_request')
    await expectError(
      await call('POST', '/v1/holder/verifications', { body: 'phone=%2B16505550011', headers: { 'Content-Type': 'application/x-www-form-urlencoded' } }),
      415,
      'unsupported_media_type',
    )
    await expectError(
      await call('POST', '/v1/holder/verifications', { body: '{"phone":', headers: { 'Content-Type': 'application/json' } }),
      400,
      'malformed_json',
    )
  })

  it('counts wrong codes exactly: 422 with attempts left, then 410 exhausted even for the right code', async () => {
    const phone = freshPhone()
    const { id } = (await (await holderStart(phone)).json()) as { id: string }
    const code = await latestCode(phone)
    const wrong = code === '000000' ? '111111' : '000000'
    for (let left = 4; left >= 0; left--) {
      const res = await call('POST', `/v1/holder/verifications/${id}/check`, { json: { code: wrong } })
      expect((await expectError(res, 422, 'wrong_code')).attemptsLeft).toBe(left)
    }
    await expectError(await call('POST', `/v1/holder/verifications/${id}/check`, { json: { code } }), 410, 'verification_exhausted')
  })

  it('opens one session per code: the same right code again is 410 verification_used', async () => {
    const phone = freshPhone()
    const { id } = (await (await holderStart(phone)).json()) as { id: string }
    const code = await latestCode(phone)
    expect((await call('POST', `/v1/holder/verifications/${id}/check`, { json: { code } })).status).toBe(200)
    await expectError(await call('POST', `/v1/holder/verifications/${id}/check`, { json: { code } }), 410, 'verification_used')
  })

  it('refuses a code after 10 minutes with 410', async () => {
    const phone = freshPhone()
    const { id } = (await (await holderStart(phone)).json()) as { id: string }
    const code = await latestCode(phone)
    await runInDurableObject(phoneChallenge(testEnv, testEnv.HMAC_SECRET!, phone), (_, state) => {
      state.storage.sql.exec('UPDATE challenges SET expires_at = ? WHERE id = ?', Date.now() - 1, id)
    })
    await expectError(await call('POST', `/v1/holder/verifications/${id}/check`, { json: { code } }), 410, 'verification_expired')
  })

  it('answers 404 for unknown ids, 400 for malformed codes, and keeps app and holder challenges apart', async () => {
    const phone = freshPhone()
    const { id } = (await (await holderStart(phone)).json()) as { id: string }
    const holderCode = await latestCode(phone)
    for (const bad of ['nope', id.slice(0, 95), 'f'.repeat(96), id.toUpperCase()]) {
      await expectError(await call('POST', `/v1/holder/verifications/${bad}/check`, { json: { code: '123456' } }), 404, 'verification_not_found')
    }
    for (const code of ['12345', '1234567', 'abcdef', 123456, '']) {
      await expectError(await call('POST', `/v1/holder/verifications/${id}/check`, { json: { code } }), 400, 'invalid_request')
    }
    // An app cannot finish a holder challenge (and bind the number) ...
    const app = await registerApp()
    await expectError(await call('POST', `/v1/verifications/${id}/check`, { token: app.token, json: { code: holderCode } }), 404, 'verification_not_found')
    // ... and a holder cannot finish an app's challenge.
    const appChallenge = await startVerification(app.token, phone)
    const appCode = await latestCode(phone)
    await expectError(await call('POST', `/v1/holder/verifications/${appChallenge}/check`, { json: { code: appCode } }), 404, 'verification_not_found')
    expect((await call('POST', `/v1/holder/verifications/${id}/check`, { json: { code: holderCode } })).status).toBe(200)
    // The reserved pseudo-app can never be registered.
    expect(HOLDER_APP).toBe('_holder')
    await expectError(await call('POST', '/v1/admin/apps', { token: testEnv.ADMIN_TOKEN, json: { id: HOLDER_APP, name: 'x' } }), 400, 'invalid_request')
  })

  it('caps holder codes per number per hour and per day, with the whole window as Retry-After', async () => {
    const phone = freshPhone()
    for (let i = 0; i < 2; i++) expect((await holderStart(phone)).status).toBe(201)
    const res = await holderStart(phone)
    const body = await expectError(res, 429, 'rate_limited')
    expect(body.error.message).toBe('too many codes sent to this number in the last hour')
    expect(res.headers.get('Retry-After')).toBe('3600')

    const daily = freshPhone()
    const env = { ...LIFTED, SMS_HOLDER_PER_NUMBER_HOUR: '100', SMS_HOLDER_PER_NUMBER_DAY: '3' }
    for (let i = 0; i < 3; i++) expect((await holderStart(daily, env)).status).toBe(201)
    const day = await holderStart(daily, env)
    expect((await expectError(day, 429, 'rate_limited')).error.message).toBe('too many codes sent to this number in the last day')
    expect(day.headers.get('Retry-After')).toBe('86400')
  })

  it('does not count holder codes against the apps\' per-country cap', async () => {
    const app = await registerApp()
    const env = { ...LIFTED, SMS_PER_COUNTRY_MINUTE: '2' }
    await resetLimit('sms-cc:61')
    for (let i = 0; i < 5; i++) expect((await holderStart(`+61 412 345 6${10 + i}`, env)).status).toBe(201)
    expect((await call('POST', '/v1/verifications', { token: app.token, json: { phone: '+61 412 345 620' }, env })).status).toBe(201)
    expect((await call('POST', '/v1/verifications', { token: app.token, json: { phone: '+61 412 345 621' }, env })).status).toBe(201)
    await expectError(await call('POST', '/v1/verifications', { token: app.token, json: { phone: '+61 412 345 622' }, env }), 429, 'rate_limited')
  })

  it('caps holder codes in all per minute (SMS_HOLDER_PER_MINUTE), apart from app sends', async () => {
    await resetLimit(HOLDER_SEND_LIMIT_KEY)
    const env = { SMS_HOLDER_PER_MINUTE: '2' }
    expect((await holderStart(freshPhone(), env)).status).toBe(201)
    expect((await holderStart(freshPhone(), env)).status).toBe(201)
    const res = await holderStart(freshPhone(), env)
    const body = await expectError(res, 429, 'rate_limited')
    expect(body.error.message).toMatch(/this page/)
    // Shared with every stranger: the whole window, not when someone else's code leaves it.
    expect(res.headers.get('Retry-After')).toBe('60')
    // Apps are not held back by it.
    const app = await registerApp()
    expect((await call('POST', '/v1/verifications', { token: app.token, json: { phone: freshPhone() }, env })).status).toBe(201)
    await expectError(await call('GET', '/v1/holder/bindings', { env: { SMS_HOLDER_PER_MINUTE: 'many' } }), 401, 'unauthorized')
    for (const name of ['SMS_HOLDER_PER_MINUTE', 'SMS_HOLDER_PER_NUMBER_HOUR', 'SMS_HOLDER_PER_NUMBER_DAY', 'SMS_HOLDER_PER_CLIENT_HOUR']) {
      await expectError(await holderStart(freshPhone(), { [name]: 'many' }), 503, 'not_configured')
    }
    await expectError(await holderStart(freshPhone(), { ...LIFTED, HOLDER_CLIENT_LIMIT: undefined }), 503, 'not_configured')
  })

  it('requires a live holder session: missing, malformed, unknown, expired, signed out and app tokens get 401', async () => {
    const phone = freshPhone()
    const token = await holderSession(phone)
    const app = await registerApp()
    for (const t of [undefined, 'x', 'whodis_holder_' + 'A'.repeat(43), token + 'x', app.token, testEnv.ADMIN_TOKEN]) {
      await expectError(await call('GET', '/v1/holder/bindings', { token: t }), 401, 'unauthorized')
      await expectError(await call('DELETE', `/v1/holder/bindings/${app.id}`, { token: t }), 401, 'unauthorized')
    }
    // Expired (KV expiration is lazy; the stored end time decides).
    const expired = await holderSession(phone)
    await testEnv.DIRECTORY.put(holderKey(sha256Hex(expired)), JSON.stringify({ v: 1, phone, expiresAt: Date.now() - 1 }))
    await expectError(await call('GET', '/v1/holder/bindings', { token: expired }), 401, 'unauthorized')
    // Signed out.
    expect((await call('GET', '/v1/holder/bindings', { token })).status).toBe(200)
    expect((await call('DELETE', '/v1/holder/session', { token })).status).toBe(204)
    await expectError(await call('GET', '/v1/holder/bindings', { token }), 401, 'unauthorized')
    await expectError(await call('DELETE', '/v1/holder/session', { token }), 401, 'unauthorized')
  })
})

// ---- the page -------------------------------------------------------------------------------

/** A browser without JavaScript: a cookie jar, forms posted URL-encoded, redirects not followed. */
class FormBrowser {
  readonly jar = new Map<string, string>()
  readonly setCookies: string[] = []
  constructor(
    private readonly env: Partial<Env> = LIFTED,
    private readonly base = 'http://whodis.test',
    readonly client = randomClient(),
  ) {}

  async request(method: string, path: string, fields?: Record<string, string>, headers: Record<string, string> = {}): Promise<Response> {
    const cookie = [...this.jar].map(([k, v]) => `${k}=${v}`).join('; ')
    const res = await testApp.request(
      this.base + path,
      {
        method,
        headers: {
          'CF-Connecting-IP': this.client,
          ...(cookie ? { Cookie: cookie } : {}),
          ...(fields ? { 'Content-Type': 'application/x-www-form-urlencoded' } : {}),
          ...headers,
        },
        body: fields ? new URLSearchParams(fields).toString() : undefined,
      },
      { ...testEnv, ...this.env },
    )
    for (const line of res.headers.getSetCookie()) {
      this.setCookies.push(line)
      const [pair] = line.split(';')
      const eq = pair!.indexOf('=')
      const name = pair!.slice(0, eq)
      if (/max-age=0/i.test(line)) this.jar.delete(name)
      else this.jar.set(name, pair!.slice(eq + 1))
    }
    return res
  }

  get(path: string) {
    return this.request('GET', path)
  }
  post(path: string, fields: Record<string, string>) {
    return this.request('POST', path, fields)
  }
}

/** The hidden `name` field of the form posting to `action` in `page`. */
function field(page: string, action: string, name = 'csrf'): string {
  const form = page.match(new RegExp(`<form[^>]* method="post" action="${action}"[^>]*>([\\s\\S]*?)</form>`))?.[1]
  const value = form?.match(new RegExp(`name="${name}" value="([^"]*)"`))?.[1]
  if (value === undefined) throw new Error(`no ${name} in form ${action}`)
  return value
}

async function pageText(res: Response): Promise<string> {
  expect(res.headers.get('Content-Type')).toMatch(/^text\/html; charset=utf-8$/i)
  return res.text()
}

function errorCode(page: string): string | undefined {
  return page.match(/role="alert"[^>]*data-error-code="([a-z_]+)"/)?.[1]
}

/** Goes through / → code → /me and returns the browser, holding a session for `phone`. */
async function signIn(phone: string, browser = new FormBrowser()): Promise<FormBrowser> {
  const start = await pageText(await browser.get('/'))
  const sent = await browser.post('/me/start', { csrf: field(start, '/me/start'), phone })
  expect(sent.status).toBe(303)
  const codePage = await pageText(await browser.get('/me/code'))
  const verified = await browser.post('/me/code', { csrf: field(codePage, '/me/code'), code: await latestCode(phone) })
  expect(verified.status).toBe(303)
  expect(verified.headers.get('Location')).toBe('/me')
  return browser
}

describe('the page: an app registered as ".." before app ids excluded it', () => {
  it('removes its binding from the page (the form names the app in the body, not the path)', async () => {
    const token = newAppToken()
    expect(await sequencer(testEnv).registerApp('..', 'Dots', sha256Hex(token))).toMatchObject({ ok: true })
    const phone = freshPhone()
    await verify(token, phone)
    const browser = await signIn(phone)
    const me = await pageText(await browser.get('/me'))
    expect(me).toContain('<h3>Dots</h3>')
    // The confirmation names the app in the query, and the removal in the body: never in a path.
    const confirm = await pageText(await browser.get('/me/remove?app=..'))
    const removed = await browser.post('/me/remove', { csrf: field(confirm, '/me/remove'), app: '..' })
    expect(removed.status).toBe(303)
    expect(removed.headers.get('Location')).toBe('/me?removed=..')
    const after = await pageText(await browser.get('/me?removed=..'))
    expect(after).not.toContain('<h3>Dots</h3>')
    expect(after).toContain('<td>Removed by you</td>')
  })
})

describe('the page: /', () => {
  it('renders an accessible form with security headers and a pre-session cookie', async () => {
    const browser = new FormBrowser()
    const res = await browser.get('/')
    expect(res.status).toBe(200)
    const page = await pageText(res)
    expect(res.headers.get('Content-Security-Policy')).toMatch(/default-src 'none'; style-src 'sha256-[A-Za-z0-9+/=]+'/)
    expect(res.headers.get('Content-Security-Policy')).toContain("form-action 'self'")
    expect(res.headers.get('Cache-Control')).toBe('no-store')
    expect(res.headers.get('X-Content-Type-Options')).toBe('nosniff')
    expect(page).toMatch(/^<!doctype html>\n<html lang="en">/)
    expect(page).toContain('<meta name="viewport" content="width=device-width, initial-scale=1">')
    expect(page).toContain('<main id="main"')
    expect(page).toContain('href="#main"')
    expect(page).toContain('<label for="phone">')
    expect(page).toMatch(/<input id="phone" name="phone" type="tel" inputmode="tel" autocomplete="tel"/)
    expect(page).toContain('aria-live="polite"')
    expect(page).toContain('<form class="stack" method="post" action="/me/start"')
    expect(page).not.toMatch(/<script/i)
    expect(field(page, '/me/start')).toMatch(/^[0-9a-f]{64}$/)
    const cookie = browser.setCookies.find((c) => c.startsWith('whodis_pre='))!
    expect(cookie).toMatch(/; HttpOnly/)
    expect(cookie).toMatch(/; SameSite=Strict/)
    expect(cookie).toMatch(/; Path=\//)
    expect(cookie).toMatch(/; Secure/)
    // The inline style sheet is exactly the one the CSP hash allows.
    const css = page.match(/<style>([\s\S]*?)<\/style>/)![1]!
    const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(css)))
    expect(res.headers.get('Content-Security-Policy')).toContain(`'sha256-${btoa(String.fromCharCode(...digest))}'`)
  })

  it('sets cookies without Secure only on plain-HTTP loopback', async () => {
    for (const base of ['http://127.0.0.1:8787', 'http://localhost:8787']) {
      const browser = new FormBrowser(LIFTED, base)
      await browser.get('/')
      expect(browser.setCookies[0]).not.toMatch(/Secure/)
    }
    const https = new FormBrowser(LIFTED, 'https://127.0.0.1')
    await https.get('/')
    expect(https.setCookies[0]).toMatch(/; Secure/)
  })

  it('leaves the API JSON-only', async () => {
    const app = await registerApp()
    await expectError(
      await call('POST', '/v1/verifications', { token: app.token, body: 'phone=%2B16505550011', headers: { 'Content-Type': 'application/x-www-form-urlencoded' } }),
      415,
      'unsupported_media_type',
    )
  })
})

describe('the page: the whole flow without JavaScript', () => {
  it('texts a code, verifies it, shows bindings and log entries, removes one, signs out', async () => {
    const a = await registerApp('holder-page-a', 'Page App A')
    const b = await registerApp('holder-page-b', 'Page App B')
    const phone = freshPhone()
    await verify(a.token, phone)
    await verify(b.token, phone)
    const browser = new FormBrowser()

    const start = await pageText(await browser.get('/'))
    const sent = await browser.post('/me/start', { csrf: field(start, '/me/start'), phone: `+1 (${phone.slice(2, 5)}) ${phone.slice(5, 8)}-${phone.slice(8)}` })
    expect(sent.status).toBe(303)
    expect(sent.headers.get('Location')).toBe('/me/code')
    const challengeCookie = browser.setCookies.find((c) => c.startsWith('whodis_challenge='))!
    expect(challengeCookie).toMatch(/Max-Age=600; Path=\/; HttpOnly; Secure; SameSite=Strict/)

    const codeRes = await browser.get('/me/code')
    expect(codeRes.status).toBe(200)
    const codePage = await pageText(codeRes)
    expect(codePage).toContain('autocomplete="one-time-code"')
    expect(codePage).toContain('inputmode="numeric"')
    expect(codePage).toContain(`+1 ${phone.slice(2, 5)} ${phone.slice(5, 8)} ${phone.slice(8)}`)
    const code = await latestCode(phone)

    // A wrong code: the same page, 422, the field marked invalid and described by the error.
    const wrong = await browser.post('/me/code', { csrf: field(codePage, '/me/code'), code: code === '000000' ? '111111' : '000000' })
    expect(wrong.status).toBe(422)
    const wrongPage = await pageText(wrong)
    expect(errorCode(wrongPage)).toBe('wrong_code')
    expect(wrongPage).toContain('You have 4 attempts left.')
    expect(wrongPage).toContain('aria-invalid="true"')
    expect(wrongPage).toContain('aria-describedby="code-error code-hint"')
    expect(wrongPage).toMatch(/<title>Error: /)

    // The right code, typed with a space: a session cookie and a redirect to /me.
    const ok = await browser.post('/me/code', { csrf: field(codePage, '/me/code'), code: `${code.slice(0, 3)} ${code.slice(3)}` })
    expect(ok.status).toBe(303)
    expect(ok.headers.get('Location')).toBe('/me')
    const sessionCookie = browser.setCookies.find((c) => c.startsWith('whodis_session='))!
    expect(sessionCookie).toMatch(/^whodis_session=whodis_holder_[A-Za-z0-9_-]{43}; Max-Age=1800; Path=\/; HttpOnly; Secure; SameSite=Strict$/)
    expect(browser.jar.has('whodis_challenge')).toBe(false)

    // Apps by the names people know (the SMS says "Page App A code: ..."), each with its id.
    const me = await pageText(await browser.get('/me'))
    expect(me).toContain('<h3>Page App A</h3><p class="app-id">App id: <code>holder-page-a</code></p>')
    expect(me).toContain('<h3>Page App B</h3><p class="app-id">App id: <code>holder-page-b</code></p>')
    expect(me).not.toContain('<h3>holder-page-a</h3>')
    expect(me).toContain('Apps that can find you (2)')
    expect(me.match(/<td>Added<\/td>\n<td>Page App [AB]<\/td>/g)).toHaveLength(2)
    // Remove asks first: on /me it is a GET to the confirmation, and no form here removes anything.
    expect(me).toContain(
      '<form method="get" action="/me/remove">\n<input type="hidden" name="app" value="holder-page-a">\n<button type="submit" class="danger">Remove<span class="vh"> Page App A</span></button>',
    )
    expect(me).not.toContain('<form method="post" action="/me/remove"')

    // Already signed in: / goes straight to /me.
    const again = await browser.get('/')
    expect(again.status).toBe(303)
    expect(again.headers.get('Location')).toBe('/me')

    // The confirmation says what removing does, by name, and changes nothing by itself.
    const confirmRes = await browser.get('/me/remove?app=holder-page-a')
    expect(confirmRes.status).toBe(200)
    expect(confirmRes.headers.get('Content-Security-Policy')).toMatch(/^default-src 'none'/)
    const confirm = await pageText(confirmRes)
    expect(confirm).toContain('<title>Remove Page App A from +1 ')
    expect(confirm).toContain('<h1>Remove Page App A?</h1>')
    expect(confirm).toContain('<button type="submit" class="danger">Yes, remove Page App A</button><a class="button secondary" href="/me">No, keep Page App A</a>')
    expect(field(confirm, '/me/remove', 'app')).toBe('holder-page-a')
    expect(confirm).not.toMatch(/<script/i)
    expect(((await (await lookup(b.token, phone)).json()) as any).apps.map((x: { app: string }) => x.app)).toEqual(['holder-page-a', 'holder-page-b'])

    const removed = await browser.post('/me/remove', { csrf: field(confirm, '/me/remove'), app: 'holder-page-a' })
    expect(removed.status).toBe(303)
    expect(removed.headers.get('Location')).toBe('/me?removed=holder-page-a')
    const after = await pageText(await browser.get('/me?removed=holder-page-a'))
    expect(after).toContain('role="status" aria-live="polite"><p>Removed Page App A.')
    expect(after).not.toContain('<h3>Page App A</h3>')
    expect(after).toContain('<h3>Page App B</h3>')
    expect(after).toContain('<td>Removed by you</td>\n<td>Page App A</td>')
    const found = (await (await lookup(b.token, phone)).json()) as any
    expect(found.apps.map((x: { app: string }) => x.app)).toEqual(['holder-page-b'])

    // Signing out ends the session everywhere it was used.
    const session = browser.jar.get('whodis_session')!
    const out = await browser.post('/me/signout', { csrf: field(after, '/me/signout') })
    expect(out.status).toBe(303)
    expect(out.headers.get('Location')).toBe('/?signedout=1')
    expect(browser.jar.has('whodis_session')).toBe(false)
    expect(await pageText(await browser.get('/?signedout=1'))).toContain('You are signed out.')
    await expectError(await call('GET', '/v1/holder/bindings', { token: session }), 401, 'unauthorized')
  })

  it('accepts a JSON-API session cookie-free, and a page session is the same kind of session', async () => {
    const phone = freshPhone()
    const browser = await signIn(phone)
    const token = browser.jar.get('whodis_session')!
    expect((await call('GET', '/v1/holder/bindings', { token })).status).toBe(200)
  })
})

describe('the page: errors with the API meanings, never a 500', () => {
  it('shows an invalid number on the form (400), keeping what was typed, escaped', async () => {
    const browser = new FormBrowser()
    const start = await pageText(await browser.get('/'))
    const hostile = '"><script>alert(1)</script><img src=x onerror=alert(2)>'
    const res = await browser.post('/me/start', { csrf: field(start, '/me/start'), phone: hostile })
    expect(res.status).toBe(400)
    const page = await pageText(res)
    expect(errorCode(page)).toBe('invalid_phone')
    expect(page).toContain('That is not a valid phone number.')
    expect(page).toContain('aria-invalid="true"')
    expect(page).toContain('<a href="#phone">')
    expect(page).toContain(`value="${escapeHtml(hostile)}"`)
    expect(page).not.toContain('<script>alert')
    expect(page).not.toContain('<img src=x')
    const empty = await browser.post('/me/start', { csrf: field(start, '/me/start'), phone: '' })
    expect(empty.status).toBe(400)
    expect(await empty.text()).toContain('Enter your phone number')
  })

  it('shows rate limits with when to retry (429 and Retry-After)', async () => {
    const browser = new FormBrowser({ ...LIFTED, SMS_HOLDER_PER_NUMBER_HOUR: '1' })
    const phone = freshPhone()
    const start = await pageText(await browser.get('/'))
    expect((await browser.post('/me/start', { csrf: field(start, '/me/start'), phone })).status).toBe(303)
    const res = await browser.post('/me/start', { csrf: field(start, '/me/start'), phone })
    expect(res.status).toBe(429)
    expect(res.headers.get('Retry-After')).toBe('3600')
    const page = await pageText(res)
    expect(errorCode(page)).toBe('rate_limited')
    expect(page).toContain('Too many codes sent to this number in the last hour.')
    expect(page).toMatch(/Try again in about 60 minutes \(after \d{1,2} [A-Z][a-z]{2} \d{4}, \d\d:\d\d UTC\)\./)
  })

  it('sends back to a new code when the code expired (410) or was exhausted (410)', async () => {
    const phone = freshPhone()
    const browser = new FormBrowser()
    const start = await pageText(await browser.get('/'))
    await browser.post('/me/start', { csrf: field(start, '/me/start'), phone })
    const codePage = await pageText(await browser.get('/me/code'))
    const id = browser.jar.get('whodis_challenge')!.slice(0, 96)
    await runInDurableObject(phoneChallenge(testEnv, testEnv.HMAC_SECRET!, phone), (_, state) => {
      state.storage.sql.exec('UPDATE challenges SET expires_at = ? WHERE id = ?', Date.now() - 1, id)
    })
    const expired = await browser.post('/me/code', { csrf: field(codePage, '/me/code'), code: await latestCode(phone) })
    expect(expired.status).toBe(410)
    const page = await pageText(expired)
    expect(errorCode(page)).toBe('verification_expired')
    expect(page).toContain('That code has expired.')
    expect(page).toContain(`name="phone" type="tel" inputmode="tel" autocomplete="tel" spellcheck="false" maxlength="64" required aria-describedby="phone-hint" value="${phone}"`)
    expect(browser.jar.has('whodis_challenge')).toBe(false)
    // With no pending challenge at all, posting a code is the same 410.
    const none = await browser.post('/me/code', { csrf: field(codePage, '/me/code'), code: '123456' })
    expect(none.status).toBe(410)

    // Exhausted: the fifth wrong code is the last.
    await browser.post('/me/start', { csrf: field(page, '/me/start'), phone })
    const codePage2 = await pageText(await browser.get('/me/code'))
    const right = await latestCode(phone)
    const wrong = right === '000000' ? '111111' : '000000'
    for (let i = 0; i < 4; i++) expect((await browser.post('/me/code', { csrf: field(codePage2, '/me/code'), code: wrong })).status).toBe(422)
    const last = await browser.post('/me/code', { csrf: field(codePage2, '/me/code'), code: wrong })
    expect(last.status).toBe(422)
    expect(await last.text()).toContain('it was the last attempt')
    expect(browser.jar.has('whodis_challenge')).toBe(false)
  })

  it('shows a malformed code on the code form (400)', async () => {
    const phone = freshPhone()
    const browser = new FormBrowser()
    const start = await pageText(await browser.get('/'))
    await browser.post('/me/start', { csrf: field(start, '/me/start'), phone })
    const codePage = await pageText(await browser.get('/me/code'))
    for (const code of ['', '12345', 'abcdef', '<b>123456</b>']) {
      const res = await browser.post('/me/code', { csrf: field(codePage, '/me/code'), code })
      expect(res.status).toBe(400)
      const page = await res.text()
      expect(errorCode(page)).toBe('invalid_request')
      expect(page).not.toContain('<b>123456')
    }
  })

  it('refuses forms without the right CSRF token (403) and changes nothing', async () => {
    const app = await registerApp()
    const phone = freshPhone()
    await verify(app.token, phone)
    const browser = await signIn(phone)
    const me = await pageText(await browser.get('/me'))
    const otherPhone = freshPhone()
    await verify(app.token, otherPhone)
    const other = await signIn(otherPhone)
    const otherMe = await pageText(await other.get('/me'))
    const start = await pageText(await new FormBrowser().get('/')) // another browser's number form

    // A removal takes the confirmation's token for that session and that app, nothing else: not
    // the session's own token (/me's forms: one click), not another app's, not another session's.
    const second = await registerApp()
    await verify(second.token, phone)
    const confirmFor = async (b: FormBrowser, id: string) => field(await pageText(await b.get(`/me/remove?app=${id}`)), '/me/remove')
    const confirmed = await confirmFor(browser, app.id)
    const forged = [
      ...[undefined, '', 'x', '0'.repeat(64), field(me, '/me/signout'), field(otherMe, '/me/signout'), confirmed.toUpperCase()],
      ...[await confirmFor(browser, second.id), await confirmFor(other, app.id)],
    ]
    for (const csrf of forged) {
      const res = await browser.post('/me/remove', { ...(csrf === undefined ? {} : { csrf }), app: app.id })
      expect(res.status).toBe(403)
      expect(errorCode(await pageText(res))).toBe('invalid_csrf')
    }
    expect(((await (await lookup(app.token, phone)).json()) as any).apps.map((x: { app: string }) => x.app)).toEqual([app.id, second.id].sort())
    expect((await browser.post('/me/remove', { csrf: confirmed, app: app.id })).status).toBe(303)
    const signout = await browser.post('/me/signout', { csrf: field(otherMe, '/me/signout') })
    expect(signout.status).toBe(403)
    expect((await browser.get('/me')).status).toBe(200)

    // The number form: bound to the pre-session cookie.
    const fresh = new FormBrowser()
    const freshStart = await pageText(await fresh.get('/'))
    expect((await fresh.post('/me/start', { phone: freshPhone() })).status).toBe(403)
    expect((await fresh.post('/me/start', { csrf: field(start, '/me/start').replace(/^./, (c) => (c === 'a' ? 'b' : 'a')), phone: freshPhone() })).status).toBe(403)
    const noCookie = new FormBrowser()
    expect((await noCookie.post('/me/start', { csrf: field(freshStart, '/me/start'), phone: freshPhone() })).status).toBe(403)
    // The code form: bound to the pending challenge.
    const target = freshPhone()
    await fresh.post('/me/start', { csrf: field(freshStart, '/me/start'), phone: target })
    const res = await fresh.post('/me/code', { csrf: field(freshStart, '/me/start'), code: await latestCode(target) })
    expect(res.status).toBe(403)
    expect(errorCode(await res.text())).toBe('invalid_csrf')
  })

  it('answers a missing, forged or expired session with 401 and the number form', async () => {
    const anonymous = new FormBrowser()
    const res = await anonymous.get('/me')
    expect(res.status).toBe(401)
    const page = await pageText(res)
    expect(errorCode(page)).toBe('unauthorized')
    expect(page).toContain('action="/me/start"')

    const forged = new FormBrowser()
    forged.jar.set('whodis_session', 'whodis_holder_' + 'A'.repeat(43))
    expect((await forged.get('/me')).status).toBe(401)
    expect(forged.setCookies.some((c) => /^whodis_session=;.*Max-Age=0/.test(c))).toBe(true)
    const garbage = new FormBrowser()
    garbage.jar.set('whodis_session', '<script>')
    expect((await garbage.post('/me/remove', { csrf: '0'.repeat(64), app: 'appa' })).status).toBe(401)

    const phone = freshPhone()
    const browser = await signIn(phone)
    const token = browser.jar.get('whodis_session')!
    await testEnv.DIRECTORY.put(holderKey(sha256Hex(token)), JSON.stringify({ v: 1, phone, expiresAt: Date.now() - 1 }))
    expect((await browser.get('/me')).status).toBe(401)
  })

  it('shows removing a binding that does not exist as 404, with hostile app ids escaped', async () => {
    const app = await registerApp()
    const phone = freshPhone()
    await verify(app.token, phone)
    const browser = await signIn(phone)
    const unbound = await registerApp()
    for (const target of ['no-such-app', unbound.id, '<img src=x onerror=alert(1)>', '']) {
      const res = await browser.get(`/me/remove?app=${encodeURIComponent(target)}`)
      expect(res.status).toBe(404)
      const page = await pageText(res)
      expect(errorCode(page)).toBe('binding_not_found')
      expect(page).not.toContain('<img src=x')
      expect(page).toContain(`<h3>App ${app.id}</h3>`)
    }
    expect((await browser.get('/me/remove')).status).toBe(404)
    const csrf = field(await pageText(await browser.get(`/me/remove?app=${app.id}`)), '/me/remove')
    expect((await browser.post('/me/remove', { csrf, app: app.id })).status).toBe(303)
    const twice = await browser.post('/me/remove', { csrf, app: app.id })
    expect(twice.status).toBe(404)
    expect(errorCode(await pageText(twice))).toBe('binding_not_found')
    expect((await browser.get(`/me/remove?app=${app.id}`)).status).toBe(404)
    // A reflected ?removed= is announced only for a registered app that is not bound: never
    // markup, never an app that is still there.
    const stillBound = await registerApp()
    await verify(stillBound.token, phone)
    for (const removed of ['%3Cscript%3Ealert(1)%3C%2Fscript%3E', stillBound.id, 'no-such-app']) {
      const page = await pageText(await browser.get(`/me?removed=${removed}`))
      expect(page).not.toContain('<script')
      expect(page).toContain('<div role="status" aria-live="polite"></div>')
    }
  })

  it('renders bodies that are not forms (415), too large (413) and unknown pages (404) as pages', async () => {
    const browser = new FormBrowser()
    await browser.get('/')
    const json = await browser.request('POST', '/me/start', undefined, { 'Content-Type': 'application/json' })
    expect(json.status).toBe(415)
    expect(errorCode(await pageText(json))).toBe('unsupported_media_type')
    const big = await browser.post('/me/start', { phone: 'x'.repeat(17 * 1024) })
    expect(big.status).toBe(413)
    expect(errorCode(await pageText(big))).toBe('body_too_large')
    const unknown = await browser.request('GET', '/me/%3Cscript%3E', undefined, { Accept: 'text/html,*/*;q=0.8' })
    expect(unknown.status).toBe(404)
    const page = await pageText(unknown)
    expect(errorCode(page)).toBe('not_found')
    expect(page).not.toContain('<script>')
    expect((await browser.get('/me/code')).status).toBe(303) // no pending challenge: back to the start
  })

  it('renders a misconfigured directory as a 503 page, not a 500', async () => {
    const browser = new FormBrowser({ ...LIFTED, SMS_PROVIDER: 'nope' })
    const start = await pageText(await browser.get('/'))
    const res = await browser.post('/me/start', { csrf: field(start, '/me/start'), phone: freshPhone() })
    expect(res.status).toBe(503)
    expect(errorCode(await pageText(res))).toBe('not_configured')
  })
})

describe('holder logs', () => {
  afterEach(() => vi.restoreAllMocks())

  it('never hold the number, the code, the session token or a CSRF token', async () => {
    const lines: string[] = []
    for (const level of ['log', 'warn', 'error', 'info', 'debug'] as const) {
      vi.spyOn(console, level).mockImplementation((...args: unknown[]) => void lines.push(args.map(String).join(' ')))
    }
    const app = await registerApp()
    const phone = freshPhone()
    await verify(app.token, phone)
    const browser = await signIn(phone)
    const confirm = await pageText(await browser.get(`/me/remove?app=${app.id}`))
    expect((await browser.post('/me/remove', { csrf: field(confirm, '/me/remove'), app: app.id })).status).toBe(303)
    const token = browser.jar.get('whodis_session')!
    await call('GET', '/v1/holder/bindings', { token })
    const code = (await latestCode(phone))
    expect(lines.some((l) => JSON.parse(l).event === 'binding_removed_by_holder')).toBe(true)
    for (const line of lines) {
      expect(() => JSON.parse(line)).not.toThrow()
      expect(line).not.toContain(phone.slice(2))
      expect(line).not.toContain(token)
      expect(line).not.toContain(field(confirm, '/me/remove'))
      expect(line).not.toMatch(new RegExp(`"${code}"|: ${code}`))
    }
  })
})

describe('html templates', () => {
  it('escape every interpolated value, and only template output passes through', () => {
    const hostile = `<script>"&'</script>`
    expect(html`<p title="${hostile}">${hostile}</p>`.value).toBe(
      '<p title="&lt;script&gt;&quot;&amp;&#39;&lt;/script&gt;">&lt;script&gt;&quot;&amp;&#39;&lt;/script&gt;</p>',
    )
    expect(html`<ul>${['<a>', html`<li>${'<b>'}</li>`]}</ul>`.value).toBe('<ul>&lt;a&gt;<li>&lt;b&gt;</li></ul>')
    expect(html`${null}${undefined}${false}${0}`.value).toBe('0')
  })
})
