/**
 * Attacks on the unauthenticated holder flow: floods, parallel starts, window boundaries,
 * budgets that must not touch, refusals that must not tell a stranger anything. Time is injected
 * through startHolderVerification's `now`; no test waits for a window to pass.
 */
import { runInDurableObject } from 'cloudflare:test'
import { describe, expect, it } from 'vitest'
import { UNKNOWN_CLIENT } from '../../src/client-address.ts'
import { clientTag } from '../../src/crypto.ts'
import { phoneChallenge } from '../../src/durable-objects/stubs.ts'
import type { Env } from '../../src/env.ts'
import { ApiError } from '../../src/errors.ts'
import { createLogger } from '../../src/log.ts'
import { HOLDER_CLIENT_LIMIT_PREFIX, HOLDER_CLIENT_SHIELD, HOLDER_SEND_LIMIT_KEY, startHolderVerification } from '../../src/routes/holder-flow.ts'
import { call, expectError, freshPhone, randomClient, registerApp, startVerification, testEnv } from './helpers.ts'

const MINUTE = 60_000
const HOUR = 60 * MINUTE
/** A shield that lets everything through, so a test reaches the exact caps behind it. */
const OPEN_SHIELD = { limit: async () => ({ success: true }) } as RateLimit
/** Lifts the caps a test is not about (each test names the ones it attacks). */
const LIFTED: Partial<Env> = { SMS_HOLDER_PER_MINUTE: '100000', SMS_HOLDER_PER_CLIENT_HOUR: '100000', HOLDER_CLIENT_LIMIT: OPEN_SHIELD }
/** A whole minute well after now: any alarm a take sets fires after the test. */
const futureMinute = (ahead = 10) => Math.ceil((Date.now() + ahead * MINUTE) / MINUTE) * MINUTE

async function resetLimit(key: string) {
  await runInDurableObject(testEnv.LIMITER.getByName(key), (_, state) => void state.storage.sql.exec('DELETE FROM slots'))
}

/** One holder start at `now` through the shared flow: 201's fields, or the ApiError it refused with. */
async function startAt(phone: string, client: string | undefined, now: number, env: Partial<Env> = {}) {
  try {
    return await startHolderVerification({ ...testEnv, ...LIFTED, ...env } as Env, phone, client, createLogger(), now)
  } catch (err) {
    if (err instanceof ApiError) return err
    throw err
  }
}

function refusal(result: unknown) {
  expect(result).toBeInstanceOf(ApiError)
  const err = result as ApiError
  expect(err.status).toBe(429)
  return { message: err.message, retryAfter: err.retryAfter, extra: err.extra }
}

async function holderStart(phone: string, opts: { env?: Partial<Env>; client?: string | null } = {}) {
  return call('POST', '/v1/holder/verifications', { json: { phone }, env: { ...LIFTED, ...opts.env }, client: opts.client })
}

async function messagesTo(phone: string): Promise<number> {
  const res = await call('GET', `/dev/outbox?phone=${encodeURIComponent(phone)}`, { token: testEnv.ADMIN_TOKEN })
  return ((await res.json()) as { messages: unknown[] }).messages.length
}

describe('holder codes have their own budget per number', () => {
  it('holder spam does not lock apps out of a number', async () => {
    const app = await registerApp()
    const phone = freshPhone()
    for (let i = 0; i < 2; i++) expect((await holderStart(phone)).status).toBe(201)
    await expectError(await holderStart(phone), 429, 'rate_limited')
    for (let i = 0; i < 5; i++) await startVerification(app.token, phone)
    const res = await call('POST', '/v1/verifications', { token: app.token, json: { phone } })
    await expectError(res, 429, 'rate_limited')
    expect(Number(res.headers.get('Retry-After'))).toBeGreaterThan(3590)
  })

  it('app codes do not lock the holder out of their number', async () => {
    const app = await registerApp()
    const phone = freshPhone()
    for (let i = 0; i < 5; i++) await startVerification(app.token, phone)
    await expectError(await call('POST', '/v1/verifications', { token: app.token, json: { phone } }), 429, 'rate_limited')
    expect((await holderStart(phone)).status).toBe(201)
  })

  it('slides: a holder code counts for exactly an hour', async () => {
    const phone = freshPhone()
    const t = futureMinute()
    expect(await startAt(phone, randomClient(), t)).toHaveProperty('id')
    expect(await startAt(phone, randomClient(), t + 30 * MINUTE)).toHaveProperty('id')
    refusal(await startAt(phone, randomClient(), t + HOUR - 1))
    expect(await startAt(phone, randomClient(), t + HOUR)).toHaveProperty('id')
    refusal(await startAt(phone, randomClient(), t + HOUR + 29 * MINUTE))
  })
})

