import { runInDurableObject } from 'cloudflare:test'
import { describe, expect, it } from 'vitest'
import { phoneChallenge } from '../../src/durable-objects/stubs.ts'
import { admin, call, expectError, freshPhone, latestCode, registerApp, startVerification, testEnv, verify } from './helpers.ts'

describe('POST /v1/verifications', () => {
  it('sends "<App name> code: NNNNNN" to the normalised number', async () => {
    const app = await registerApp('chat.a', 'Chat A')
    const res = await call('POST', '/v1/verifications', { token: app.token, json: { phone: '+1 (650) 555-0011' } })
    expect(res.status).toBe(201)
    const body = (await res.json()) as { id: string; expiresAt: string }
    expect(body.id).toMatch(/^[0-9a-f]{96}$/)
    const expires = Date.parse(body.expiresAt)
    expect(expires - Date.now()).toBeGreaterThan(9 * 60_000)
    expect(expires - Date.now()).toBeLessThanOrEqual(10 * 60_000)
    const outbox = await call('GET', '/dev/outbox?phone=%2B16505550011', { token: admin() })
    const { messages } = (await outbox.json()) as { messages: { to: string; body: string }[] }
    expect(messages.at(-1)).toMatchObject({ to: '+16505550011' })
    expect(messages.at(-1)!.body).toMatch(/^Chat A code: \d{6}$/)
  })

  it('rejects invalid numbers and keys with clear codes', async () => {
    const app = await registerApp()
    for (const phone of ['6505550011', '+1 650 555', 'hello', '+999 123 456', '', '+16505550011; DROP TABLE']) {
      await expectError(await call('POST', '/v1/verifications', { token: app.token, json: { phone } }), 400, 'invalid_phone')
    }
    await expectError(await call('POST', '/v1/verifications', { token: app.token, json: { phone: 16505550011 } }), 400, 'invalid_request')
    await expectError(await call('POST', '/v1/verifications', { token: app.token, json: {} }), 400, 'invalid_request')
    for (const publicKey of ['not base64!', 'AAAA', 'A'.repeat(2000)]) {
      const res = await call('POST', '/v1/verifications', { token: app.token, json: { phone: freshPhone(), publicKey } })
      expect(res.status).toBe(400)
    }
  })

  it('needs an app token', async () => {
    await expectError(await call('POST', '/v1/verifications', { json: { phone: freshPhone() } }), 401, 'unauthorized')
    await expectError(await call('POST', '/v1/verifications', { token: admin(), json: { phone: freshPhone() } }), 401, 'unauthorized')
  })

  it('caps sends per number per hour with 429 and Retry-After', async () => {
    const app = await registerApp()
    const phone = freshPhone()
    for (let i = 0; i < 5; i++) await startVerification(app.token, phone)
    const res = await call('POST', '/v1/verifications', { token: app.token, json: { phone } })
    await expectError(res, 429, 'rate_limited')
    const retry = Number(res.headers.get('Retry-After'))
    expect(retry).toBeGreaterThan(3500)
    expect(retry).toBeLessThanOrEqual(3600)
  })

  it('caps sends per number per day', async () => {
    const app = await registerApp()
    const phone = freshPhone()
    const env = { SMS_PER_NUMBER_HOUR: '100', SMS_PER_NUMBER_DAY: '3' }
    for (let i = 0; i < 3; i++) expect((await call('POST', '/v1/verifications', { token: app.token, json: { phone }, env })).status).toBe(201)
    const res = await call('POST', '/v1/verifications', { token: app.token, json: { phone }, env })
    await expectError(res, 429, 'rate_limited')
    expect(Number(res.headers.get('Retry-After'))).toBeGreaterThan(3600)
  })

  it('caps sends per app per minute', async () => {
    const app = await registerApp()
    const env = { SMS_PER_APP_MINUTE: '2' }
    for (let i = 0; i < 2; i++) expect((await call('POST', '/v1/verifications', { token: app.token, json: { phone: freshPhone() }, env })).status).toBe(201)
    const res = await call('POST', '/v1/verifications', { token: app.token, json: { phone: freshPhone() }, env })
    await expectError(res, 429, 'rate_limited')
    expect(Number(res.headers.get('Retry-After'))).toBeGreaterThanOrEqual(1)
    expect(Number(res.headers.get('Retry-After'))).toBeLessThanOrEqual(60)
    const other = await registerApp()
    expect((await call('POST', '/v1/verifications', { token: other.token, json: { phone: freshPhone() }, env })).status).toBe(201)
  })

  it('caps sends per country calling code per minute (SMS pumping)', async () => {
    const a = await registerApp()
    const b = await registerApp()
    const env = { SMS_PER_COUNTRY_MINUTE: '3' }
    const uk = ['+44 7911 123451', '+44 7911 123452', '+44 7911 123453', '+44 7911 123454'] as const
    expect((await call('POST', '/v1/verifications', { token: a.token, json: { phone: uk[0] }, env })).status).toBe(201)
    expect((await call('POST', '/v1/verifications', { token: b.token, json: { phone: uk[1] }, env })).status).toBe(201)
    expect((await call('POST', '/v1/verifications', { token: a.token, json: { phone: uk[2] }, env })).status).toBe(201)
    await expectError(await call('POST', '/v1/verifications', { token: b.token, json: { phone: uk[3] }, env }), 429, 'rate_limited')
    // Another country is unaffected.
    expect((await call('POST', '/v1/verifications', { token: b.token, json: { phone: '+33 6 12 34 56 78' }, env })).status).toBe(201)
  })

  it('answers 503 when the SMS provider is unreachable, and withdraws the challenge', async () => {
    const app = await registerApp()
    const env = {
      SMS_PROVIDER: 'twilio',
      TWILIO_ACCOUNT_SID: 'AC' + '0'.repeat(32),
      TWILIO_AUTH_TOKEN: 'x',
      TWILIO_FROM: '+15005550006',
      TWILIO_API_BASE: 'http://127.0.0.1:9',
    }
    const res = await call('POST', '/v1/verifications', { token: app.token, json: { phone: freshPhone() }, env })
    await expectError(res, 503, 'sms_unavailable')
    expect(res.headers.get('Retry-After')).not.toBeNull()
  })

  it('answers 503 not_configured without an SMS provider or with incomplete credentials', async () => {
    const app = await registerApp()
    await expectError(
      await call('POST', '/v1/verifications', { token: app.token, json: { phone: freshPhone() }, env: { SMS_PROVIDER: undefined } }),
      503,
      'not_configured',
    )
    await expectError(
      await call('POST', '/v1/verifications', { token: app.token, json: { phone: freshPhone() }, env: { SMS_PROVIDER: 'twilio' } }),
      503,
      'not_configured',
    )
  })
})

