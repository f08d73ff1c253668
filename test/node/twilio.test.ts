/**
 * TwilioSender against a loopback fake of Twilio's Messages API (see fake-twilio.ts): what it
 * sends, and how every kind of failure maps to an SmsError kind.
 */
import fc from 'fast-check'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { SmsError, type SmsFailure } from '../../src/adapters/sms/sender.ts'
import { TwilioSender, type TwilioConfig } from '../../src/adapters/sms/twilio.ts'
import { hexSid, refusedUrl, segmentCount, startFakeTwilio, type FakeMode, type FakeTwilio } from './fake-twilio.ts'

const FROM = '+16505550100'
const TO = '+14155550123'
const SERVICE = 'MG' + '0123456789abcdef'.repeat(2)

let fake: FakeTwilio

beforeAll(async () => {
  fake = await startFakeTwilio()
})
afterAll(async () => {
  await fake?.close()
})
beforeEach(() => {
  fake.reset()
})

/**
 * A sender against the fake. Its timeout is a safety net far above any loopback answer, however
 * loaded the machine (a starved test process must not turn into a failed send); the tests of the
 * timeout set their own.
 */
function sender(overrides: Partial<TwilioConfig> = {}, fetcher?: typeof fetch): TwilioSender {
  return new TwilioSender(
    { accountSid: fake.accountSid, authToken: fake.authToken, from: FROM, apiBase: fake.url, timeoutMs: 120_000, ...overrides },
    fetcher,
  )
}

/** Runs `send` and returns the SmsError it must reject with. */
async function failure(send: Promise<unknown>): Promise<SmsError> {
  const err = await send.then(
    (value) => {
      throw new Error(`expected an SmsError, got ${JSON.stringify(value)}`)
    },
    (e: unknown) => e,
  )
  expect(err).toBeInstanceOf(SmsError)
  const smsError = err as SmsError
  expect(smsError.name).toBe('SmsError')
  // Errors end up in logs and API answers: never the auth token.
  expect(smsError.message).not.toContain(fake.authToken)
  return smsError
}

function onlyRequest() {
  expect(fake.requests).toHaveLength(1)
  return fake.requests[0]!
}