describe('parallel starts never pass a cap', () => {
  it('per number: 20 at once send exactly SMS_HOLDER_PER_NUMBER_HOUR codes', async () => {
    const phone = freshPhone()
    const results = await Promise.all(Array.from({ length: 20 }, () => holderStart(phone)))
    expect(results.map((r) => r.status).sort()).toEqual([...Array(2).fill(201), ...Array(18).fill(429)])
    expect(await messagesTo(phone)).toBe(2)
  })

  it('per client: 20 at once from one address send exactly SMS_HOLDER_PER_CLIENT_HOUR codes', async () => {
    const client = randomClient()
    const phones = Array.from({ length: 20 }, () => freshPhone())
    const env = { SMS_HOLDER_PER_CLIENT_HOUR: '5' }
    const results = await Promise.all(phones.map((phone) => holderStart(phone, { env, client })))
    expect(results.filter((r) => r.status === 201)).toHaveLength(5)
    expect((await Promise.all(phones.map(messagesTo))).reduce((a, b) => a + b, 0)).toBe(5)
  })

  it('in all: 20 at once from 20 addresses send exactly SMS_HOLDER_PER_MINUTE codes', async () => {
    await resetLimit(HOLDER_SEND_LIMIT_KEY)
    const phones = Array.from({ length: 20 }, () => freshPhone())
    const results = await Promise.all(phones.map((phone) => holderStart(phone, { env: { SMS_HOLDER_PER_MINUTE: '3' } })))
    expect(results.filter((r) => r.status === 201)).toHaveLength(3)
    expect((await Promise.all(phones.map(messagesTo))).reduce((a, b) => a + b, 0)).toBe(3)
  })
})

describe('windows slide', () => {
  it('30 starts at :58 and 30 at :00 send 30 codes, not 60; the next minute frees them', { timeout: 30_000 }, async () => {
    await resetLimit(HOLDER_SEND_LIMIT_KEY)
    const env = { SMS_HOLDER_PER_MINUTE: '30' }
    const client = randomClient() // the per-client cap is lifted; one client keeps the test to one object of it
    const t58 = futureMinute() + 58_000
    for (let i = 0; i < 30; i++) expect(await startAt(freshPhone(), client, t58, env)).toHaveProperty('id')
    for (let i = 0; i < 30; i++) {
      expect(refusal(await startAt(freshPhone(), client, t58 + 2_000 + i * 100, env))).toEqual({
        message: 'too many codes sent from this page (30 per 60 s)',
        retryAfter: 60,
        extra: {},
      })
    }
    expect(await startAt(freshPhone(), client, t58 + MINUTE, env)).toHaveProperty('id')
  })

  it("a client's hour slides too, and its Retry-After is when its own first request leaves", async () => {
    const client = randomClient()
    const env = { SMS_HOLDER_PER_CLIENT_HOUR: '5' }
    const t58 = futureMinute() + 58 * MINUTE
    for (let i = 0; i < 5; i++) expect(await startAt(freshPhone(), client, t58 + i, env)).toHaveProperty('id')
    const next = t58 + 2 * MINUTE
    expect(refusal(await startAt(freshPhone(), client, next, env))).toEqual({
      message: 'too many codes requested from this address (5 per 3600 s)',
      retryAfter: (t58 + HOUR - next) / 1000,
      extra: {},
    })
    expect(await startAt(freshPhone(), client, t58 + HOUR, env)).toHaveProperty('id')
  })
})

