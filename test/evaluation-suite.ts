/**
 * The guarantees of `GET /.well-known/whodis-oprf` and `POST /v1/evaluate` (src/routes/evaluate.ts),
 * run against each operator that serves them: the directory (test/worker/evaluate.test.ts) and
 * the key holder (test/keyholder/evaluate.test.ts). Each test is the attack on one guarantee:
 * answers that do not verify, a split that does not add up, a budget outrun by concurrency or
 * shared between apps, malformed input that costs budget, an element in a log line.
 */
import { afterEach, describe, expect, it, vi } from 'vitest'
import type { MeterTake } from '../src/core/meter.ts'
import { fromBase64, fromHex, toBase64, toBase64Url, toHex } from '../src/protocol/bytes.ts'
import {
  addShares,
  blindNumbers,
  evaluateBatch,
  finalizeSplit,
  keyShareFromSecret,
  labelWithKey,
  OPRF_SUITE,
  OprfError,
  verifyEvaluation,
  type Blinded,
} from '../src/protocol/oprf.ts'

/** How the suite reaches one operator. */
export interface Operator {
  /** Sends a request through the operator's app; `env` overrides its settings. */
  call(method: string, path: string, opts?: { token?: string; json?: unknown; body?: BodyInit; headers?: Record<string, string>; env?: Record<string, string> }): Promise<Response>
  /** Registers a fresh app with this operator. */
  registerApp(): Promise<{ id: string; token: string }>
  /** Revokes it. */
  revokeApp(id: string): Promise<void>
  /** Asserts the uniform error shape, the status and the code; returns the body. */
  expectError(res: Response, status: number, code: string): Promise<Record<string, any>>
  /** The app's EvaluationMeter object, for takes at an injected time. */
  meter(appId: string): { take(config: { burst: number; refillPerHour: number }, n: number, now: number): Promise<MeterTake> }
  /** This operator's key share (hex) and the other operator's. */
  ownShare: string
  otherShare: string
}

let numberCounter = 0
/** Distinct E.164 numbers. */
export function numbers(count: number): string[] {
  return Array.from({ length: count }, () => `+4479${String(10_000_000 + ++numberCounter * 7_919 + Math.floor(Math.random() * 1_000)).slice(-8)}`)
}

const elementsOf = (blinded: Blinded[]) => blinded.map((b) => toBase64Url(b.element))

/** A small budget, so that a test can spend it: `burst` at once, one more an hour. */
const tight = (burst: number) => ({ EVALUATIONS_BURST: String(burst), EVALUATIONS_PER_HOUR: '1' })