describe('what TwilioSender sends', () => {
  it('POSTs the documented form with basic auth, and returns the message sid', async () => {
    const result = await sender().send({ to: TO, body: 'App A code: 123456' })

    const req = onlyRequest()
    expect(req.method).toBe('POST')
    expect(req.url).toBe(`/2010-04-01/Accounts/${fake.accountSid}/Messages.json`)
    expect(req.headers.authorization).toBe(`Basic ${Buffer.from(`${fake.accountSid}:${fake.authToken}`).toString('base64')}`)
    expect(req.auth).toEqual({ username: fake.accountSid, password: fake.authToken })
    expect(req.headers['content-type']).toBe('application/x-www-form-urlencoded')
    expect(req.headers.accept).toBe('application/json')
    expect(req.form).not.toBeNull()
    expect([...req.form!.keys()].sort()).toEqual(['Body', 'From', 'To'])
    expect(Object.fromEntries(req.form!)).toEqual({ To: TO, From: FROM, Body: 'App A code: 123456' })
    expect(req.answered).toBe(201)

    expect(fake.messages).toHaveLength(1)
    const message = fake.messages[0]!
    expect(result).toEqual({ providerId: message.sid })
    expect(result.providerId).toMatch(/^SM[0-9a-f]{32}$/)
    expect(message).toMatchObject({ to: TO, from: FROM, body: 'App A code: 123456', status: 'queued', account_sid: fake.accountSid })
  })

  it('sends MessagingServiceSid instead of From when configured with a Messaging Service', async () => {
    const result = await sender({ from: undefined, messagingServiceSid: SERVICE }).send({ to: TO, body: 'hi' })
    const form = onlyRequest().form!
    expect(Object.fromEntries(form)).toEqual({ To: TO, Body: 'hi', MessagingServiceSid: SERVICE })
    expect(result.providerId).toBe(fake.messages[0]!.sid)
    expect(fake.messages[0]).toMatchObject({ status: 'accepted', from: null, messaging_service_sid: SERVICE })
  })

  it('sends exactly one of From and MessagingServiceSid when both are configured (the service wins)', async () => {
    await sender({ from: FROM, messagingServiceSid: SERVICE }).send({ to: TO, body: 'hi' })
    const form = onlyRequest().form!
    expect(form.has('From')).toBe(false)
    expect(form.getAll('MessagingServiceSid')).toEqual([SERVICE])
  })

  it('accepts an alphanumeric sender ID as From', async () => {
    await sender({ from: 'Whodis' }).send({ to: TO, body: 'hi' })
    expect(onlyRequest().form!.get('From')).toBe('Whodis')
    expect(fake.messages[0]!.from).toBe('Whodis')
  })

  it('passes Body through verbatim: unicode, emoji, form metacharacters, newlines', async () => {
    const bodies = [
      'Código de App Ñ: 123456',
      '你的验证码是 123456 🎉👩‍👩‍👧',
      'a+b=c & d%20e?f#g;h',
      'line one\nline two\r\nline three\ttabbed',
      '  leading and trailing spaces  ',
      'RTL: رمز التحقق ١٢٣٤٥٦',
    ]
    for (const body of bodies) {
      fake.reset()
      await sender().send({ to: TO, body })
      expect(onlyRequest().form!.get('Body')).toBe(body)
      expect(fake.messages[0]!.body).toBe(body)
    }
  })

  it('passes any body of valid Unicode through verbatim (property)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.string({ unit: 'binary', minLength: 1, maxLength: 200 }), async (body) => {
        fake.reset()
        const { providerId } = await sender().send({ to: TO, body })
        const req = onlyRequest()
        expect(req.form!.get('Body')).toBe(body)
        expect(providerId).toBe(fake.messages[0]!.sid)
      }),
      { numRuns: 60 },
    )
  })

  it('percent-encodes the account SID into the path and strips trailing slashes from apiBase', async () => {
    // The fake only knows its own account, so a foreign SID fails auth, but the path is visible.
    const err = await failure(sender({ accountSid: 'AC/../x y', apiBase: `${fake.url}//` }).send({ to: TO, body: 'hi' }))
    expect(err.kind).toBe('unauthorized')
    expect(onlyRequest().url).toBe('/2010-04-01/Accounts/AC%2F..%2Fx%20y/Messages.json')
  })

  it('uses the injected fetcher', async () => {
    const seen: string[] = []
    const fetcher: typeof fetch = (input, init) => {
      seen.push(`${init?.method} ${String(input)}`)
      return fetch(input, init)
    }
    const result = await sender({}, fetcher).send({ to: TO, body: 'hi' })
    expect(seen).toEqual([`POST ${fake.url}/2010-04-01/Accounts/${fake.accountSid}/Messages.json`])
    expect(result.providerId).toBe(fake.messages[0]!.sid)
  })

  it('does not retry on its own: one send, one request, whatever the outcome', async () => {
    fake.mode = { kind: 'serverError', status: 503 }
    await failure(sender().send({ to: TO, body: 'hi' }))
    expect(fake.requests).toHaveLength(1)
  })
})

