/**
 * What the SDK says it verified must be what the answer says. Each test is an attack: an
 * answer, a registration or a presented credential whose receipts are genuine (signed by the log
 * key) but which claims something its entries do not say. Every one must be refused with the
 * ProofError code that names it. The log is built in-process with the protocol code, and the
 * client talks to it through a fake fetch (the directory's `GET /v1/apps/{id}` and
 * `/log/checkpoint`), so an attack can change any byte.
 */
import { beforeEach, describe, expect, it } from 'vitest'
import { toBase64 } from '../../src/protocol/bytes.ts'
import { signCredential } from '../../src/protocol/credential.ts'
import { encodeEntry, subjectOf, type LogEntry } from '../../src/protocol/entry.ts'
import { isoSeconds, type LookupBody, type LookupEntry } from '../../src/protocol/lookup.ts'
import { proveRecord } from '../../src/protocol/merkle.ts'
import { DAY_SECONDS } from '../../src/protocol/state.ts'
import { formatTlogProof } from '../../src/protocol/tlog-proof.ts'
import { WhodisClient } from '../../src/client/index.ts'
import { FakeLog, makeSigner } from '../../replicas/test/fixtures/fake-log.ts'

const ALICE = '+16505550011'
const BOB = '+14155550022'
const NOW = Math.floor(Date.now() / 1000)
const T = NOW - 3600

/** A log: apps appa (1), appb (2), appc (3); Alice on appa and appb (same time), Bob on appa; then Bob's binding removed. */
async function buildFixture() {
  const log = new FakeLog(await makeSigner('fake.test/log'))
  const entries: LogEntry[] = [
    { kind: 'app-register', app: 1, time: T - 10, id: 'appa' },
    { kind: 'app-register', app: 2, time: T - 9, id: 'appb' },
    { kind: 'app-register', app: 3, time: T - 8, id: 'appc' },
    { kind: 'add', subject: subjectOf(ALICE), app: 1, time: T, ttlDays: 365 },
    { kind: 'add', subject: subjectOf(ALICE), app: 2, time: T, ttlDays: 365 },
    { kind: 'add', subject: subjectOf(BOB), app: 1, time: T + 1, ttlDays: 30 },
    { kind: 'remove', subject: subjectOf(BOB), app: 1, time: T + 2, reason: 'app' },
  ]
  log.append(...entries)
  return log
}

/** The receipt of entry `index` against the checkpoint at `size`. */
async function receipt(log: FakeLog, index: number, size = log.size): Promise<string> {
  return formatTlogProof({ index, hashes: proveRecord(size, index, log.read), checkpoint: await log.checkpoint(size) })
}

/** The proven lookup binding the directory would answer for entry `index` (an add or renew). */
async function binding(log: FakeLog, app: string, index: number, size = log.size): Promise<LookupEntry> {
  const bytes = log.entries[index]!
  const e = decodeBinding(bytes)
  return {
    app,
    verifiedAt: isoSeconds(e.time),
    expiresAt: isoSeconds(e.time + e.ttlDays * DAY_SECONDS),
    index,
    entry: toBase64(bytes),
    receipt: await receipt(log, index, size),
  }
}

function decodeBinding(bytes: Uint8Array): { time: number; ttlDays: number } {
  const time = bytes[9]! | (bytes[10]! << 8) | (bytes[11]! << 16) | (bytes[12]! * 2 ** 24)
  return { time, ttlDays: (bytes[15]! << 8) | bytes[16]! }
}

/** A client of the fake directory serving `log` (registrations answered by `registrations`, when given). */
function clientOf(log: () => FakeLog, registrations?: (id: string) => Promise<unknown> | unknown) {
  const requests: string[] = []
  const fetcher: typeof fetch = async (input, init) => {
    const url = new URL(String(input))
    requests.push(`${init?.method ?? 'GET'} ${url.pathname}`)
    const app = /^\/v1\/apps\/([a-z0-9.-]+)$/.exec(url.pathname)
    if (app) {
      const id = app[1]!
      const body = registrations ? await registrations(id) : await honestRegistration(log(), id)
      if (body === null) return Response.json({ error: { code: 'app_not_found', message: 'no such app' } }, { status: 404 })
      return Response.json(body)
    }
    if (url.pathname === '/log/checkpoint') return new Response(await log().checkpoint())
    return Response.json({ error: { code: 'not_found', message: 'no route' } }, { status: 404 })
  }
  const client = new WhodisClient({ baseUrl: 'http://directory.test', token: 'app-token', logKey: log().logKey, fetch: fetcher })
  return { client, requests }
}

