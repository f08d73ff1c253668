/**
 * `POST /v1/lookups` (a batch of numbers in the body, never in a URL) and `GET /v1/apps/{id}`
 * (an app's registration entry and receipt, what ties the app numbers of entries to app ids).
 */
import { describe, expect, it } from 'vitest'
import { fromBase64 } from '../../src/protocol/bytes.ts'
import { decodeEntry, subjectOf } from '../../src/protocol/entry.ts'
import { MAX_LOOKUPS } from '../../src/protocol/lookup.ts'
import { parseTlogProof } from '../../src/protocol/tlog-proof.ts'
import { verifyReceipt } from '../../src/protocol/receipt.ts'
import { call, expectError, freshPhone, registerApp, verify } from './helpers.ts'
import { pinnedKey } from './log-client.ts'

type Result = { phone: string; apps: { app: string; verifiedAt: string; expiresAt: string; index?: number; entry?: string; receipt?: string }[] }

async function lookups(token: string, json: unknown, env?: Record<string, string>): Promise<Response> {
  return call('POST', '/v1/lookups', { token, json, ...(env ? { env } : {}) })
}

describe('POST /v1/lookups', () => {
  it('answers each number asked once, in the order asked, with its apps or none, as GET answers it', async () => {
    const a = await registerApp()
    const b = await registerApp()
    const [one, two, none] = [freshPhone(), freshPhone(), freshPhone()]
    await verify(a.token, one)
    await verify(b.token, one)
    await verify(b.token, two)
    const typed = `+1 (${two.slice(2, 5)}) ${two.slice(5, 8)}-${two.slice(8)}`
    const res = await lookups(a.token, { phones: [none, one, typed, one] })
    expect(res.status).toBe(200)
    const body = (await res.json()) as { results: Result[] }
    expect(body.results.map((r) => r.phone)).toEqual([none, one, two, one])
    expect(body.results[0]).toEqual({ phone: none, apps: [] })
    for (const r of body.results.slice(1)) {
      expect(r).toEqual(await (await call('GET', `/v1/numbers/${r.phone}`, { token: a.token })).json())
    }
    expect(Object.keys(body)).toEqual(['results'])
  })

  it('with proof: true, carries the fields of GET ?proof=1, every receipt against one checkpoint', async () => {
    const key = await pinnedKey()
    const a = await registerApp()
    const b = await registerApp()
    const phones = [freshPhone(), freshPhone()]
    await verify(a.token, phones[0]!)
    await verify(b.token, phones[0]!)
    await verify(a.token, phones[1]!)
    const body = (await (await lookups(a.token, { phones: [...phones, freshPhone()], proof: true })).json()) as { results: Result[] }
    const checkpoints = new Set<string>()
    for (const [i, r] of body.results.slice(0, 2).entries()) {
      expect(r.apps.length).toBeGreaterThan(0)
      for (const x of r.apps) {
        const entry = fromBase64(x.entry!)
        expect(decodeEntry(entry)).toMatchObject({ subject: subjectOf(phones[i]!) })
        expect((await verifyReceipt(x.receipt!, entry, key)).index).toBe(x.index)
        checkpoints.add(parseTlogProof(x.receipt!).checkpoint)
      }
      const single = (await (await call('GET', `/v1/numbers/${r.phone}?proof=1`, { token: a.token })).json()) as Result
      expect(r.apps.map(({ receipt, ...rest }) => rest)).toEqual(single.apps.map(({ receipt, ...rest }) => rest))
    }
    expect(checkpoints.size).toBe(1)
    expect(body.results[2]!.apps).toEqual([])
    const plain = (await (await lookups(a.token, { phones, proof: false })).json()) as { results: Result[] }
    expect(plain.results[0]!.apps[0]).not.toHaveProperty('receipt')
  })

  it('counts every number asked against the quota, all or none', async () => {
    const app = await registerApp()
    const env = { LOOKUPS_PER_APP_MINUTE: '5' }
    expect((await lookups(app.token, { phones: [freshPhone(), freshPhone(), freshPhone()] }, env)).status).toBe(200)
    // 3 taken: a batch of 3 more would pass the limit, so none of it is taken...
    const refused = await lookups(app.token, { phones: [freshPhone(), freshPhone(), freshPhone()] }, env)
    await expectError(refused, 429, 'rate_limited')
    expect(Number(refused.headers.get('Retry-After'))).toBeGreaterThanOrEqual(1)
    // ...and the 2 left are still there, for a batch or for GET.
    expect((await lookups(app.token, { phones: [freshPhone()] }, env)).status).toBe(200)
    expect((await call('GET', `/v1/numbers/${freshPhone()}`, { token: app.token, env })).status).toBe(404)
    await expectError(await lookups(app.token, { phones: [freshPhone()] }, env), 429, 'rate_limited')
  })

  it('refuses bad batches with a clear error and no 500', async () => {
    const app = await registerApp()
    await expectError(await lookups(app.token, { phones: [] }), 400, 'invalid_request')
    await expectError(await lookups(app.token, {}), 400, 'invalid_request')
    await expectError(await lookups(app.token, { phones: '+16505550011' }), 400, 'invalid_request')
    await expectError(await lookups(app.token, { phones: [16505550011] }), 400, 'invalid_request')
    await expectError(await lookups(app.token, { phones: [freshPhone()], proof: 'yes' }), 400, 'invalid_request')
    await expectError(await lookups(app.token, { phones: Array.from({ length: MAX_LOOKUPS + 1 }, () => '+16505550011') }), 400, 'invalid_request')
    const bad = await expectError(await lookups(app.token, { phones: [freshPhone(), 'not a number'] }), 400, 'invalid_phone')
    expect(bad.error.message).toMatch(/^phones\[1\]: /)
    await expectError(await call('POST', '/v1/lookups', { json: { phones: [freshPhone()] } }), 401, 'unauthorized')
    await expectError(await call('POST', '/v1/lookups', { token: app.token, body: 'phones=1', headers: { 'Content-Type': 'text/plain' } }), 415, 'unsupported_media_type')
    const huge = JSON.stringify({ phones: Array.from({ length: 1000 }, () => '+1 (650) 555-0011' + ' '.repeat(64)) })
    await expectError(await call('POST', '/v1/lookups', { token: app.token, body: huge, headers: { 'Content-Type': 'application/json' } }), 413, 'body_too_large')
  })

  it('takes a full batch of numbers as people type them', async () => {
    const app = await registerApp()
    const phones = Array.from({ length: MAX_LOOKUPS }, (_, i) => `+1 (650) 55${String(i).padStart(5, '0').slice(0, 1)}-${String(i).padStart(4, '0')}`)
    const res = await lookups(app.token, { phones })
    expect(res.status).toBe(200)
    expect(((await res.json()) as { results: Result[] }).results).toHaveLength(MAX_LOOKUPS)
  })
})

describe('GET /v1/apps/{id}', () => {
  it("answers an app's app-register entry and a receipt for it", async () => {
    const key = await pinnedKey()
    const app = await registerApp()
    const other = await registerApp()
    const res = await call('GET', `/v1/apps/${other.id}`, { token: app.token })
    expect(res.status).toBe(200)
    const body = (await res.json()) as { app: string; index: number; entry: string; receipt: string }
    expect(body.app).toBe(other.id)
    const entry = fromBase64(body.entry)
    expect(decodeEntry(entry)).toMatchObject({ kind: 'app-register', id: other.id })
    expect((await verifyReceipt(body.receipt, entry, key)).index).toBe(body.index)
  })

  it('answers 404 for an app never registered, 400 for a bad id, 401 without a token', async () => {
    const app = await registerApp()
    await expectError(await call('GET', '/v1/apps/never-registered', { token: app.token }), 404, 'app_not_found')
    await expectError(await call('GET', '/v1/apps/BAD_ID', { token: app.token }), 400, 'invalid_request')
    await expectError(await call('GET', `/v1/apps/${app.id}`), 401, 'unauthorized')
  })
})
