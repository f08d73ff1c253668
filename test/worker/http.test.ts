import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { admin, app as testApp, call, expectError, freshPhone, latestCode, registerApp, startVerification, verify } from './helpers.ts'

describe('bad input', () => {
  it('answers malformed JSON with 400 malformed_json', async () => {
    const app = await registerApp()
    for (const body of ['{', '{"phone":', 'nul', '\u0000', '{"phone":"+16505550011"}}']) {
      const res = await call('POST', '/v1/verifications', { token: app.token, body, headers: { 'Content-Type': 'application/json' } })
      await expectError(res, 400, 'malformed_json')
    }
  })

  it('answers JSON that is not an object with 400', async () => {
    const app = await registerApp()
    for (const json of [[], 'x', 1, null]) {
      const res = await call('POST', '/v1/verifications', { token: app.token, json })
      expect(res.status).toBe(400)
    }
  })

  it('answers a body over 16 KiB with 413, with or without Content-Length', async () => {
    const app = await registerApp()
    const big = JSON.stringify({ phone: '+16505550011', pad: 'x'.repeat(17 * 1024) })
    await expectError(
      await call('POST', '/v1/verifications', { token: app.token, body: big, headers: { 'Content-Type': 'application/json' } }),
      413,
      'body_too_large',
    )
    const stream = new ReadableStream({
      start(controller) {
        for (let i = 0; i < 20; i++) controller.enqueue(new TextEncoder().encode('x'.repeat(1024)))
        controller.close()
      },
    })
    await expectError(
      await call('POST', '/v1/verifications', { token: app.token, body: stream, headers: { 'Content-Type': 'application/json' } }),
      413,
      'body_too_large',
    )
  })

  it('answers a body that is not JSON with 415', async () => {
    const app = await registerApp()
    await expectError(
      await call('POST', '/v1/verifications', { token: app.token, body: 'phone=1', headers: { 'Content-Type': 'application/x-www-form-urlencoded' } }),
      415,
      'unsupported_media_type',
    )
    await expectError(await call('POST', '/v1/verifications', { token: app.token, body: '{}' }), 415, 'unsupported_media_type')
  })

  it('answers unknown routes 404 and known routes with another method 405, in the same shape, before authentication', async () => {
    const app = await registerApp()
    await expectError(await call('GET', '/nope'), 404, 'not_found')
    await expectError(await call('PUT', '/v1/numbers/+16505550011', { token: app.token, json: {} }), 405, 'method_not_allowed')
    await expectError(await call('GET', '/v1/verifications', { token: app.token }), 405, 'method_not_allowed')
    await expectError(await call('GET', '/v1/verifications'), 405, 'method_not_allowed')
    await expectError(await call('GET', '/v1/verifications/x/check'), 405, 'method_not_allowed')
    await expectError(await call('POST', '/v1/verifications', { json: {} }), 401, 'unauthorized')
  })

  it('answers malformed and wrong Authorization headers with 401', async () => {
    for (const header of ['', 'Bearer', 'Bearer ', 'Token abc', 'Bearer a b', 'bearer wrong']) {
      const res = await call('GET', '/v1/numbers/+16505550011', { headers: { Authorization: header } })
      await expectError(res, 401, 'unauthorized')
    }
  })
})

