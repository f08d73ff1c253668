/**
 * The SDK as an app developer uses it: imported by its package name (`whodis/client`, the
 * JavaScript that `npm install` builds into dist/), against the real Worker on loopback.
 */
import { execFileSync } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { CredentialError, HolderClient, ProofError, WhodisClient, WhodisError, chooseApp } from 'whodis/client'
import { openMirror, startServer } from '../../replicas/src/index.ts'
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
    const out = execFileSync(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        "import { chooseApp, HolderClient, WhodisClient } from 'whodis/client'; console.log(chooseApp(['appa'], ['appb', 'appa']), typeof HolderClient, typeof WhodisClient.prototype.lookupVia)",
      ],
      { encoding: 'utf8' },
    )
    expect(out.trim()).toBe('appa function function')
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

    // App B is handed Alice's credential and receipt, and checks them against the log key; the
    // credential's app is tied to its entry by sdk-a's registration, fetched once (it names no number).
    const presented = await appB.verifyPresented(checked.credential, checked.receipt)
    expect(presented).toMatchObject({ phone: '+16505550011', app: 'sdk-a', index: checked.index })
    expect(presented.checkpoint!.size).toBeGreaterThan(checked.index)
    await expect(appB.verifyPresented(checked.credential.replace('sdk-a', 'sdk-b'))).rejects.toBeInstanceOf(CredentialError)
    const wrongIndex = await appB.verifyPresented(checked.credential, checked.receipt.replace(/index \d+/, 'index 0')).catch((e) => e)
    expect(wrongIndex).toBeInstanceOf(ProofError)
    expect(wrongIndex.code).toBe('bad_receipt')

    const found = await appB.lookup('+1 650 555 0011', { proof: true })
    expect(found?.apps.map((x) => x.app)).toEqual(['sdk-a'])
    const proven = await appB.verifyLookup(found!, { phone: '+1 650 555 0011' })
    expect(proven.apps).toMatchObject([{ app: 'sdk-a', index: checked.index, kind: 'add' }])
    expect((await appB.checkpoint()).size).toBeGreaterThan(checked.index)
    // The same answer with its app changed is refused, though every receipt in it is genuine.
    const tampered = { ...found!, apps: [{ ...found!.apps[0]!, app: 'sdk-b' }] }
    await expect(appB.verifyLookup(tampered)).rejects.toMatchObject({ name: 'ProofError', code: 'app_mismatch' })

    // Contact discovery: one answer per number, in order, no number in any URL.
    const many = await appB.lookupMany(['+1 650 555 0011', '+1 212 555 0044', '+16505550011'], { proof: true })
    expect(many.map((r) => [r.phone, r.apps.map((x) => x.app)])).toEqual([
      ['+16505550011', ['sdk-a']],
      ['+12125550044', []],
      ['+16505550011', ['sdk-a']],
    ])
    expect((await appB.verifyLookups(many, { phones: ['+16505550011', '+12125550044', '+16505550011'] })).map((p) => p.apps.length)).toEqual([1, 0, 1])

    await expect(appB.removeBinding('+16505550011', 'sdk-a')).rejects.toMatchObject({ status: 403, code: 'forbidden' })
    await appA.removeBinding('+16505550011', 'sdk-a')
    expect(await appB.lookup('+16505550011')).toBeNull()
    await expect(new WhodisClient({ baseUrl: dir.url, token: 'whodis_app_nope' }).lookup('+16505550011')).rejects.toMatchObject({
      status: 401,
      code: 'unauthorized',
    })
  })

  it("HolderClient: a number's holder proves it, sees every binding and log entry, removes one, signs out", async () => {
    const operator = client(dir.url, dir.adminToken)
    const tokens: Record<string, string> = {}
    for (const id of ['holder-a', 'holder-b']) tokens[id] = (await operator('POST', '/v1/admin/apps', { id, name: id })).body.token
    const phone = '+14155550022'
    for (const app of ['holder-a', 'holder-b']) {
      const api = new WhodisClient({ baseUrl: dir.url, token: tokens[app] })
      const { id } = await api.startVerification(phone)
      await api.checkVerification(id, await codeFor(phone))
    }

    const holder = new HolderClient({ baseUrl: dir.url + '/' })
    expect(holder.session).toBeNull()
    await expect(holder.bindings()).rejects.toMatchObject({ status: 401, code: 'unauthorized' })
    const started = await holder.startVerification('+1 (415) 555-0022')
    expect(started.id).toMatch(/^[0-9a-f]{96}$/)
    expect(Date.parse(started.expiresAt)).toBeGreaterThan(Date.now())
    const code = await codeFor(phone)
    const outbox = await operator('GET', `/dev/outbox?phone=${encodeURIComponent(phone)}`)
    expect(outbox.body.messages.at(-1).body).toBe(`whodis code: ${code}`)
    const wrong = await holder.checkVerification(started.id, String((Number(code) + 1) % 1_000_000).padStart(6, '0')).catch((e) => e)
    expect(wrong).toBeInstanceOf(WhodisError)
    expect(wrong).toMatchObject({ status: 422, code: 'wrong_code', attemptsLeft: 4 })
    expect(holder.session).toBeNull()
    const session = await holder.checkVerification(started.id, code)
    expect(session).toMatchObject({ phone })
    expect(holder.session).toBe(session.token)

    const before = await holder.bindings()
    expect(before.phone).toBe(phone)
    expect(before.apps.map((b) => b.app)).toEqual(['holder-a', 'holder-b'])
    expect(before.entries.map((e) => [e.op, e.app, e.reason])).toEqual([
      ['add', 'holder-b', null],
      ['add', 'holder-a', null],
    ])
    expect(before.more).toBe(false)

    await holder.removeBinding('holder-b')
    await expect(holder.removeBinding('holder-b')).rejects.toMatchObject({ status: 404, code: 'binding_not_found' })
    const after = await holder.bindings()
    expect(after.apps.map((b) => b.app)).toEqual(['holder-a'])
    expect(after.entries[0]).toMatchObject({ op: 'remove', app: 'holder-b', reason: 'holder' })
    expect(after.entries[0]!.index).toBeGreaterThan(before.entries[0]!.index)
    const seen = await new WhodisClient({ baseUrl: dir.url, token: tokens['holder-a'] }).lookup(phone)
    expect(seen?.apps.map((b) => b.app)).toEqual(['holder-a'])

    // A second client resumes the same session by its token; signing out ends it for both.
    const resumed = new HolderClient({ baseUrl: dir.url, session: session.token })
    expect((await resumed.bindings()).apps).toHaveLength(1)
    await holder.signOut()
    expect(holder.session).toBeNull()
    await holder.signOut() // nothing to end: no request, no error
    await expect(resumed.bindings()).rejects.toMatchObject({ status: 401, code: 'unauthorized' })
  })

  it('lookupVia: the same answer from a mirror, with receipts checked against the pinned log key', async () => {
    const operator = client(dir.url, dir.adminToken)
    const token = (await operator('POST', '/v1/admin/apps', { id: 'via-b', name: 'Via B' })).body.token as string
    const phone = '+15105550033'
    const sdk = new WhodisClient({ baseUrl: dir.url, token })
    const { id } = await sdk.startVerification(phone)
    await sdk.checkVerification(id, await codeFor(phone))

    const data = mkdtempSync(join(tmpdir(), 'whodis-client-mirror-'))
    const mirror = await openMirror(data, { directory: dir.url, token })
    try {
      await mirror.sync()
      const server = await startServer(mirror, { port: 0 })
      try {
        const seen: string[] = []
        const app = new WhodisClient({
          baseUrl: dir.url,
          token,
          logKey: mirror.logKey!,
          fetch: (input, init) => {
            seen.push(`${String(input)} ${new Headers(init?.headers).has('Authorization') ? 'with token' : 'no token'}`)
            return fetch(input, init)
          },
        })
        await app.proveApps(['via-b']) // the app's registration, from the directory: it names no number
        const found = await app.lookupVia(server.url + '/', '+1 510 555 0033', { proof: true })
        expect(found?.apps.map((b) => b.app)).toEqual(['via-b'])
        await app.verifyLookup(found!) // receipts against the log key, no request
        expect(await app.lookupVia(server.url, '+12125550044')).toBeNull()
        await expect(app.lookupVia(server.url, '+1650')).rejects.toBeInstanceOf(Error)
        await expect(app.lookupVia(server.url, '+16505550011?x')).rejects.toBeInstanceOf(Error)
        expect(seen).toEqual([`${dir.url}/v1/apps/via-b with token`, `${server.url}/v1/lookups no token`, `${server.url}/v1/lookups no token`])
        // The mirror's batch answer is the directory's, byte for byte.
        const asked = JSON.stringify({ phones: [phone, '+12125550044'] })
        const fromMirror = await fetch(`${server.url}/v1/lookups`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: asked })
        const fromDirectory = await fetch(`${dir.url}/v1/lookups`, {
          method: 'POST',
          headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${token}` },
          body: asked,
        })
        expect(fromMirror.status).toBe(200)
        expect(await fromMirror.text()).toBe(await fromDirectory.text())
        // The mirror's answer without proofs is the directory's, byte for byte.
        const direct = await sdk.lookup(phone)
        expect(await app.lookupVia(server.url, phone)).toEqual(direct)
        // A mirror that is not one answers with a WhodisError carrying its status.
        await expect(app.lookupVia(server.url + '/nope', phone)).rejects.toMatchObject({ status: 404, code: 'not_found' })
      } finally {
        await server.close()
      }
    } finally {
      await mirror.close()
      rmSync(data, { recursive: true, force: true })
    }
  })
})
