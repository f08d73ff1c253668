import { describe, expect, it } from 'vitest'
import { admin, call, expectError, freshPhone, registerApp, verify } from './helpers.ts'

describe('POST /v1/admin/apps', () => {
  it('registers an app and shows a 256-bit token once', async () => {
    const res = await call('POST', '/v1/admin/apps', { token: admin(), json: { id: 'appa', name: 'App A' } })
    expect(res.status).toBe(201)
    const body = (await res.json()) as { id: string; name: string; token: string }
    expect(body.id).toBe('appa')
    expect(body.name).toBe('App A')
    expect(body.token).toMatch(/^whodis_app_[A-Za-z0-9_-]{43}$/)
    const lookup = await call('GET', '/v1/numbers/+16505550011', { token: body.token })
    expect(lookup.status).toBe(404) // authenticated: unknown number, not 401
  })

  it('refuses a second app with the same id', async () => {
    const { id } = await registerApp()
    await expectError(await call('POST', '/v1/admin/apps', { token: admin(), json: { id, name: 'x' } }), 409, 'app_exists')
  })

  it.each([
    ['uppercase', 'AppA'],
    ['too short', 'a'],
    ['too long', 'a'.repeat(65)],
    ['underscore', 'app_a'],
    ['space', 'app a'],
    ['empty', ''],
  ])('rejects an id that is %s', async (_, id) => {
    await expectError(await call('POST', '/v1/admin/apps', { token: admin(), json: { id, name: 'ok' } }), 400, 'invalid_request')
  })

  it('accepts ids at the edges of the rules', async () => {
    for (const id of ['ab', 'a'.repeat(64), 'chat.example-2']) {
      const res = await call('POST', '/v1/admin/apps', { token: admin(), json: { id, name: 'Edge' } })
      expect(res.status).toBe(201)
    }
  })

  it('rejects names with control characters, empty or too long', async () => {
    for (const name of ['Evil\nApp', '', 'x'.repeat(65), 42]) {
      await expectError(await call('POST', '/v1/admin/apps', { token: admin(), json: { id: 'named', name } }), 400, 'invalid_request')
    }
  })

  it('needs the admin token', async () => {
    await expectError(await call('POST', '/v1/admin/apps', { json: { id: 'x1', name: 'x' } }), 401, 'unauthorized')
    await expectError(await call('POST', '/v1/admin/apps', { token: 'wrong', json: { id: 'x1', name: 'x' } }), 401, 'unauthorized')
    const app = await registerApp()
    await expectError(await call('POST', '/v1/admin/apps', { token: app.token, json: { id: 'x1', name: 'x' } }), 401, 'unauthorized')
    await expectError(
      await call('POST', '/v1/admin/apps', { headers: { Authorization: `Basic ${admin()}` }, json: { id: 'x1', name: 'x' } }),
      401,
      'unauthorized',
    )
  })
})

describe('DELETE /v1/admin/apps/:id', () => {
  it('revokes the token, removes the bindings, and never reuses the id', async () => {
    const a = await registerApp()
    const b = await registerApp()
    const phone = freshPhone()
    await verify(a.token, phone)
    await verify(b.token, phone)

    const res = await call('DELETE', `/v1/admin/apps/${a.id}`, { token: admin() })
    expect(res.status).toBe(200)
    expect(await res.json()).toEqual({ id: a.id, revoked: true, bindingsRemoved: 1 })

    await expectError(await call('GET', `/v1/numbers/${phone}`, { token: a.token }), 401, 'unauthorized')
    const lookup = await call('GET', `/v1/numbers/${phone}`, { token: b.token })
    expect(((await lookup.json()) as any).apps.map((x: any) => x.app)).toEqual([b.id])
    await expectError(await call('POST', '/v1/admin/apps', { token: admin(), json: { id: a.id, name: 'again' } }), 409, 'app_exists')
  })

  it('answers 404 for an unknown app and 401 without the admin token', async () => {
    await expectError(await call('DELETE', '/v1/admin/apps/nosuchapp', { token: admin() }), 404, 'app_not_found')
    const a = await registerApp()
    await expectError(await call('DELETE', `/v1/admin/apps/${a.id}`, { token: a.token }), 401, 'unauthorized')
  })
})