describe('how failures map to SmsError kinds', () => {
  it('wrong auth token: 401 / 20003 → unauthorized', async () => {
    const err = await failure(sender({ authToken: 'not-the-token' }).send({ to: TO, body: 'hi' }))
    expect(err.kind).toBe('unauthorized')
    expect(err.message).toBe('SMS provider error 401 (code 20003)')
    expect(err.retryAfter).toBeUndefined()
    expect(onlyRequest().answered).toBe(401)
    expect(fake.messages).toHaveLength(0)
  })

  it('wrong account SID: 401 → unauthorized', async () => {
    const err = await failure(sender({ accountSid: hexSid('AC') }).send({ to: TO, body: 'hi' }))
    expect(err.kind).toBe('unauthorized')
  })

  it('403 (e.g. 20008, test credentials on a live resource) → unauthorized', async () => {
    fake.once({ kind: 'error', status: 403, code: 20008, message: 'Resource not accessible with Test Account Credentials' })
    const err = await failure(sender().send({ to: TO, body: 'hi' }))
    expect(err.kind).toBe('unauthorized')
    expect(err.message).toBe('SMS provider error 403 (code 20008)')
  })

  // Twilio's magic test numbers, and the code each produces.
  it.each([
    ['+15005550001', 21211],
    ['+15005550002', 21612],
    ['+15005550003', 21408],
    ['+15005550004', 21610],
    ['+15005550009', 21614],
  ])('%s: 400 / %i → undeliverable', async (to, code) => {
    const err = await failure(sender().send({ to, body: 'hi' }))
    expect(err.kind).toBe('undeliverable')
    expect(err.message).toBe(`SMS provider error 400 (code ${code})`)
    expect(onlyRequest().answered).toBe(400)
  })

  it('a To that is not E.164: 400 / 21211 → undeliverable', async () => {
    const err = await failure(sender().send({ to: '6505550011', body: 'hi' }))
    expect(err.kind).toBe('undeliverable')
    expect(err.message).toContain('21211')
  })

  it('21214 (To not reachable) → undeliverable', async () => {
    fake.undeliverable('+447700900123', 21214)
    const err = await failure(sender().send({ to: '+447700900123', body: 'hi' }))
    expect(err.kind).toBe('undeliverable')
  })

  it.each<[string, Partial<TwilioConfig>, string, number]>([
    ['an invalid From', { from: '+0000' }, 'hi', 21212],
    ['an invalid MessagingServiceSid', { from: undefined, messagingServiceSid: 'MGnope' }, 'hi', 21701],
    ['a body over 1600 characters', {}, 'x'.repeat(1601), 21617],
  ])('%s: 400 / %i → rejected', async (_name, config, body, code) => {
    const err = await failure(sender(config).send({ to: TO, body }))
    expect(err.kind).toBe('rejected')
    expect(err.message).toBe(`SMS provider error 400 (code ${code})`)
  })

  it('an empty body: 400 / 21602 → rejected', async () => {
    const err = await failure(sender().send({ to: TO, body: '' }))
    expect(err.kind).toBe('rejected')
    expect(err.message).toContain('21602')
  })

  it('404 (unknown resource) → rejected', async () => {
    fake.once({ kind: 'error', status: 404, code: 20404, message: 'The requested resource was not found' })
    expect((await failure(sender().send({ to: TO, body: 'hi' }))).kind).toBe('rejected')
  })

  it('429 with Retry-After → unavailable with retryAfter', async () => {
    fake.once({ kind: 'rateLimited', retryAfter: '7' })
    const err = await failure(sender().send({ to: TO, body: 'hi' }))
    expect(err.kind).toBe('unavailable')
    expect(err.retryAfter).toBe(7)
    expect(err.message).toBe('SMS provider error 429 (code 20429)')
  })

  it('429 without Retry-After → unavailable, no retryAfter', async () => {
    fake.once({ kind: 'rateLimited' })
    const err = await failure(sender().send({ to: TO, body: 'hi' }))
    expect(err.kind).toBe('unavailable')
    expect(err.retryAfter).toBeUndefined()
  })

  it.each<[string, FakeMode, number | undefined]>([
    ['500 with Twilio JSON', { kind: 'serverError', status: 500 }, undefined],
    ['503 with Twilio JSON and Retry-After', { kind: 'serverError', status: 503, retryAfter: '30' }, 30],
    ['502 HTML page from a load balancer', { kind: 'serverError', status: 502, html: true }, undefined],
    ['503 HTML page with Retry-After', { kind: 'serverError', status: 503, html: true, retryAfter: '120' }, 120],
  ])('%s → unavailable', async (_name, mode, retryAfter) => {
    fake.once(mode)
    const err = await failure(sender().send({ to: TO, body: 'hi' }))
    expect(err.kind).toBe('unavailable')
    expect(err.retryAfter).toBe(retryAfter)
    expect(err.message).toMatch(/^SMS provider error 5\d\d/)
  })

  it('2xx with a non-JSON body → unavailable (no sid)', async () => {
    fake.once({ kind: 'nonJson', status: 200 })
    const err = await failure(sender().send({ to: TO, body: 'hi' }))
    expect(err.kind).toBe('unavailable')
    expect(err.message).toMatch(/without a message sid/)
  })

  it('2xx JSON without a sid → unavailable', async () => {
    fake.once({ kind: 'noSid', status: 201 })
    const err = await failure(sender().send({ to: TO, body: 'hi' }))
    expect(err.kind).toBe('unavailable')
    expect(err.message).toMatch(/without a message sid/)
  })

  it('400 with a non-JSON body → rejected, without a code', async () => {
    fake.once({ kind: 'nonJson', status: 400, body: 'Bad Request', contentType: 'text/plain' })
    const err = await failure(sender().send({ to: TO, body: 'hi' }))
    expect(err.kind).toBe('rejected')
    expect(err.message).toBe('SMS provider error 400')
  })

  it('a slow provider: gives up after timeoutMs → unavailable, and closes the connection', async () => {
    // The provider would answer after an hour: only the sender's own timeout can end the send.
    fake.once({ kind: 'slow', delayMs: 3_600_000 })
    const started = performance.now()
    const err = await failure(sender({ timeoutMs: 150 }).send({ to: TO, body: 'hi' }))
    expect(err.kind).toBe('unavailable')
    expect(err.message).toMatch(/unreachable.*(timeout|abort)/i)
    // Not before timeoutMs (a timer never fires early; how late it fires depends on the machine).
    expect(performance.now() - started).toBeGreaterThanOrEqual(140)
    await expect.poll(() => onlyRequest().clientAborted).toBe(true)
  })

  it('a provider that is slow but within timeoutMs → success', async () => {
    fake.once({ kind: 'slow', delayMs: 300 })
    const result = await sender().send({ to: TO, body: 'hi' })
    expect(result.providerId).toBe(fake.messages[0]!.sid)
  })

  it('a body that stalls half-way: the timeout still applies → unavailable', async () => {
    // The body never ends: only the sender's own timeout can end the send.
    fake.once({ kind: 'stallBody' })
    const err = await failure(sender({ timeoutMs: 200 }).send({ to: TO, body: 'hi' }))
    expect(err.kind).toBe('unavailable')
  })

  it('a connection reset → unavailable', async () => {
    fake.once({ kind: 'reset' })
    const err = await failure(sender().send({ to: TO, body: 'hi' }))
    expect(err.kind).toBe('unavailable')
    expect(err.message).toMatch(/^SMS provider unreachable: /)
    expect(onlyRequest().answered).toBe('reset')
  })

  it('connection refused → unavailable', async () => {
    const err = await failure(sender({ apiBase: await refusedUrl() }).send({ to: TO, body: 'hi' }))
    expect(err.kind).toBe('unavailable')
    expect(err.message).toMatch(/^SMS provider unreachable: /)
  })

  it('a fetcher that throws → unavailable', async () => {
    const fetcher: typeof fetch = async () => {
      throw new TypeError('network down')
    }
    const err = await failure(sender({}, fetcher).send({ to: TO, body: 'hi' }))
    expect(err.kind).toBe('unavailable')
    expect(err.message).toBe('SMS provider unreachable: network down')
  })

  it('every failure is an SmsError of a known kind (property over modes)', async () => {
    // Retry-After as seconds, as an HTTP date (not understood: no retryAfter), or garbage.
    const retryAfters = fc.oneof(
      fc.integer({ min: 0, max: 86_400 }).map(String),
      fc.constant('Wed, 21 Oct 2015 07:28:00 GMT'),
      fc.constantFrom('soon', '-5', ''),
    )
    const modes: fc.Arbitrary<FakeMode> = fc.oneof(
      // 407 is excluded: fetch itself turns it into a network error (no proxy is configured).
      fc.record({
        kind: fc.constant('error' as const),
        status: fc.integer({ min: 400, max: 599 }).filter((s) => s !== 407),
        code: fc.integer({ min: 20000, max: 99999 }),
      }),
      fc.record({ kind: fc.constant('rateLimited' as const), retryAfter: fc.option(retryAfters, { nil: undefined }) }),
      fc.record({
        kind: fc.constant('serverError' as const),
        status: fc.integer({ min: 500, max: 599 }),
        html: fc.boolean(),
        retryAfter: fc.option(retryAfters, { nil: undefined }),
      }),
      fc.record({
        kind: fc.constant('nonJson' as const),
        status: fc.integer({ min: 200, max: 599 }).filter((s) => s !== 407),
        body: fc.string(),
      }),
      fc.record({ kind: fc.constant('noSid' as const), status: fc.integer({ min: 200, max: 299 }).filter((s) => s !== 204 && s !== 205) }),
    )
    const kinds: SmsFailure[] = ['undeliverable', 'rejected', 'unauthorized', 'unavailable']
    await fc.assert(
      fc.asyncProperty(modes, async (mode) => {
        fake.reset()
        fake.once(mode)
        const err = await failure(sender().send({ to: TO, body: 'hi' }))
        expect(kinds).toContain(err.kind)
        const status = fake.requests[0]!.answered as number
        if (status === 401 || status === 403) expect(err.kind).toBe('unauthorized')
        else if (status === 429 || status >= 500 || status < 300) expect(err.kind).toBe('unavailable')
        else expect(['undeliverable', 'rejected']).toContain(err.kind)
        const sentRetryAfter = 'retryAfter' in mode ? mode.retryAfter : undefined
        const seconds = /^[0-9]+$/.test(sentRetryAfter ?? '') ? Number(sentRetryAfter) : 0
        expect(err.retryAfter).toBe(err.kind === 'unavailable' && seconds > 0 ? seconds : undefined)
      }),
      { numRuns: 80 },
    )
  })
})

