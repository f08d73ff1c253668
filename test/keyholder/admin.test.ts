/**
 * The key holder's own registry (keyholder/src/apps.ts) and what it stores: app tokens shown
 * once and kept only as hashes, ids never reused, revocation that voids a token, an admin token
 * of its own; no directory route; and, after evaluations, nothing stored but app records, token
 * hashes and meter state (never a number or an element).
 */
import { runInDurableObject } from 'cloudflare:test'
import { describe, expect, it } from 'vitest'
import { appKey, tokenKey } from '../../keyholder/src/apps.ts'
import { sha256Hex } from '../../src/crypto.ts'
import { toBase64Url, toHex } from '../../src/protocol/bytes.ts'
import { blindNumbers } from '../../src/protocol/oprf.ts'
import { numbers } from '../evaluation-suite.ts'
import { admin, call, expectError, keyholderEnv, registerApp } from './helpers.ts'

/** Every key and value in KV APPS. */
async function allOfApps(): Promise<{ key: string; value: string }[]> {
  const out: { key: string; value: string }[] = []
  let cursor: string | undefined
  do {
    const page: KVNamespaceListResult<unknown> = await keyholderEnv.APPS.list(cursor ? { cursor } : {})
    for (const { name } of page.keys) out.push({ key: name, value: (await keyholderEnv.APPS.get(name))! })
    cursor = page.list_complete ? undefined : page.cursor
  } while (cursor)
  return out
}

describe('key holder: POST /v1/admin/apps', () => {
  it('shows a token once and keeps only its SHA-256', async () => {
    const app = await registerApp()
    expect(app.token).toMatch(/^whodis_kh_[A-Za-z0-9_-]{43}$/)
    const hash = sha256Hex(app.token)
    expect(await keyholderEnv.APPS.get(tokenKey(hash))).toBe(app.id)
    expect(await keyholderEnv.APPS.get(appKey(app.id), 'json')).toMatchObject({ v: 1, name: app.name, tokenHash: hash })
    for (const { key, value } of await allOfApps()) {
      expect(key).not.toContain(app.token)
      expect(value).not.toContain(app.token)
    }
    // Two registrations never share a token.
    expect((await registerApp()).token).not.toBe(app.token)
  })

  it('never reuses an id, revoked or not', async () => {
    const app = await registerApp()
    await expectError(await call('POST', '/v1/admin/apps', { token: admin(), json: { id: app.id, name: 'Again' } }), 409, 'app_exists')
    expect((await call('DELETE', `/v1/admin/apps/${app.id}`, { token: admin() })).status).toBe(200)
    await expectError(await call('POST', '/v1/admin/apps', { token: admin(), json: { id: app.id, name: 'Again' } }), 409, 'app_exists')
  })

  it('takes the directory’s id and name rules', async () => {
    for (const json of [{ id: '..', name: 'x' }, { id: 'A', name: 'x' }, { id: 'ok-id', name: 'bad\u0007name' }, { id: 'ok-id', name: '' }, { id: 'ok-id' }]) {
      await expectError(await call('POST', '/v1/admin/apps', { token: admin(), json }), 400, 'invalid_request')
    }
    await expectError(await call('POST', '/v1/admin/apps', { token: admin(), body: '{', headers: { 'Content-Type': 'application/json' } }), 400, 'malformed_json')
    await expectError(await call('POST', '/v1/admin/apps', { token: admin(), body: 'id=x', headers: { 'Content-Type': 'application/x-www-form-urlencoded' } }), 415, 'unsupported_media_type')
  })

  it("wants the key holder's own admin token, compared whole; none configured is 503", async () => {
    const json = { id: `x-${crypto.randomUUID().slice(0, 8)}`, name: 'X' }
    await expectError(await call('POST', '/v1/admin/apps', { json }), 401, 'unauthorized')
    await expectError(await call('POST', '/v1/admin/apps', { token: `${admin()}x`, json }), 401, 'unauthorized')
    await expectError(await call('POST', '/v1/admin/apps', { token: admin().slice(0, -1), json }), 401, 'unauthorized')
    // The directory's test admin token is not the key holder's.
    await expectError(await call('POST', '/v1/admin/apps', { token: 'test-admin-token-0123456789abcdef0123456789abcdef', json }), 401, 'unauthorized')
    await expectError(await call('POST', '/v1/admin/apps', { token: admin(), json, env: { ADMIN_TOKEN: '' } }), 503, 'not_configured')
    expect(await keyholderEnv.APPS.get(appKey(json.id))).toBeNull()
  })
})

