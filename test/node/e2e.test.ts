/**
 * The essay's example over real HTTP: Alice (+1 650 555 0011) and Charlie (+1 510 555 0033)
 * verify on app A, Bob (+1 415 555 0022) on app B, and Bob's app finds that Alice is on A.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { client, startDirectory, type RunningDirectory } from './directory.ts'

let dir: RunningDirectory

beforeAll(async () => {
  dir = await startDirectory()
})
afterAll(async () => {
  await dir?.stop()
})

describe('two apps over loopback HTTP', () => {
  it('plays the Alice, Bob and Charlie example end to end', async () => {
    const operator = client(dir.url, dir.adminToken)
    const created = await Promise.all([
      operator('POST', '/v1/admin/apps', { id: 'appa', name: 'App A' }),
      operator('POST', '/v1/admin/apps', { id: 'appb', name: 'App B' }),
    ])
    expect(created.map((r) => r.status)).toEqual([201, 201])
    const appA = client(dir.url, created[0].body.token)
    const appB = client(dir.url, created[1].body.token)

    async function verifyOn(app: typeof appA, appName: string, typed: string, e164: string) {
      const started = await app('POST', '/v1/verifications', { phone: typed })
      expect(started.status).toBe(201)
      const outbox = await operator('GET', `/dev/outbox?phone=${encodeURIComponent(e164)}`)
      const text: string = outbox.body.messages.at(-1).body
      expect(text).toMatch(new RegExp(`^${appName} code: \\d{6}$`))
      const checked = await app('POST', `/v1/verifications/${started.body.id}/check`, { code: text.slice(-6) })
      expect(checked.status).toBe(200)
      expect(checked.body.binding.phone).toBe(e164)
      return checked.body
    }

    await verifyOn(appA, 'App A', '+1 (650) 555-0011', '+16505550011') // Alice
    await verifyOn(appB, 'App B', '+1 415 555 0022', '+14155550022') // Bob
    await verifyOn(appA, 'App A', '+1.510.555.0033', '+15105550033') // Charlie

    // Bob's app looks Alice up and finds app A.
    const alice = await appB('GET', '/v1/numbers/+16505550011')
    expect(alice.status).toBe(200)
    expect(alice.body.phone).toBe('+16505550011')
    expect(alice.body.apps.map((a: { app: string }) => a.app)).toEqual(['appa'])
    // Alice's app finds Bob on B, and Charlie on A.
    expect((await appA('GET', '/v1/numbers/+14155550022')).body.apps[0].app).toBe('appb')
    expect((await appA('GET', '/v1/numbers/%2B15105550033')).body.apps[0].app).toBe('appa')

    // App B cannot remove Alice's binding to A; app A can.
    expect((await appB('DELETE', '/v1/numbers/+16505550011/apps/appa')).status).toBe(403)
    expect((await appA('DELETE', '/v1/numbers/+16505550011/apps/appa')).status).toBe(204)
    expect((await appB('GET', '/v1/numbers/+16505550011')).status).toBe(404)

    // Clear errors for bad input, over the wire.
    const bad = await appB('GET', '/v1/numbers/not-a-number')
    expect(bad.status).toBe(400)
    expect(bad.body.error.code).toBe('invalid_phone')
    const res = await fetch(`${dir.url}/v1/verifications`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${created[1].body.token}`, 'Content-Type': 'application/json' },
      body: '{"phone":',
    })
    expect(res.status).toBe(400)
    expect(((await res.json()) as any).error.code).toBe('malformed_json')
  })
})