describe('GET /openapi.json', () => {
  it('describes every public route', async () => {
    const res = await call('GET', '/openapi.json')
    expect(res.status).toBe(200)
    const doc = (await res.json()) as { openapi: string; paths: Record<string, Record<string, unknown>> }
    expect(doc.openapi).toBe('3.1.0')
    expect(Object.keys(doc.paths).sort()).toEqual([
      '/.well-known/whodis',
      '/.well-known/whodis-oprf',
      '/log/checkpoint',
      '/log/snapshot/latest',
      '/log/snapshot/{size}/data',
      '/log/snapshot/{size}/manifest',
      '/log/tile/entries/{index}',
      '/log/tile/{level}/{index}',
      '/v1/admin/apps',
      '/v1/admin/apps/{id}',
      '/v1/admin/reassigned',
      '/v1/apps/{id}',
      '/v1/evaluate',
      '/v1/holder/bindings',
      '/v1/holder/bindings/{app}',
      '/v1/holder/session',
      '/v1/holder/verifications',
      '/v1/holder/verifications/{id}/check',
      '/v1/lookups',
      '/v1/numbers/{phone}',
      '/v1/numbers/{phone}/apps/{app}',
      '/v1/verifications',
      '/v1/verifications/{id}/check',
    ])
    expect(Object.keys(doc.paths['/v1/verifications']!)).toEqual(['post'])
    expect(Object.keys(doc.paths['/v1/lookups']!)).toEqual(['post'])
  })

  it('documents the batch lookup: its body, its answer of one result per number, and its errors', async () => {
    const doc = (await (await call('GET', '/openapi.json')).json()) as any
    const op = doc.paths['/v1/lookups'].post
    expect(op.security).toEqual([{ appToken: [] }])
    expect(op.requestBody.content['application/json'].schema).toEqual({ $ref: '#/components/schemas/LookupsRequest' })
    expect(doc.components.schemas.LookupsRequest.properties.phones).toMatchObject({ type: 'array', minItems: 1, maxItems: 1000 })
    expect(op.responses['200'].content['application/json'].schema).toEqual({ $ref: '#/components/schemas/Lookups' })
    expect(doc.components.schemas.Lookups.properties.results.items).toEqual({ $ref: '#/components/schemas/Lookup' })
    expect(doc.components.schemas.Lookup.properties.apps.items).toEqual({ $ref: '#/components/schemas/LookupBinding' })
    const [entry, proof] = doc.components.schemas.LookupBinding.allOf
    expect(entry).toEqual({ $ref: '#/components/schemas/BindingEntry' })
    expect(Object.keys(proof.properties).sort()).toEqual(['entry', 'index', 'receipt'])
    expect(Object.keys(op.responses).sort()).toEqual(['200', '400', '401', '413', '415', '429', '4XX', '503'])
    expect(doc.paths['/v1/apps/{id}'].get.responses['200'].content['application/json'].schema).toEqual({ $ref: '#/components/schemas/AppRegistration' })
  })
})

describe('GET /.well-known/whodis', () => {
  it('publishes the origin and the C2SP verifier key of the log', async () => {
    const res = await call('GET', '/.well-known/whodis')
    expect(res.status).toBe(200)
    expect(await res.json()).toMatchObject({
      origin: 'whodis.localhost/log',
      logKey: 'whodis.localhost/log+d137ea6d+AXm1Vi6P5lT5QHixEuipi6eQH4U65pW+1+DjkQutBJZk',
    })
  })

  it('answers 503 not_configured for a missing or malformed signing key', async () => {
    await expectError(await call('GET', '/.well-known/whodis', { env: { LOG_SIGNING_KEY: undefined } }), 503, 'not_configured')
    await expectError(await call('GET', '/.well-known/whodis', { env: { LOG_SIGNING_KEY: 'PRIVATE+KEY+x' } }), 503, 'not_configured')
  })
})

describe('a signing key named other than LOG_ORIGIN', () => {
  const mismatch = { LOG_ORIGIN: 'whodis.example/log' } // the test key is named whodis.localhost/log
  const endpoints = [...new Map(testApp.routes.filter((r) => r.method !== 'ALL').map((r) => [`${r.method} ${r.path}`, r])).values()]

  it('makes every route but the API description refuse with 503 not_configured, saying why', async () => {
    const { token } = await registerApp()
    let refused = 0
    for (const route of endpoints) {
      const path = route.path.replace(/:[a-z]+/gi, 'x1').replace(/\*$/, '0/001')
      const res = await call(route.method, path, { token, env: mismatch, ...(route.method === 'POST' ? { json: {} } : {}) })
      if (route.path === '/openapi.json' || route.path === '/docs') {
        expect(res.status, path).toBe(200)
        continue
      }
      const body = await expectError(res, 503, 'not_configured')
      expect(body.error.message).toBe(
        'LOG_SIGNING_KEY is the key of "whodis.localhost/log" but LOG_ORIGIN is "whodis.example/log": the key\'s name must equal the log origin, as witnesses require (make one with npm run keygen -- whodis.example/log)',
      )
      refused++
    }
    expect(refused).toBeGreaterThan(20)
  })

  it('changes nothing before it refuses', async () => {
    const id = `refused-${crypto.randomUUID().slice(0, 8)}`
    await expectError(await call('POST', '/v1/admin/apps', { token: admin(), json: { id, name: 'Refused' }, env: mismatch }), 503, 'not_configured')
    const phone = freshPhone()
    const app = await registerApp()
    await expectError(await call('POST', '/v1/verifications', { token: app.token, json: { phone }, env: mismatch }), 503, 'not_configured')
    const outbox = await call('GET', `/dev/outbox?phone=${encodeURIComponent(phone)}`, { token: admin() })
    expect(((await outbox.json()) as { messages: unknown[] }).messages).toEqual([])
    expect((await call('POST', '/v1/admin/apps', { token: admin(), json: { id, name: 'Now' } })).status).toBe(201)
  })

  it('also refuses a missing LOG_ORIGIN', async () => {
    const body = await expectError(await call('GET', '/log/checkpoint', { env: { LOG_ORIGIN: undefined } }), 503, 'not_configured')
    expect(body.error.message).toBe('LOG_ORIGIN is not set')
  })
})