/** The honest `GET /v1/apps/{id}` answer for `log`. */
async function honestRegistration(log: FakeLog, id: string): Promise<unknown> {
  const index = log.entries.findIndex((bytes) => bytes[1] === 8 && new TextDecoder().decode(bytes.subarray(9)) === id)
  if (index < 0) return null
  return { app: id, index, entry: toBase64(log.entries[index]!), receipt: await receipt(log, index) }
}

let log: FakeLog
let alice: LookupBody
beforeEach(async () => {
  log = await buildFixture()
  alice = { phone: ALICE, apps: [await binding(log, 'appa', 3), await binding(log, 'appb', 4)] }
})

const refused = (code: string) => ({ name: 'ProofError', code })

describe('verifyLookup', () => {
  it('accepts the honest answer and says what it proved, against the receipts checkpoint', async () => {
    const { client } = clientOf(() => log)
    const proven = await client.verifyLookup(alice, { phone: '+1 (650) 555-0011', nowSeconds: NOW })
    expect(proven.phone).toBe(ALICE)
    expect(proven.checkpoint).toMatchObject({ size: log.size })
    expect(proven.apps).toEqual([
      { app: 'appa', appNum: 1, kind: 'add', index: 3, verifiedAt: T, expiresAt: T + 365 * DAY_SECONDS },
      { app: 'appb', appNum: 2, kind: 'add', index: 4, verifiedAt: T, expiresAt: T + 365 * DAY_SECONDS },
    ])
    expect(client.newestCheckpoint?.size).toBe(log.size)
  })

  it('refuses an answer for another phone than its entries bind', async () => {
    const { client } = clientOf(() => log)
    await expect(client.verifyLookup({ ...alice, phone: BOB }, { nowSeconds: NOW })).rejects.toMatchObject(refused('phone_mismatch'))
  })

  it('refuses an answer for another phone than the one asked', async () => {
    const { client } = clientOf(() => log)
    await expect(client.verifyLookup(alice, { phone: BOB, nowSeconds: NOW })).rejects.toMatchObject(refused('phone_mismatch'))
  })

  it('refuses an answer naming another app than its entry binds', async () => {
    const { client } = clientOf(() => log)
    const other = { phone: ALICE, apps: [{ ...alice.apps[0]!, app: 'appc' }] }
    await expect(client.verifyLookup(other, { nowSeconds: NOW })).rejects.toMatchObject(refused('app_mismatch'))
  })

  it('refuses two bindings whose entries are swapped', async () => {
    const { client } = clientOf(() => log)
    const [a, b] = alice.apps as [LookupEntry, LookupEntry]
    const swapped = { phone: ALICE, apps: [{ ...a, index: b.index, entry: b.entry, receipt: b.receipt }, { ...b, index: a.index, entry: a.entry, receipt: a.receipt }] }
    await expect(client.verifyLookup(swapped, { nowSeconds: NOW })).rejects.toMatchObject(refused('app_mismatch'))
  })

  it('refuses other times: verifiedAt or expiresAt', async () => {
    const { client } = clientOf(() => log)
    const a = alice.apps[0]!
    const later = { phone: ALICE, apps: [{ ...a, verifiedAt: isoSeconds(T + 60) }] }
    await expect(client.verifyLookup(later, { nowSeconds: NOW })).rejects.toMatchObject(refused('time_mismatch'))
    const longer = { phone: ALICE, apps: [{ ...a, expiresAt: isoSeconds(T + 730 * DAY_SECONDS) }] }
    await expect(client.verifyLookup(longer, { nowSeconds: NOW })).rejects.toMatchObject(refused('time_mismatch'))
  })

  it('refuses another index than the receipt proves', async () => {
    const { client } = clientOf(() => log)
    const other = { phone: ALICE, apps: [{ ...alice.apps[0]!, index: 4 }] }
    await expect(client.verifyLookup(other, { nowSeconds: NOW })).rejects.toMatchObject(refused('index_mismatch'))
  })

  it('refuses a receipt for another entry', async () => {
    const { client } = clientOf(() => log)
    const other = { phone: ALICE, apps: [{ ...alice.apps[0]!, receipt: alice.apps[1]!.receipt }] }
    await expect(client.verifyLookup(other, { nowSeconds: NOW })).rejects.toMatchObject(refused('bad_receipt'))
  })

  it('refuses an entry that removed the binding, shown as the binding', async () => {
    const { client } = clientOf(() => log)
    const bob = await binding(log, 'appa', 5)
    const removal = { ...bob, index: 6, entry: toBase64(log.entries[6]!), receipt: await receipt(log, 6) }
    await expect(client.verifyLookup({ phone: BOB, apps: [removal] }, { nowSeconds: NOW })).rejects.toMatchObject(refused('kind_mismatch'))
  })

  it('refuses a receipt from a checkpoint older than one already verified', async () => {
    const { client } = clientOf(() => log)
    await client.verifyLookup(alice, { nowSeconds: NOW })
    const old = { phone: ALICE, apps: [await binding(log, 'appa', 3, 5)] }
    await expect(client.verifyLookup(old, { nowSeconds: NOW })).rejects.toMatchObject(refused('stale_checkpoint'))
    // The latest checkpoint counts too: after it, an answer proven at a smaller tree is stale.
    const fresh = clientOf(() => log).client
    await fresh.checkpoint()
    await expect(fresh.verifyLookup(old, { nowSeconds: NOW })).rejects.toMatchObject(refused('stale_checkpoint'))
  })

  it('refuses a checkpoint of the size already verified with another root (a fork)', async () => {
    const { client } = clientOf(() => log)
    await client.verifyLookup(alice, { nowSeconds: NOW })
    const fork = log.fork(6)
    fork.append({ kind: 'renew', subject: subjectOf(BOB), app: 1, time: T + 2, ttlDays: 30 })
    const forked = { phone: ALICE, apps: [await binding(fork, 'appa', 3)] }
    await expect(client.verifyLookup(forked, { nowSeconds: NOW })).rejects.toMatchObject(refused('fork'))
  })

  it('refuses one answer whose receipts are against different checkpoints', async () => {
    const { client } = clientOf(() => log)
    const mixed = { phone: ALICE, apps: [alice.apps[0]!, await binding(log, 'appb', 4, 5)] }
    await expect(client.verifyLookup(mixed, { nowSeconds: NOW })).rejects.toMatchObject(refused('mixed_checkpoints'))
  })

  it('refuses an app listed twice, a binding without a proof, and an expired binding', async () => {
    const { client } = clientOf(() => log)
    await expect(client.verifyLookup({ phone: ALICE, apps: [alice.apps[0]!, alice.apps[0]!] }, { nowSeconds: NOW })).rejects.toMatchObject(refused('duplicate_app'))
    const { index, entry, receipt: r, ...bare } = alice.apps[0]!
    await expect(client.verifyLookup({ phone: ALICE, apps: [bare] }, { nowSeconds: NOW })).rejects.toMatchObject(refused('no_proof'))
    await expect(client.verifyLookup(alice, { nowSeconds: T + 400 * DAY_SECONDS })).rejects.toMatchObject(refused('expired'))
  })

  it('refuses an app-register proof for another id than the one the answer names', async () => {
    const { client } = clientOf(() => log, (id) => (id === 'appa' ? honestRegistration(log, 'appc') : honestRegistration(log, id)))
    await expect(client.verifyLookup(alice, { nowSeconds: NOW })).rejects.toMatchObject(refused('app_mismatch'))
  })

  it('refuses a registration whose receipt is for another entry, or which is no app-register', async () => {
    const honest = (await honestRegistration(log, 'appa')) as { index: number; entry: string; receipt: string }
    const wrongReceipt = clientOf(() => log, async () => ({ ...honest, receipt: await receipt(log, 1) })).client
    await expect(wrongReceipt.verifyLookup(alice, { nowSeconds: NOW })).rejects.toMatchObject(refused('bad_receipt'))
    const notRegister = clientOf(() => log, async () => ({ app: 'appa', index: 3, entry: toBase64(log.entries[3]!), receipt: await receipt(log, 3) })).client
    await expect(notRegister.verifyLookup(alice, { nowSeconds: NOW })).rejects.toMatchObject(refused('kind_mismatch'))
  })

  it('refuses an app the log never registered', async () => {
    const { client } = clientOf(() => log, () => null)
    await expect(client.verifyLookup(alice, { nowSeconds: NOW })).rejects.toMatchObject(refused('unknown_app'))
  })

  it('refuses two proven registrations that give one app number two ids', async () => {
    // A log that registered number 1 twice (its mirrors refuse it; a client catches it too).
    const evil = new FakeLog(log.signer).appendRaw([...log.entries, encodeEntry({ kind: 'app-register', app: 1, time: T + 5, id: 'appz' })])
    const { client } = clientOf(() => evil)
    await client.proveApps(['appa'])
    await expect(client.proveApps(['appz'])).rejects.toMatchObject(refused('registry_conflict'))
  })

  it('fetches each registration once, naming apps only', async () => {
    const { client, requests } = clientOf(() => log)
    await client.verifyLookup(alice, { nowSeconds: NOW })
    await client.verifyLookup(alice, { nowSeconds: NOW })
    expect(requests).toEqual(['GET /v1/apps/appa', 'GET /v1/apps/appb'])
  })
})