describe('POST /v1/verifications/:id/check', () => {
  it('records the binding on the right code', async () => {
    const app = await registerApp()
    const phone = freshPhone()
    const key = btoa(String.fromCharCode(...new Uint8Array(32).fill(7)))
    const { binding, index } = await verify(app.token, phone, { publicKey: key })
    expect(binding).toMatchObject({ phone, app: app.id, publicKey: 'BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc' })
    expect(binding.verifiedAt).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/)
    const ttl = Date.parse(binding.expiresAt!) - Date.parse(binding.verifiedAt!)
    expect(ttl).toBe(365 * 86_400_000)
    expect(Number.isInteger(index)).toBe(true)
  })

  it('counts wrong codes, then refuses even the right one', async () => {
    const app = await registerApp()
    const phone = freshPhone()
    const id = await startVerification(app.token, phone)
    const code = await latestCode(phone)
    const wrong = code === '000000' ? '111111' : '000000'
    for (let left = 4; left >= 0; left--) {
      const body = await expectError(await call('POST', `/v1/verifications/${id}/check`, { token: app.token, json: { code: wrong } }), 422, 'wrong_code')
      expect(body.attemptsLeft).toBe(left)
    }
    await expectError(await call('POST', `/v1/verifications/${id}/check`, { token: app.token, json: { code } }), 410, 'verification_exhausted')
  })

  it('judges exactly 5 of 50 concurrent wrong guesses and refuses the rest', async () => {
    const app = await registerApp()
    const phone = freshPhone()
    const id = await startVerification(app.token, phone)
    const code = await latestCode(phone)
    const guesses = Array.from({ length: 50 }, (_, i) => String((Number(code) + 1 + i) % 1_000_000).padStart(6, '0'))
    const results = await Promise.all(
      guesses.map((g) => call('POST', `/v1/verifications/${id}/check`, { token: app.token, json: { code: g } })),
    )
    const statuses = results.map((r) => r.status)
    expect(statuses.filter((s) => s === 422)).toHaveLength(5)
    expect(statuses.filter((s) => s === 410)).toHaveLength(45)
    const left = await Promise.all(results.filter((r) => r.status === 422).map(async (r) => ((await r.json()) as any).attemptsLeft))
    expect(left.sort()).toEqual([0, 1, 2, 3, 4])
    await expectError(await call('POST', `/v1/verifications/${id}/check`, { token: app.token, json: { code } }), 410, 'verification_exhausted')
  })

  it('refuses a code after 10 minutes', async () => {
    const app = await registerApp()
    const phone = freshPhone()
    const id = await startVerification(app.token, phone)
    const code = await latestCode(phone)
    const stub = phoneChallenge(testEnv, testEnv.HMAC_SECRET!, phone)
    await runInDurableObject(stub, (_, state) => {
      state.storage.sql.exec('UPDATE challenges SET expires_at = ? WHERE id = ?', Date.now() - 1, id)
    })
    await expectError(await call('POST', `/v1/verifications/${id}/check`, { token: app.token, json: { code } }), 410, 'verification_expired')
  })

  it('belongs to the app that started it', async () => {
    const a = await registerApp()
    const b = await registerApp()
    const phone = freshPhone()
    const id = await startVerification(a.token, phone)
    const code = await latestCode(phone)
    await expectError(await call('POST', `/v1/verifications/${id}/check`, { token: b.token, json: { code } }), 404, 'verification_not_found')
    // B's attempt did not use up one of A's.
    expect((await call('POST', `/v1/verifications/${id}/check`, { token: a.token, json: { code } })).status).toBe(200)
  })

  it('answers 404 for unknown, malformed and forged ids, and 400 for a malformed code', async () => {
    const app = await registerApp()
    const phone = freshPhone()
    const id = await startVerification(app.token, phone)
    for (const bad of ['nope', id.slice(0, 95), id.slice(0, 64) + '0'.repeat(32), 'f'.repeat(96), id.toUpperCase()]) {
      await expectError(await call('POST', `/v1/verifications/${bad}/check`, { token: app.token, json: { code: '123456' } }), 404, 'verification_not_found')
    }
    for (const code of ['12345', '1234567', 'abcdef', 123456, '']) {
      await expectError(await call('POST', `/v1/verifications/${id}/check`, { token: app.token, json: { code } }), 400, 'invalid_request')
    }
  })

  it('is idempotent: a retried right code returns the same change', async () => {
    const app = await registerApp()
    const phone = freshPhone()
    const id = await startVerification(app.token, phone)
    const code = await latestCode(phone)
    const first = await call('POST', `/v1/verifications/${id}/check`, { token: app.token, json: { code } })
    const again = await call('POST', `/v1/verifications/${id}/check`, { token: app.token, json: { code } })
    expect(first.status).toBe(200)
    expect(await again.json()).toEqual(await first.json())
  })

  it('renews a binding on a second verification', async () => {
    const app = await registerApp()
    const phone = freshPhone()
    const first = await verify(app.token, phone)
    const second = await verify(app.token, phone)
    expect(second.index).toBeGreaterThan(first.index)
    const lookup = (await (await call('GET', `/v1/numbers/${phone}`, { token: app.token })).json()) as any
    expect(lookup.apps).toHaveLength(1)
    expect(lookup.apps[0].verifiedAt).toBe(second.binding.verifiedAt)
  })

  it('answers a used code checked again with what is true now: the binding, renewed or removed since', async () => {
    const app = await registerApp()
    const phone = freshPhone()
    const id = await startVerification(app.token, phone)
    const code = await latestCode(phone)
    const check = () => call('POST', `/v1/verifications/${id}/check`, { token: app.token, json: { code } })
    const first = (await (await check()).json()) as { index: number }
    // Checked again: the same entry, not a new one.
    const again = await check()
    expect(again.status).toBe(200)
    expect(((await again.json()) as { index: number }).index).toBe(first.index)
    // Renewed by a later verification: the binding as it stands now.
    const renewed = await verify(app.token, phone)
    const afterRenewal = await check()
    expect(afterRenewal.status).toBe(200)
    const now = (await afterRenewal.json()) as { index: number; binding: { verifiedAt: string } }
    expect(now.index).toBe(renewed.index)
    expect(now.binding.verifiedAt).toBe(renewed.binding.verifiedAt)
    // Removed: no credential, no receipt, for a binding that no longer exists.
    expect((await call('DELETE', `/v1/numbers/${phone}/apps/${app.id}`, { token: app.token })).status).toBe(204)
    const gone = await expectError(await check(), 410, 'binding_removed')
    expect(gone).not.toHaveProperty('credential')
    expect(gone).not.toHaveProperty('receipt')
  })

  it('refuses to bind for an app revoked between start and check', async () => {
    const app = await registerApp()
    const phone = freshPhone()
    const id = await startVerification(app.token, phone)
    const code = await latestCode(phone)
    await call('DELETE', `/v1/admin/apps/${app.id}`, { token: admin() })
    await expectError(await call('POST', `/v1/verifications/${id}/check`, { token: app.token, json: { code } }), 401, 'unauthorized')
  })
})