describe('key holder: DELETE /v1/admin/apps/:id', () => {
  it('voids the token at once, and again is still revoked', async () => {
    const app = await registerApp()
    const elements = blindNumbers(numbers(1)).map((b) => toBase64Url(b.element))
    expect((await call('POST', '/v1/evaluate', { token: app.token, json: { elements } })).status).toBe(200)
    for (let i = 0; i < 2; i++) {
      const res = await call('DELETE', `/v1/admin/apps/${app.id}`, { token: admin() })
      expect(await res.json()).toEqual({ id: app.id, revoked: true })
    }
    await expectError(await call('POST', '/v1/evaluate', { token: app.token, json: { elements } }), 401, 'unauthorized')
    expect(await keyholderEnv.APPS.get(tokenKey(sha256Hex(app.token)))).toBeNull()
  })

  it('is 404 app_not_found for an id never registered, and needs the admin token', async () => {
    await expectError(await call('DELETE', '/v1/admin/apps/never-registered', { token: admin() }), 404, 'app_not_found')
    const app = await registerApp()
    await expectError(await call('DELETE', `/v1/admin/apps/${app.id}`, { token: app.token }), 401, 'unauthorized')
  })

  it('a token key with no record (a registration cut off between its two writes) is void and takes no id', async () => {
    const id = `cut-${crypto.randomUUID().slice(0, 8)}`
    const token = 'whodis_kh_' + 'A'.repeat(43)
    await keyholderEnv.APPS.put(tokenKey(sha256Hex(token)), id)
    const elements = blindNumbers(numbers(1)).map((b) => toBase64Url(b.element))
    await expectError(await call('POST', '/v1/evaluate', { token, json: { elements } }), 401, 'unauthorized')
    expect((await call('POST', '/v1/admin/apps', { token: admin(), json: { id, name: 'Cut' } })).status).toBe(201)
    await expectError(await call('POST', '/v1/evaluate', { token, json: { elements } }), 401, 'unauthorized')
  })

  it('a token whose record names another token (a lost registration race) is void', async () => {
    const app = await registerApp()
    const record = (await keyholderEnv.APPS.get<Record<string, unknown>>(appKey(app.id), 'json'))!
    await keyholderEnv.APPS.put(appKey(app.id), JSON.stringify({ ...record, tokenHash: sha256Hex('the other registration’s token') }))
    const elements = blindNumbers(numbers(1)).map((b) => toBase64Url(b.element))
    await expectError(await call('POST', '/v1/evaluate', { token: app.token, json: { elements } }), 401, 'unauthorized')
  })
})

describe('key holder: routes', () => {
  it('serves no directory route, and answers 404 and 405 in the uniform shape', async () => {
    for (const path of ['/.well-known/whodis', '/log/checkpoint', '/v1/numbers/+16505550011', '/v1/lookups', '/v1/verifications']) {
      await expectError(await call('GET', path), 404, 'not_found')
    }
    const res = await call('GET', '/v1/evaluate')
    await expectError(res, 405, 'method_not_allowed')
    expect(res.headers.get('Allow')).toBe('POST')
  })

  it('describes itself at /openapi.json', async () => {
    const doc = (await (await call('GET', '/openapi.json')).json()) as { info: { title: string }; paths: Record<string, unknown> }
    expect(doc.info.title).toBe('whodis key holder')
    expect(Object.keys(doc.paths).sort()).toEqual(['/.well-known/whodis-oprf', '/v1/admin/apps', '/v1/admin/apps/{id}', '/v1/evaluate'])
  })
})

describe('key holder: storage', () => {
  it('keeps app records, token hashes and meter state, and no number or element', async () => {
    const app = await registerApp()
    const phones = numbers(5)
    const blinded = blindNumbers(phones)
    const elements = blinded.map((b) => toBase64Url(b.element))
    const res = await call('POST', '/v1/evaluate', { token: app.token, json: { elements } })
    const { evaluations } = (await res.json()) as { evaluations: string[] }
    const stored = await allOfApps()
    for (const { key } of stored) expect(key).toMatch(/^(app:[a-z0-9.-]+|token:[0-9a-f]{64})$/)
    const meter = keyholderEnv.METER.getByName(app.id)
    const tables = await runInDurableObject(meter, (_, state) => ({
      schema: state.storage.sql.exec<{ name: string }>("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE '\\_cf\\_%' ESCAPE '\\' ORDER BY name").toArray().map((r) => r.name),
      bucket: state.storage.sql.exec('SELECT * FROM bucket').toArray(),
      kv: [...state.storage.kv.list()],
    }))
    expect(tables.schema).toEqual(['bucket', 'schema_version'])
    expect(tables.bucket).toEqual([{ id: 0, credit: expect.any(Number), updated_at: expect.any(Number) }])
    expect(tables.kv).toEqual([])
    const everything = JSON.stringify({ stored, tables })
    for (const secret of [...elements, ...evaluations, ...blinded.map((b) => toHex(b.element)), ...phones, ...phones.map((p) => p.slice(1))]) {
      expect(everything).not.toContain(secret)
    }
  })
})