describe('verifyLookups', () => {
  it('refuses answers for other numbers than those asked, or out of order', async () => {
    const { client } = clientOf(() => log)
    const none = { phone: BOB, apps: [] }
    expect((await client.verifyLookups([alice, none], { phones: [ALICE, BOB], nowSeconds: NOW })).map((p) => p.apps.length)).toEqual([2, 0])
    await expect(client.verifyLookups([none, alice], { phones: [ALICE, BOB], nowSeconds: NOW })).rejects.toMatchObject(refused('phone_mismatch'))
    await expect(client.verifyLookups([alice], { phones: [ALICE, BOB], nowSeconds: NOW })).rejects.toMatchObject(refused('malformed'))
  })
})

describe('verifyPresented', () => {
  it("refuses a credential whose app is not its entry's app, though the log key signed it and the receipt holds", async () => {
    const { client } = clientOf(() => log)
    const credential = await signCredential(
      { origin: log.origin, phone: ALICE, app: 'appb', verifiedAt: T, expiresAt: T + 365 * DAY_SECONDS, index: 3, entry: log.entries[3]! },
      log.signer,
    )
    await expect(client.verifyPresented(credential, await receipt(log, 3), NOW)).rejects.toMatchObject(refused('app_mismatch'))
    const honest = await signCredential(
      { origin: log.origin, phone: ALICE, app: 'appa', verifiedAt: T, expiresAt: T + 365 * DAY_SECONDS, index: 3, entry: log.entries[3]! },
      log.signer,
    )
    const presented = await client.verifyPresented(honest, await receipt(log, 3), NOW)
    expect(presented).toMatchObject({ phone: ALICE, app: 'appa', index: 3, checkpoint: { size: log.size } })
  })

  it('refuses a receipt for another entry, or for the same entry bytes at another index', async () => {
    const { client } = clientOf(() => log)
    const credential = await signCredential(
      { origin: log.origin, phone: ALICE, app: 'appa', verifiedAt: T, expiresAt: T + 365 * DAY_SECONDS, index: 3, entry: log.entries[3]! },
      log.signer,
    )
    await expect(client.verifyPresented(credential, await receipt(log, 4), NOW)).rejects.toMatchObject(refused('bad_receipt'))
    const twice = new FakeLog(log.signer).appendRaw([...log.entries, log.entries[3]!])
    await expect(client.verifyPresented(credential, await receipt(twice, 7), NOW)).rejects.toMatchObject(refused('index_mismatch'))
  })
})
