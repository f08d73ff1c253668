import { createScheduledController, runInDurableObject } from 'cloudflare:test'
import { describe, expect, it } from 'vitest'
import { shardFor } from '../../src/directory.ts'
import worker from '../../src/index.ts'
import { admin, bindDirect, call, expectError, freshPhone, logChanges, pendingProjections, registerApp, testEnv, verify } from './helpers.ts'

describe('GET /v1/numbers/:phone', () => {
  it('lists every app a number is bound to, sorted, from any app', async () => {
    const b = await registerApp('zeta-app')
    const a = await registerApp('alpha-app')
    const looker = await registerApp()
    const phone = freshPhone()
    const vb = await verify(b.token, phone)
    const va = await verify(a.token, phone)
    const res = await call('GET', `/v1/numbers/${phone}`, { token: looker.token })
    expect(res.status).toBe(200)
    expect(await res.json()).toEqual({
      phone,
      apps: [
        { app: 'alpha-app', verifiedAt: va.binding.verifiedAt, expiresAt: va.binding.expiresAt },
        { app: 'zeta-app', verifiedAt: vb.binding.verifiedAt, expiresAt: vb.binding.expiresAt },
      ],
    })
  })

  it('accepts the number as people type it', async () => {
    const app = await registerApp()
    await verify(app.token, '+1 415 555 0022')
    for (const typed of ['+14155550022', '+1 (415) 555-0022', '+1.415.555.0022', ' +1-415-555-0022 ']) {
      const res = await call('GET', `/v1/numbers/${encodeURIComponent(typed)}`, { token: app.token })
      expect(res.status).toBe(200)
      expect(((await res.json()) as any).phone).toBe('+14155550022')
    }
  })

  it('answers 404 for a number with no binding and 400 for a non-number', async () => {
    const app = await registerApp()
    await expectError(await call('GET', `/v1/numbers/${freshPhone()}`, { token: app.token }), 404, 'number_not_found')
    for (const bad of ['12345', 'abc', '%2B1', '+999999']) {
      await expectError(await call('GET', `/v1/numbers/${bad}`, { token: app.token }), 400, 'invalid_phone')
    }
  })

  it('needs an app token', async () => {
    await expectError(await call('GET', `/v1/numbers/${freshPhone()}`), 401, 'unauthorized')
    await expectError(await call('GET', `/v1/numbers/${freshPhone()}`, { token: 'whodis_app_forged' }), 401, 'unauthorized')
  })

  it('enforces the per-app lookup quota with 429 and Retry-After', async () => {
    const app = await registerApp()
    const env = { LOOKUPS_PER_APP_MINUTE: '3' }
    for (let i = 0; i < 3; i++) expect((await call('GET', `/v1/numbers/${freshPhone()}`, { token: app.token, env })).status).toBe(404)
    const res = await call('GET', `/v1/numbers/${freshPhone()}`, { token: app.token, env })
    await expectError(res, 429, 'rate_limited')
    expect(Number(res.headers.get('Retry-After'))).toBeGreaterThanOrEqual(1)
    const other = await registerApp()
    expect((await call('GET', `/v1/numbers/${freshPhone()}`, { token: other.token, env })).status).toBe(404)
  })

  it('never returns an expired binding, and the cron removes it through the writer', async () => {
    const app = await registerApp()
    const phone = freshPhone()
    const now = Date.now()
    const bound = await bindDirect({ phone, app: app.id, now: now - 2 * 86_400_000, ttlDays: 1 })
    expect(bound.ok).toBe(true)
    await expectError(await call('GET', `/v1/numbers/${phone}`, { token: app.token }), 404, 'number_not_found')

    await worker.scheduled(createScheduledController({ scheduledTime: now, cron: '17 * * * *' }), testEnv)
    const { rpc, shard, subject } = shardFor(testEnv, phone)
    expect(await rpc.bindingsOf(shard, subject, phone)).toEqual([])
    const changes = await logChanges()
    const last = changes.filter((c) => c.phone === phone).map((c) => c.op)
    expect(last).toEqual(['add', 'expire'])
  })
})

describe('DELETE /v1/numbers/:phone/apps/:app', () => {
  it("removes the app's own binding and leaves the others", async () => {
    const a = await registerApp()
    const b = await registerApp()
    const phone = freshPhone()
    await verify(a.token, phone)
    await verify(b.token, phone)
    const res = await call('DELETE', `/v1/numbers/${encodeURIComponent(phone)}/apps/${a.id}`, { token: a.token })
    expect(res.status).toBe(204)
    const lookup = (await (await call('GET', `/v1/numbers/${phone}`, { token: a.token })).json()) as any
    expect(lookup.apps.map((x: any) => x.app)).toEqual([b.id])
    await expectError(await call('DELETE', `/v1/numbers/${phone}/apps/${a.id}`, { token: a.token }), 404, 'binding_not_found')
  })

  it("refuses to remove another app's binding", async () => {
    const a = await registerApp()
    const b = await registerApp()
    const phone = freshPhone()
    await verify(a.token, phone)
    await expectError(await call('DELETE', `/v1/numbers/${phone}/apps/${a.id}`, { token: b.token }), 403, 'forbidden')
    expect((await call('GET', `/v1/numbers/${phone}`, { token: b.token })).status).toBe(200)
  })

  it('validates the number and the app id', async () => {
    const a = await registerApp()
    await expectError(await call('DELETE', `/v1/numbers/123/apps/${a.id}`, { token: a.token }), 400, 'invalid_phone')
    await expectError(await call('DELETE', `/v1/numbers/${freshPhone()}/apps/BAD_ID`, { token: a.token }), 400, 'invalid_request')
  })
})

