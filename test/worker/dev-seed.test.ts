import { describe, expect, it } from 'vitest'
import { admin, call, expectError, freshPhone, registerApp } from './helpers.ts'
import { fetchEntries, fold, latestCheckpoint, pinnedKey } from './log-client.ts'

describe('POST /dev/seed', () => {
  it('binds numbers as verifications would, each a logged entry, and answers once sequenced', async () => {
    const app = await registerApp()
    const phones = Array.from({ length: 40 }, freshPhone)
    const res = await call('POST', '/dev/seed', { token: admin(), json: { app: app.id, phones } })
    expect(res.status).toBe(200)
    const body = (await res.json()) as { bound: number; lastIndex: number }
    expect(body.bound).toBe(40)
    const { checkpoint } = await latestCheckpoint(await pinnedKey(), app.token)
    expect(checkpoint.size).toBeGreaterThan(body.lastIndex)
    const state = fold(await fetchEntries(app.token, checkpoint.size))
    const num = state.appById(app.id)!.num
    for (const p of phones) {
      expect((await call('GET', `/v1/numbers/${p}`, { token: app.token })).status).toBe(200)
      expect(state.records.get(Number(p.slice(1)))?.map((b) => b.app)).toContain(num)
    }
  })

  it('binds nothing twice when a batch is sent again (the batch id names its verifications)', async () => {
    const app = await registerApp()
    const phones = Array.from({ length: 12 }, freshPhone)
    const send = async () => {
      const res = await call('POST', '/dev/seed', { token: admin(), json: { app: app.id, phones, batch: 'retry-1' } })
      expect(res.status).toBe(200)
      return (await res.json()) as { bound: number; lastIndex: number }
    }
    const first = await send()
    const sizeAfterFirst = (await latestCheckpoint(await pinnedKey(), app.token)).checkpoint.size
    const again = await send()
    expect(again).toMatchObject({ bound: 12, lastIndex: first.lastIndex })
    expect((await latestCheckpoint(await pinnedKey(), app.token)).checkpoint.size).toBe(sizeAfterFirst)
    await expectError(await call('POST', '/dev/seed', { token: admin(), json: { app: app.id, phones, batch: 'not a/valid id' } }), 400, 'invalid_request')
  })

  it('refuses bad bodies and unknown apps, needs the admin token, and exists only with the outbox', async () => {
    const app = await registerApp()
    await expectError(await call('POST', '/dev/seed', { token: admin(), json: { app: app.id } }), 400, 'invalid_request')
    await expectError(await call('POST', '/dev/seed', { token: admin(), json: { app: app.id, phones: ['nope'] } }), 400, 'invalid_phone')
    await expectError(await call('POST', '/dev/seed', { token: admin(), json: { app: 'no-such-app', phones: [freshPhone()] } }), 400, 'invalid_request')
    await expectError(await call('POST', '/dev/seed', { token: app.token, json: { app: app.id, phones: [] } }), 401, 'unauthorized')
    await expectError(
      await call('POST', '/dev/seed', { token: admin(), json: { app: app.id, phones: [] }, env: { SMS_PROVIDER: 'twilio' } }),
      404,
      'not_found',
    )
  })
})