describe('per-client limits', () => {
  it('count each address apart: one client spent does not refuse another', async () => {
    const [a, b] = [randomClient(), randomClient()]
    const env = { SMS_HOLDER_PER_CLIENT_HOUR: '2' }
    for (let i = 0; i < 2; i++) expect((await holderStart(freshPhone(), { env, client: a })).status).toBe(201)
    const res = await holderStart(freshPhone(), { env, client: a })
    expect((await expectError(res, 429, 'rate_limited')).error.message).toMatch(/from this address/)
    expect((await holderStart(freshPhone(), { env, client: b })).status).toBe(201)
  })

  it('count an IPv6 client by its /64', async () => {
    const env = { SMS_HOLDER_PER_CLIENT_HOUR: '2' }
    const net = `2001:db8:${(crypto.getRandomValues(new Uint16Array(1))[0]!).toString(16)}:7`
    expect((await holderStart(freshPhone(), { env, client: `${net}::1` })).status).toBe(201)
    expect((await holderStart(freshPhone(), { env, client: `${net}:ffff:0:0:9` })).status).toBe(201)
    await expectError(await holderStart(freshPhone(), { env, client: `${net}:0:abcd::42` }), 429, 'rate_limited')
    expect((await holderStart(freshPhone(), { env, client: `${net.replace(/:7$/, ':8')}::1` })).status).toBe(201)
  })

  it('count requests without an address as one client, not each as a new one', async () => {
    await resetLimit(HOLDER_CLIENT_LIMIT_PREFIX + clientTag(testEnv.HMAC_SECRET!, UNKNOWN_CLIENT))
    const env = { SMS_HOLDER_PER_CLIENT_HOUR: '2' }
    for (let i = 0; i < 2; i++) expect((await holderStart(freshPhone(), { env, client: null })).status).toBe(201)
    await expectError(await holderStart(freshPhone(), { env, client: null }), 429, 'rate_limited')
    await expectError(await holderStart(freshPhone(), { env, client: 'not an address' }), 429, 'rate_limited')
    expect((await holderStart(freshPhone(), { env, client: randomClient() })).status).toBe(201)
  })

  it('the rate-limit binding turns a flood from one address away before any Durable Object', async () => {
    const client = randomClient()
    const phones = Array.from({ length: 12 }, () => freshPhone())
    const results: Response[] = []
    for (const phone of phones) results.push(await holderStart(phone, { client, env: { HOLDER_CLIENT_LIMIT: testEnv.HOLDER_CLIENT_LIMIT } }))
    const passed = results.filter((r) => r.status === 201).length
    // The binding counts a fixed period per location: a flood that straddles a boundary sees two.
    expect(passed).toBeGreaterThanOrEqual(HOLDER_CLIENT_SHIELD.limit)
    expect(passed).toBeLessThanOrEqual(2 * HOLDER_CLIENT_SHIELD.limit)
    const refused = results.filter((r) => r.status === 429)
    expect(refused.length).toBe(12 - passed)
    for (const res of refused) {
      expect(res.headers.get('Retry-After')).toBe(String(HOLDER_CLIENT_SHIELD.periodS))
      expect((await res.json()) as unknown).toEqual({ error: { code: 'rate_limited', message: 'too many requests from this address (5 per 60 s)' } })
    }
    expect((await Promise.all(phones.map(messagesTo))).reduce((a, b) => a + b, 0)).toBe(passed)
    // What the shield refused never reached the client's exact cap.
    const counted = await runInDurableObject(
      testEnv.LIMITER.getByName(HOLDER_CLIENT_LIMIT_PREFIX + clientTag(testEnv.HMAC_SECRET!, client)),
      (_, state) => state.storage.sql.exec<{ n: number }>('SELECT SUM(count) AS n FROM slots').one().n,
    )
    expect(counted).toBe(passed)
  })

  it('the page counts each browser by its address', async () => {
    const env = { ...LIFTED, SMS_HOLDER_PER_CLIENT_HOUR: '1' }
    const a = randomClient()
    const post = async (client: string) => {
      const headers = { 'CF-Connecting-IP': client }
      const start = await call('GET', '/', { headers, env })
      const pre = start.headers.getSetCookie().find((c) => c.startsWith('whodis_pre='))!.split(';')[0]!
      const csrf = (await start.text()).match(/name="csrf" value="([0-9a-f]{64})"/)![1]!
      return call('POST', '/me/start', {
        headers: { ...headers, Cookie: pre, 'Content-Type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ csrf, phone: freshPhone() }).toString(),
        env,
      })
    }
    expect((await post(a)).status).toBe(303)
    const refused = await post(a)
    expect(refused.status).toBe(429)
    expect(await refused.text()).toContain('Too many codes requested from this address.')
    expect((await post(randomClient())).status).toBe(303)
  })
})

describe('a refusal tells the caller nothing about sends it did not make', () => {
  it("a holder's 429 is the same whoever sent what, and when", async () => {
    const app = await registerApp()
    const [busy, quiet] = [freshPhone(), freshPhone()]
    for (let i = 0; i < 5; i++) await startVerification(app.token, busy)
    for (const phone of [busy, quiet]) for (let i = 0; i < 2; i++) expect((await holderStart(phone)).status).toBe(201)
    // The busy number's holder codes were sent 50 minutes ago, the quiet one's just now.
    await runInDurableObject(phoneChallenge(testEnv, testEnv.HMAC_SECRET!, busy), (_, state) => {
      state.storage.sql.exec("UPDATE sends SET at = at - ? WHERE budget = 'holder'", 50 * MINUTE)
    })
    const answers = await Promise.all([busy, quiet].map(async (phone) => {
      const res = await holderStart(phone)
      return { status: res.status, retryAfter: res.headers.get('Retry-After'), body: await res.json() }
    }))
    expect(answers[0]).toEqual({
      status: 429,
      retryAfter: '3600',
      body: { error: { code: 'rate_limited', message: 'too many codes sent to this number in the last hour' } },
    })
    expect(answers[1]).toEqual(answers[0])
  })

  it("an app's 429 derives only from app sends, never from holder sends", async () => {
    const app = await registerApp()
    const phone = freshPhone()
    for (let i = 0; i < 2; i++) expect((await holderStart(phone)).status).toBe(201)
    await runInDurableObject(phoneChallenge(testEnv, testEnv.HMAC_SECRET!, phone), (_, state) => {
      state.storage.sql.exec("UPDATE sends SET at = at - ? WHERE budget = 'holder'", 50 * MINUTE)
    })
    for (let i = 0; i < 5; i++) await startVerification(app.token, phone)
    const res = await call('POST', '/v1/verifications', { token: app.token, json: { phone } })
    await expectError(res, 429, 'rate_limited')
    // The app's own oldest send is seconds old: nearly the whole hour, not the ten minutes the holder's would say.
    expect(Number(res.headers.get('Retry-After'))).toBeGreaterThan(3590)
  })

  it("an app's per-number Retry-After is the same with or without holder sends (time injected)", async () => {
    const t = futureMinute()
    const wait = async (withHolder: boolean) => {
      const phone = freshPhone()
      const challenge = phoneChallenge(testEnv, testEnv.HMAC_SECRET!, phone)
      const start = (budget: 'app' | 'holder', now: number) =>
        challenge.start({ id: challenge.id.toString() + crypto.randomUUID().replace(/-/g, ''), app: 'x', phone, publicKey: null, codeMac: '00', now, budget, perHour: budget === 'app' ? 5 : 2, perDay: 10 })
      if (withHolder) for (const at of [t, t + MINUTE]) expect((await start('holder', at)).ok).toBe(true)
      for (let i = 0; i < 5; i++) expect((await start('app', t + 10 * MINUTE + i * MINUTE)).ok).toBe(true)
      return start('app', t + 20 * MINUTE)
    }
    const expected = { ok: false, window: 'hour', retryAfterMs: t + 10 * MINUTE + HOUR - (t + 20 * MINUTE) }
    expect(await wait(true)).toEqual(expected)
    expect(await wait(false)).toEqual(expected)
  })
})
