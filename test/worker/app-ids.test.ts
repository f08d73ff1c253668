/**
 * App ids and paths: no new id may be one a URL rewrites (`..`), every id a log may hold can be
 * named in every route that takes one, and an app registered as `..` before this rule can still
 * be revoked and its bindings removed, by the app, by the number's holder and by the operator.
 */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { newAppToken, sha256Hex } from '../../src/crypto.ts'
import { sequencer } from '../../src/directory.ts'
import type { Env } from '../../src/env.ts'
import { APP_ID, appIdFromPathSegment, appIdPathSegment, NEW_APP_ID } from '../../src/protocol/entry.ts'
import { admin, call, expectError, freshPhone, latestCode, testEnv, verify } from './helpers.ts'

const LIFTED: Partial<Env> = { SMS_HOLDER_PER_MINUTE: '100000', SMS_PER_COUNTRY_MINUTE: '100000' }
const appIds = fc.stringMatching(/^[a-z0-9.-]{2,8}$/)
const dotty = fc.array(fc.constantFrom('.', '-', 'a', '0'), { minLength: 2, maxLength: 6 }).map((a) => a.join(''))

async function holderSession(phone: string): Promise<string> {
  const started = await call('POST', '/v1/holder/verifications', { json: { phone }, env: LIFTED })
  expect(started.status).toBe(201)
  const { id } = (await started.json()) as { id: string }
  const res = await call('POST', `/v1/holder/verifications/${id}/check`, { json: { code: await latestCode(phone) }, env: LIFTED })
  expect(res.status).toBe(200)
  return ((await res.json()) as { token: string }).token
}

describe('app ids in paths', () => {
  it('refuses to register "..", with a 400 that says why', async () => {
    const body = await expectError(await call('POST', '/v1/admin/apps', { token: admin(), json: { id: '..', name: 'Dots' } }), 400, 'invalid_request')
    expect(body.error.message).toMatch(/id: .*"\.\.".*URL/)
  })

  it('registers only ids that reach their route unchanged, and those are every id a log holds but ".."', () => {
    fc.assert(
      fc.property(fc.oneof(appIds, dotty), (id) => {
        if (!APP_ID.test(id)) return
        const arrives = new URL(`http://whodis.test/v1/admin/apps/${id}`).pathname === `/v1/admin/apps/${id}`
        expect({ id, registrable: NEW_APP_ID.test(id) }).toEqual({ id, registrable: arrives })
        // Every id, ".." included, has a segment that arrives and decodes back to it.
        const segment = new URL(`http://whodis.test/v1/admin/apps/${appIdPathSegment(id)}`).pathname.split('/').at(-1)!
        expect(appIdFromPathSegment(decodeURIComponent(segment))).toBe(id)
      }),
      { numRuns: 2000 },
    )
    expect(NEW_APP_ID.test('..')).toBe(false)
    for (const id of ['...', '.-', '-.', 'a..', '..a', '.a']) expect(NEW_APP_ID.test(id), id).toBe(true)
  })

  it('reaches the revocation route for every id a log may hold', async () => {
    const ids = [...new Set(['..', '...', '.-', 'a..', ...fc.sample(fc.oneof(appIds, dotty), 60)])].filter((id) => APP_ID.test(id))
    for (const id of ids) {
      const body = await expectError(await call('DELETE', `/v1/admin/apps/${appIdPathSegment(id)}`, { token: admin() }), 404, 'app_not_found')
      expect(body.error.message).toBe(`no app ${id}`)
    }
  })

  it('registers and revokes ids made mostly of dots', async () => {
    for (const id of ['...', '.-', '-.', 'x..', '..x']) {
      const created = await call('POST', '/v1/admin/apps', { token: admin(), json: { id, name: 'Dotted' } })
      expect(created.status).toBe(201)
      const revoked = await call('DELETE', `/v1/admin/apps/${appIdPathSegment(id)}`, { token: admin() })
      expect(await revoked.json()).toMatchObject({ id, revoked: true })
    }
  })

  it('lets an app registered as ".." before the rule be revoked and every binding of it removed', async () => {
    // As an older directory would have registered it (the route refuses it now).
    const token = newAppToken()
    expect(await sequencer(testEnv).registerApp('..', 'Dots', sha256Hex(token))).toMatchObject({ ok: true })
    const [byApp, byHolder, left] = [freshPhone(), freshPhone(), freshPhone()]
    for (const phone of [byApp, byHolder, left]) expect((await verify(token, phone)).binding.app).toBe('..')

    // The plain forms never reach a route: URL parsing has removed the "..".
    await expectError(await call('DELETE', `/v1/numbers/${byApp}/apps/..`, { token }), 404, 'not_found')
    await expectError(await call('DELETE', '/v1/admin/apps/..', { token: admin() }), 404, 'not_found')
    await expectError(await call('DELETE', '/v1/admin/apps/%2E%2E', { token: admin() }), 404, 'not_found')

    // The app removes its own binding.
    expect((await call('DELETE', `/v1/numbers/${byApp}/apps/%252E%252E`, { token })).status).toBe(204)
    await expectError(await call('GET', `/v1/numbers/${byApp}`, { token }), 404, 'number_not_found')

    // The number's holder removes theirs.
    const session = await holderSession(byHolder)
    expect((await call('DELETE', '/v1/holder/bindings/%252E%252E', { token: session })).status).toBe(204)
    const view = (await (await call('GET', '/v1/holder/bindings', { token: session })).json()) as { apps: unknown[]; entries: { op: string; app: string; reason: string }[] }
    expect(view.apps).toEqual([])
    expect(view.entries[0]).toMatchObject({ op: 'remove', app: '..', reason: 'holder' })

    // The operator revokes the app, which removes the binding left.
    const revoked = await call('DELETE', '/v1/admin/apps/%252E%252E', { token: admin() })
    expect(await revoked.json()).toEqual({ id: '..', revoked: true, bindingsRemoved: 1 })
    await expectError(await call('GET', `/v1/numbers/${left}`, { token }), 401, 'unauthorized')
  })
})