describe('POST /v1/admin/reassigned', () => {
  it('removes bindings verified before the disconnection and keeps later ones', async () => {
    const a = await registerApp()
    const b = await registerApp()
    const phone = freshPhone()
    const old = await bindDirect({ phone, app: a.id, now: Date.parse('2026-01-05T12:00:00Z'), ttlDays: 365 })
    expect(old.ok).toBe(true)
    await verify(b.token, phone)
    const res = await call('POST', '/v1/admin/reassigned', {
      token: admin(),
      json: { numbers: [{ phone, disconnectedAt: '2026-06-01' }] },
    })
    expect(res.status).toBe(200)
    expect(await res.json()).toEqual({ removed: 1 })
    const lookup = (await (await call('GET', `/v1/numbers/${phone}`, { token: b.token })).json()) as any
    expect(lookup.apps.map((x: any) => x.app)).toEqual([b.id])
    const changes = (await logChanges()).filter((c) => c.phone === phone)
    expect(changes.at(-1)).toMatchObject({ op: 'remove', app: a.id, reason: 'reassigned' })
  })

  it('applies nothing when one report is invalid', async () => {
    const a = await registerApp()
    const phone = freshPhone()
    await verify(a.token, phone)
    const res = await call('POST', '/v1/admin/reassigned', {
      token: admin(),
      json: { numbers: [{ phone, disconnectedAt: '2099-01-01T00:00:00Z' }, { phone: 'nonsense', disconnectedAt: '2026-01-01' }] },
    })
    const body = await expectError(res, 400, 'invalid_phone')
    expect(body.error.message).toMatch(/^numbers\[1\]/)
    expect((await call('GET', `/v1/numbers/${phone}`, { token: a.token })).status).toBe(200)
  })

  it('validates dates and needs the admin token', async () => {
    const a = await registerApp()
    for (const disconnectedAt of ['yesterday', '2026-13-01', 12345]) {
      await expectError(
        await call('POST', '/v1/admin/reassigned', { token: admin(), json: { numbers: [{ phone: freshPhone(), disconnectedAt }] } }),
        400,
        'invalid_request',
      )
    }
    await expectError(await call('POST', '/v1/admin/reassigned', { token: admin(), json: { numbers: [] } }), 400, 'invalid_request')
    await expectError(
      await call('POST', '/v1/admin/reassigned', { token: a.token, json: { numbers: [{ phone: freshPhone(), disconnectedAt: '2026-01-01' }] } }),
      401,
      'unauthorized',
    )
  })
})

describe('the write path', () => {
  it('gives every change the next index, from 0, across all kinds of change', async () => {
    const app = await registerApp()
    const phone = freshPhone()
    await verify(app.token, phone)
    await verify(app.token, phone)
    await call('DELETE', `/v1/numbers/${phone}/apps/${app.id}`, { token: app.token })
    const changes = await logChanges()
    expect(changes.map((c) => c.index)).toEqual(changes.map((_, i) => i))
    expect(changes.filter((c) => c.phone === phone).map((c) => [c.op, c.reason])).toEqual([
      ['add', null],
      ['renew', null],
      ['remove', 'app'],
    ])
    expect(await pendingProjections()).toBe(0)
  })

  it('keeps times in whole seconds, as log entries carry them', async () => {
    const app = await registerApp()
    const phone = freshPhone()
    const res = await bindDirect({ phone, app: app.id, now: 1_790_000_000_123, ttlDays: 1 })
    expect(res.ok && res.binding.verifiedAt).toBe(1_790_000_000_000)
  })

  it('rewrites a projection that was lost, from its pending mark, on the next alarm', async () => {
    const app = await registerApp()
    const phone = freshPhone()
    await verify(app.token, phone)
    // Simulate a crash after the commit but before the KV write: drop the value, restore the mark.
    await testEnv.DIRECTORY.delete(`number:${phone}`)
    const { rpc, subject } = shardFor(testEnv, phone)
    await runInDurableObject(rpc as unknown as DurableObjectStub, async (instance, state) => {
      state.storage.sql.exec('INSERT INTO pending (subject, idx) VALUES (?, 0)', subject)
      await (instance as DurableObject).alarm!()
    })
    expect((await call('GET', `/v1/numbers/${phone}`, { token: app.token })).status).toBe(200)
    expect(await pendingProjections()).toBe(0)
  })
})