describe('construction', () => {
  it.each<[string, Partial<TwilioConfig>]>([
    ['no account SID', { accountSid: '' }],
    ['no auth token', { authToken: '' }],
    ['neither From nor MessagingServiceSid', { from: undefined, messagingServiceSid: undefined }],
    ['empty From and MessagingServiceSid', { from: '', messagingServiceSid: '' }],
  ])('throws SmsError(rejected) with %s, without calling the provider', (_name, overrides) => {
    let calls = 0
    const fetcher: typeof fetch = async () => {
      calls++
      return new Response('{}')
    }
    expect(() => sender(overrides, fetcher)).toThrow(SmsError)
    try {
      sender(overrides, fetcher)
    } catch (err) {
      expect((err as SmsError).kind).toBe('rejected')
      expect((err as SmsError).message).toMatch(/TWILIO_/)
    }
    expect(calls).toBe(0)
    expect(fake.requests).toHaveLength(0)
  })
})

/** The fake's own checks, which a correct adapter never triggers, so they are exercised here. */
describe('the fake Twilio itself', () => {
  const path = () => `${fake.url}/2010-04-01/Accounts/${fake.accountSid}/Messages.json`
  const auth = () => `Basic ${Buffer.from(`${fake.accountSid}:${fake.authToken}`).toString('base64')}`
  const formHeaders = () => ({ Authorization: auth(), 'Content-Type': 'application/x-www-form-urlencoded' })

  async function post(body: string, headers: Record<string, string>, url = path()) {
    const res = await fetch(url, { method: 'POST', headers, body })
    return { status: res.status, headers: res.headers, json: (await res.json()) as Record<string, unknown> }
  }

  it('answers 401 with Twilio\'s exact 20003 body and a challenge without credentials', async () => {
    const res = await post(`To=${encodeURIComponent(TO)}&From=${encodeURIComponent(FROM)}&Body=hi`, {
      'Content-Type': 'application/x-www-form-urlencoded',
    })
    expect(res.status).toBe(401)
    expect(res.json).toEqual({ code: 20003, message: 'Authenticate', more_info: 'https://www.twilio.com/docs/errors/20003', status: 401 })
    expect(res.headers.get('www-authenticate')).toMatch(/^Basic /)
  })

  it('does not read a JSON body, so To is missing (21604)', async () => {
    const res = await post(JSON.stringify({ To: TO, From: FROM, Body: 'hi' }), { Authorization: auth(), 'Content-Type': 'application/json' })
    expect(res.status).toBe(400)
    expect(res.json).toMatchObject({ code: 21604, status: 400 })
  })

  it.each([
    ['From=%2B16505550100&Body=hi', 21604],
    ['To=%2B14155550123&Body=hi', 21603],
    ['To=%2B14155550123&From=%2B16505550100', 21602],
    ['To=%2B14155550123&From=%2B16505550100&Body=', 21602],
    ['To=4155550123&From=%2B16505550100&Body=hi', 21211],
  ])('validates the form %s → %i', async (form, code) => {
    const res = await post(form, formHeaders())
    expect(res.status).toBe(400)
    expect(res.json).toEqual({ code, message: expect.any(String), more_info: `https://www.twilio.com/docs/errors/${code}`, status: 400 })
  })

  it('rejects another account in the path (20404) and other methods (20004)', async () => {
    const other = await post('To=%2B14155550123&From=%2B16505550100&Body=hi', formHeaders(), `${fake.url}/2010-04-01/Accounts/${hexSid('AC')}/Messages.json`)
    expect(other.status).toBe(404)
    expect(other.json.code).toBe(20404)
    const get = await fetch(path(), { headers: { Authorization: auth() } })
    expect(get.status).toBe(405)
    expect(((await get.json()) as { code: number }).code).toBe(20004)
  })

  it('creates a realistic message resource', async () => {
    const res = await post(`To=${encodeURIComponent(TO)}&From=${encodeURIComponent(FROM)}&Body=hello`, formHeaders())
    expect(res.status).toBe(201)
    const sid = res.json.sid as string
    expect(res.json).toMatchObject({
      sid: expect.stringMatching(/^SM[0-9a-f]{32}$/),
      account_sid: fake.accountSid,
      api_version: '2010-04-01',
      to: TO,
      from: FROM,
      body: 'hello',
      status: 'queued',
      direction: 'outbound-api',
      num_segments: '1',
      num_media: '0',
      error_code: null,
      uri: `/2010-04-01/Accounts/${fake.accountSid}/Messages/${sid}.json`,
    })
    expect(res.json.date_created).toMatch(/^[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} \+0000$/)
  })

  it('counts segments like Twilio: GSM-7 160/153, UCS-2 70/67', () => {
    expect(segmentCount('a'.repeat(160))).toBe(1)
    expect(segmentCount('a'.repeat(161))).toBe(2)
    expect(segmentCount('€'.repeat(80))).toBe(1)
    expect(segmentCount('€'.repeat(81))).toBe(2)
    expect(segmentCount('é'.repeat(160))).toBe(1)
    expect(segmentCount('你'.repeat(70))).toBe(1)
    expect(segmentCount('你'.repeat(71))).toBe(2)
    expect(segmentCount('你'.repeat(134))).toBe(2)
    expect(segmentCount('你'.repeat(135))).toBe(3)
  })
})