describe('GET /dev/outbox', () => {
  it('lists messages newest last, filtered by number, for the admin only', async () => {
    const app = await registerApp()
    const phone = freshPhone()
    await startVerification(app.token, phone)
    await startVerification(app.token, phone)
    const res = await call('GET', `/dev/outbox?phone=${encodeURIComponent(phone)}`, { token: admin() })
    const { messages } = (await res.json()) as { messages: { id: number; to: string }[] }
    expect(messages).toHaveLength(2)
    expect(messages[0]!.id).toBeLessThan(messages[1]!.id)
    expect(messages.every((m) => m.to === phone)).toBe(true)
    await expectError(await call('GET', '/dev/outbox', { token: app.token }), 401, 'unauthorized')
    await expectError(await call('GET', '/dev/outbox?phone=abc', { token: admin() }), 400, 'invalid_phone')
  })

  it('does not exist with any other SMS provider', async () => {
    await expectError(await call('GET', '/dev/outbox', { token: admin(), env: { SMS_PROVIDER: 'twilio' } }), 404, 'not_found')
  })
})

describe('logs', () => {
  let lines: string[] = []
  beforeEach(() => {
    lines = []
    for (const level of ['log', 'warn', 'error', 'info', 'debug'] as const) {
      vi.spyOn(console, level).mockImplementation((...args: unknown[]) => void lines.push(args.map(String).join(' ')))
    }
  })
  afterEach(() => vi.restoreAllMocks())

  it('are JSON lines that never hold a raw number, a code or a token', async () => {
    const app = await registerApp()
    const phone = freshPhone()
    const digits = phone.slice(2)
    const id = await startVerification(app.token, phone)
    const code = await latestCode(phone)
    await call('POST', `/v1/verifications/${id}/check`, { token: app.token, json: { code: '000000' } })
    await call('POST', `/v1/verifications/${id}/check`, { token: app.token, json: { code } })
    await call('GET', `/v1/numbers/${phone}`, { token: app.token })
    await call('GET', `/v1/numbers/${encodeURIComponent('+1 (650) 555-0011')}`, { token: app.token })
    await call('DELETE', `/v1/numbers/${phone}/apps/${app.id}`, { token: app.token })
    await verify(app.token, phone)
    expect(lines.length).toBeGreaterThan(5)
    for (const line of lines) {
      expect(() => JSON.parse(line)).not.toThrow()
      expect(line).not.toContain(digits)
      expect(line).not.toContain('5550011')
      expect(line).not.toContain(code)
      expect(line).not.toContain(app.token)
      expect(line).not.toContain(admin())
    }
    expect(lines.some((l) => JSON.parse(l).event === 'binding_recorded' && /^[0-9a-f]{16}$/.test(JSON.parse(l).phoneTag))).toBe(true)
  })
})

describe('GET /docs', () => {
  it('renders every route of the OpenAPI document as HTML, escaped', async () => {
    const res = await call('GET', '/docs')
    expect(res.status).toBe(200)
    expect(res.headers.get('Content-Type')).toMatch(/^text\/html/)
    const html = await res.text()
    const doc = (await (await call('GET', '/openapi.json')).json()) as { paths: Record<string, Record<string, unknown>> }
    for (const [path, methods] of Object.entries(doc.paths)) {
      for (const method of Object.keys(methods)) {
        expect(html).toContain(`<span class="m">${method.toUpperCase()}</span> <code>${path}</code>`)
      }
    }
    expect(html).toContain('<html lang="en">')
    expect(html).not.toMatch(/<script/i)
  })
})