/** The registered suite for `name` (e.g. 'directory'). */
export function evaluationSuite(name: string, operator: Operator) {
  const { call, expectError } = operator

  async function evaluate(token: string, elements: string[], env?: Record<string, string>) {
    return call('POST', '/v1/evaluate', { token, json: { elements }, ...(env ? { env } : {}) })
  }

  async function publishedKey(): Promise<Uint8Array> {
    const res = await call('GET', '/.well-known/whodis-oprf')
    expect(res.status).toBe(200)
    const body = (await res.json()) as { suite: string; publicKey: string }
    expect(body.suite).toBe(OPRF_SUITE)
    return fromHex(body.publicKey)
  }

  describe(`${name}: GET /.well-known/whodis-oprf`, () => {
    it('publishes the suite and the public key of its own share, to anyone', async () => {
      const res = await call('GET', '/.well-known/whodis-oprf')
      expect(res.status).toBe(200)
      expect(await res.json()).toEqual({ suite: 'ristretto255-SHA512', publicKey: toHex(keyShareFromSecret(operator.ownShare).publicKey) })
      expect(res.headers.get('Cache-Control')).toBe('public, max-age=300')
    })

    it('is 503 not_configured without OPRF_KEY_SHARE, or with one that is not a share', async () => {
      for (const share of ['', 'not hex', 'ff'.repeat(32), '00'.repeat(32)]) {
        const res = await call('GET', '/.well-known/whodis-oprf', { env: { OPRF_KEY_SHARE: share } })
        const body = await expectError(res, 503, 'not_configured')
        expect(body.error.message).toContain('OPRF_KEY_SHARE')
        if (share.length > 4) expect(body.error.message).not.toContain(share)
      }
    })
  })

  describe(`${name}: POST /v1/evaluate`, () => {
    afterEach(() => vi.restoreAllMocks())

    it('answers evaluations whose batched proof verifies against the published key, and against no other', async () => {
      const app = await operator.registerApp()
      const blinded = blindNumbers(numbers(5))
      const res = await evaluate(app.token, elementsOf(blinded))
      expect(res.status).toBe(200)
      const body = (await res.json()) as { evaluations: string[]; proof: string }
      expect(Object.keys(body).sort()).toEqual(['evaluations', 'proof'])
      const evaluations = body.evaluations.map(fromBase64)
      verifyEvaluation(blinded, evaluations, fromBase64(body.proof), await publishedKey())
      // The other operator's key, a reordered batch, or another batch's elements: refused.
      const other = keyShareFromSecret(operator.otherShare).publicKey
      expect(() => verifyEvaluation(blinded, evaluations, fromBase64(body.proof), other)).toThrow(OprfError)
      expect(() => verifyEvaluation(blinded, [...evaluations].reverse(), fromBase64(body.proof), keyShareFromSecret(operator.ownShare).publicKey)).toThrow(OprfError)
      expect(() => verifyEvaluation(blindNumbers(numbers(5)), evaluations, fromBase64(body.proof), keyShareFromSecret(operator.ownShare).publicKey)).toThrow(OprfError)
    })

    it("added to the other operator's evaluations and unblinded, gives labelWithKey(k1 + k2) of each number, and neither half alone does", async () => {
      const app = await operator.registerApp()
      const phones = numbers(4)
      const blinded = blindNumbers(phones)
      const res = await evaluate(app.token, elementsOf(blinded))
      const ours = ((await res.json()) as { evaluations: string[] }).evaluations.map(fromBase64)
      // The other operator's half, in-process from its test share.
      const other = keyShareFromSecret(operator.otherShare)
      const theirs = evaluateBatch(other, blinded.map((b) => b.element))
      verifyEvaluation(blinded, theirs.evaluations, theirs.proof, other.publicKey)
      const key = addShares(keyShareFromSecret(operator.ownShare).secretKey, other.secretKey)
      const labels = finalizeSplit(blinded, ours, theirs.evaluations)
      expect(labels).toEqual(phones.map((phone) => labelWithKey(key, phone)))
      expect(new Set(labels).size).toBe(phones.length)
      // One operator's share alone gives other labels.
      expect(labelWithKey(keyShareFromSecret(operator.ownShare).secretKey, phones[0]!)).not.toBe(labels[0])
    })

    it('is exact under concurrency: 30 requests of 7 against a burst of 100 grant exactly 14, the rest 429 with Retry-After', async () => {
      const app = await operator.registerApp()
      const elements = elementsOf(blindNumbers(numbers(7)))
      const answers = await Promise.all(Array.from({ length: 30 }, () => evaluate(app.token, elements, tight(100))))
      const granted = answers.filter((r) => r.status === 200)
      expect(granted.length).toBe(14)
      // Each grant saw the bucket after the ones before it: 93, 86, …, 2, each once.
      const remaining = granted.map((r) => Number(r.headers.get('X-Evaluations-Remaining'))).sort((a, b) => b - a)
      expect(remaining).toEqual(Array.from({ length: 14 }, (_, i) => 93 - 7 * i))
      for (const res of answers.filter((r) => r.status !== 200)) {
        await expectError(res, 429, 'evaluations_exhausted')
        // 5 more tokens at one an hour: hours away, in whole seconds.
        expect(Number(res.headers.get('Retry-After'))).toBeGreaterThan(3_600)
      }
      // What is left (2) is still there: a batch of 2 passes, one more does not.
      expect((await evaluate(app.token, elements.slice(0, 2), tight(100))).status).toBe(200)
      await expectError(await evaluate(app.token, elements.slice(0, 1), tight(100)), 429, 'evaluations_exhausted')
    })

    it('refills: granted again once Retry-After has passed', async () => {
      const app = await operator.registerApp()
      // 20 at once, 10 a second after that.
      const env = { EVALUATIONS_BURST: '20', EVALUATIONS_PER_HOUR: '36000' }
      const elements = elementsOf(blindNumbers(numbers(20)))
      expect((await evaluate(app.token, elements, env)).status).toBe(200)
      const refused = await evaluate(app.token, elements, env)
      await expectError(refused, 429, 'evaluations_exhausted')
      const wait = Number(refused.headers.get('Retry-After'))
      expect(wait).toBeGreaterThanOrEqual(1)
      expect(wait).toBeLessThanOrEqual(2)
      await new Promise((resolve) => setTimeout(resolve, wait * 1000 + 50))
      expect((await evaluate(app.token, elements, env)).status).toBe(200)
    })

    it("keeps the meter's state in its object: refill by the injected clock, exact to the millisecond", async () => {
      const app = await operator.registerApp()
      const meter = operator.meter(app.id)
      const config = { burst: 10, refillPerHour: 1_000 }
      const t0 = 1_800_000_000_000
      expect(await meter.take(config, 10, t0)).toMatchObject({ ok: true, remaining: 0 })
      expect(await meter.take(config, 1, t0 + 3_599)).toEqual({ ok: false, retryAfterSeconds: 1 })
      expect(await meter.take(config, 1, t0 + 3_600)).toMatchObject({ ok: true, remaining: 0 })
      expect(await meter.take(config, 2, t0 + 3_600 + 7_199)).toMatchObject({ ok: false })
      expect(await meter.take(config, 2, t0 + 3_600 + 7_200)).toMatchObject({ ok: true, remaining: 0 })
    })

    it("keeps apps apart: one app spending its budget leaves another's whole", async () => {
      const a = await operator.registerApp()
      const b = await operator.registerApp()
      const elements = elementsOf(blindNumbers(numbers(10)))
      expect((await evaluate(a.token, elements, tight(10))).status).toBe(200)
      await expectError(await evaluate(a.token, elements, tight(10)), 429, 'evaluations_exhausted')
      expect((await evaluate(b.token, elements, tight(10))).status).toBe(200)
    })

    it('is 401 for no token, an unknown token and a revoked app', async () => {
      const app = await operator.registerApp()
      const elements = elementsOf(blindNumbers(numbers(1)))
      await expectError(await call('POST', '/v1/evaluate', { json: { elements } }), 401, 'unauthorized')
      await expectError(await evaluate(`${app.token.slice(0, -2)}xx`, elements), 401, 'unauthorized')
      expect((await evaluate(app.token, elements)).status).toBe(200)
      await operator.revokeApp(app.id)
      await expectError(await evaluate(app.token, elements), 401, 'unauthorized')
    })

    it('refuses a malformed element with 400 invalid_element naming its place, and takes no budget', async () => {
      const app = await operator.registerApp()
      const good = elementsOf(blindNumbers(numbers(10)))
      const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'
      // A canonical last character leaves its two spare bits clear; this sets one.
      const spareBitSet = good[0]!.slice(0, 42) + alphabet[alphabet.indexOf(good[0]!.at(42)!) | 1]
      const bad = [
        toBase64Url(new Uint8Array(32)), // the identity
        toBase64Url(new Uint8Array(32).fill(0xff)), // not a canonical ristretto255 encoding
        toBase64Url(new Uint8Array(31).fill(7)), // short
        toBase64Url(new Uint8Array(33).fill(7)), // long
        `${good[0]!}=`, // padded
        toBase64(fromBase64(good[0]!)), // standard base64, padded
        spareBitSet,
        '',
      ]
      for (const [i, element] of bad.entries()) {
        const batch = good.slice(0, 9)
        batch.splice(i, 0, element)
        const body = await expectError(await evaluate(app.token, batch, tight(10)), 400, 'invalid_element')
        expect(body.error.message).toContain(`elements[${i}]`)
        if (element.length > 4) expect(body.error.message).not.toContain(element)
      }
      const strays: unknown[] = [[7], [null], [{ element: good[0] }], 'x', null, []]
      for (const elements of strays) await expectError(await call('POST', '/v1/evaluate', { token: app.token, json: { elements }, env: tight(10) }), 400, 'invalid_request')
      // None of the refused batches took any of the budget: all 10 are there.
      expect(await operator.meter(app.id).take({ burst: 10, refillPerHour: 1 }, 10, Date.now())).toMatchObject({ ok: true, remaining: 0 })
    })

    it('takes at most 1,000 elements (400 invalid_request for 1,001), and 1,000 fit the body limit even indented', async () => {
      const app = await operator.registerApp()
      const element = elementsOf(blindNumbers(numbers(1)))[0]!
      const thousand = Array.from({ length: 1_000 }, () => element)
      const body = JSON.stringify({ elements: thousand }, null, 2)
      expect(body.length).toBeGreaterThan(16 * 1024)
      const res = await call('POST', '/v1/evaluate', { token: app.token, body, headers: { 'Content-Type': 'application/json' } })
      expect(res.status).toBe(200)
      expect(((await res.json()) as { evaluations: string[] }).evaluations.length).toBe(1_000)
      await expectError(await evaluate(app.token, [...thousand, element]), 400, 'invalid_request')
      // Past the route's own limit (64 KiB): 413, and other routes keep 16 KiB.
      const huge = JSON.stringify({ elements: thousand, pad: 'x'.repeat(20 * 1024) })
      await expectError(await call('POST', '/v1/evaluate', { token: app.token, body: huge, headers: { 'Content-Type': 'application/json' } }), 413, 'body_too_large')
      await expectError(await call('POST', '/v1/admin/apps', { body, headers: { 'Content-Type': 'application/json' } }), 413, 'body_too_large')
    })

    it('refuses a batch larger than the burst with 400 (it could never be granted)', async () => {
      const app = await operator.registerApp()
      const res = await evaluate(app.token, elementsOf(blindNumbers(numbers(11))), tight(10))
      const body = await expectError(res, 400, 'invalid_request')
      expect(body.error.message).toContain('at most 10')
    })

    it('is 503 not_configured without its key share, and takes no budget then', async () => {
      const app = await operator.registerApp()
      const elements = elementsOf(blindNumbers(numbers(10)))
      await expectError(await evaluate(app.token, elements, { ...tight(10), OPRF_KEY_SHARE: '' }), 503, 'not_configured')
      expect((await evaluate(app.token, elements, tight(10))).status).toBe(200)
    })

    it('puts no element, evaluation, proof or number in any log line', async () => {
      const lines: string[] = []
      for (const level of ['log', 'warn', 'error', 'info', 'debug'] as const) {
        vi.spyOn(console, level).mockImplementation((...args: unknown[]) => void lines.push(args.map(String).join(' ')))
      }
      const app = await operator.registerApp()
      const phones = numbers(3)
      const blinded = blindNumbers(phones)
      const elements = elementsOf(blinded)
      const res = await evaluate(app.token, elements)
      const body = (await res.json()) as { evaluations: string[]; proof: string }
      await evaluate(app.token, [elements[0]!, toBase64Url(new Uint8Array(32))])
      await evaluate(app.token, elements, tight(3))
      await evaluate(app.token, elements, tight(3))
      expect(lines.some((l) => JSON.parse(l).event === 'evaluated')).toBe(true)
      expect(lines.filter((l) => JSON.parse(l).event === 'request').map((l) => JSON.parse(l).status)).toEqual(expect.arrayContaining([200, 400, 429]))
      const secrets = [...elements, ...body.evaluations, body.proof, ...phones, ...phones.map((p) => p.slice(1))]
      // Hex spellings too, in case anything logged bytes.
      secrets.push(...blinded.map((b) => toHex(b.element)))
      for (const line of lines) for (const secret of secrets) expect(line).not.toContain(secret)
    })
  })
}
