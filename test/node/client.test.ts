/**
 * The SDK as an app developer uses it: imported by its package name (`whodis/client`, the
 * JavaScript that `npm install` builds into dist/), against the real Worker on loopback.
 */
import { execFileSync } from 'node:child_process'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { CredentialError, ReceiptError, WhodisClient, WhodisError, chooseApp } from 'whodis/client'
import { client, startDirectory, type RunningDirectory } from './directory.ts'

let dir: RunningDirectory

beforeAll(async () => {
  dir = await startDirectory()
})
afterAll(async () => {
  await dir?.stop()
})

async function codeFor(phone: string): Promise<string> {
  const outbox = await client(dir.url, dir.adminToken)('GET', `/dev/outbox?phone=${encodeURIComponent(phone)}`)
  return outbox.body.messages.at(-1).body.slice(-6)
}

describe('whodis/client', () => {
  it('imports from plain Node by package name, types included', () => {
    const out = execFileSync(process.execPath, ['--input-type=module', '-e', "import { chooseApp } from 'whodis/client'; console.log(chooseApp(['appa'], ['appb', 'appa']))"], {
      encoding: 'utf8',
    })
    expect(out.trim()).toBe('appa')
    expect(chooseApp(['appb'], ['appa'])).toBeNull()
  })

  it('verifies, looks up with proof, checks a presented credential offline, and removes', async () => {
    const operator = client(dir.url, dir.adminToken)
    const a = (await operator('POST', '/v1/admin/apps', { id: 'sdk-a', name: 'SDK A' })).body
    const b = (await operator('POST', '/v1/admin/apps', { id: 'sdk-b', name: 'SDK B' })).body
    const appA = new WhodisClient({ baseUrl: dir.url, token: a.token })
    const appB = new WhodisClient({ baseUrl: dir.url, token: b.token })

    const { id } = await appA.startVerification('+1 (650) 555-0011', { publicKey: 'BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc' })
    const code = await codeFor('+16505550011')
    const wrong = await appA.checkVerification(id, String((Number(code) + 1) % 1_000_000).padStart(6, '0')).catch((e) => e)
    expect(wrong).toBeInstanceOf(WhodisError)
    expect(wrong).toMatchObject({ status: 422, code: 'wrong_code', attemptsLeft: 4 })
    const checked = await appA.checkVerification(id, code)
    expect(checked.binding).toMatchObject({ phone: '+16505550011', app: 'sdk-a' })

    // App B is handed Alice's credential and receipt, and checks them with no network call to the directory.
    const presented = await appB.verifyPresented(checked.credential, checked.receipt)
    expect(presented).toMatchObject({ phone: '+16505550011', app: 'sdk-a', index: checked.index })
    await expect(appB.verifyPresented(checked.credential.replace('sdk-a', 'sdk-b'))).rejects.toBeInstanceOf(CredentialError)
    await expect(appB.verifyPresented(checked.credential, checked.receipt.replace(/index \d+/, 'index 0'))).rejects.toBeInstanceOf(ReceiptError)

    const found = await appB.lookup('+1 650 555 0011', { proof: true })
    expect(found?.apps.map((x) => x.app)).toEqual(['sdk-a'])
    await appB.verifyLookup(found!)
    expect((await appB.checkpoint()).size).toBeGreaterThan(checked.index)

    await expect(appB.removeBinding('+16505550011', 'sdk-a')).rejects.toMatchObject({ status: 403, code: 'forbidden' })
    await appA.removeBinding('+16505550011', 'sdk-a')
    expect(await appB.lookup('+16505550011')).toBeNull()
    await expect(new WhodisClient({ baseUrl: dir.url, token: 'whodis_app_nope' }).lookup('+16505550011')).rejects.toMatchObject({
      status: 401,
      code: 'unauthorized',
    })
  })
})
