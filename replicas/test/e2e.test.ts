/**
 * End to end: the real directory Worker on loopback (snapshots every 5 entries), numbers
 * verified through the outbox, and a mirror serving locally while it follows. Every lookup the
 * mirror answers (found, not found, invalid, with proofs once in sync) must become the
 * directory's answer byte for byte after each change, including a removal. A second mirror
 * bootstraps from a real snapshot. (How soon is a benchmark figure, `npm run bench`, not a test.)
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { client, startDirectory, type RunningDirectory } from '../../test/node/directory.ts'
import { follow } from '../src/follow.ts'
import { openMirror, type Mirror } from '../src/mirror.ts'
import { startServer, type MirrorServer } from '../src/server.ts'
import type { SyncResult } from '../src/sync.ts'
import { cleanupTemp, tempDir } from './fixtures/helpers.ts'

let dir: RunningDirectory
let operator: ReturnType<typeof client>
const tokens: Record<string, string> = {}
const running: { mirror: Mirror; server: MirrorServer; stop: AbortController; done: Promise<void> }[] = []

beforeAll(async () => {
  dir = await startDirectory({ SNAPSHOT_EVERY_ENTRIES: '5' })
  operator = client(dir.url, dir.adminToken)
  for (const id of ['appa', 'appb']) {
    const created = await operator('POST', '/v1/admin/apps', { id, name: id.toUpperCase() })
    expect(created.status).toBe(201)
    tokens[id] = created.body.token
  }
})
afterAll(async () => {
  for (const r of running) {
    r.stop.abort()
    await r.done
    await r.server.close()
    await r.mirror.close()
  }
  await dir?.stop()
  cleanupTemp()
})

/** Verifies `phone` on `app` through the outbox. */
async function verify(app: string, phone: string): Promise<void> {
  const api = client(dir.url, tokens[app])
  const started = await api('POST', '/v1/verifications', { phone })
  expect(started.status).toBe(201)
  const outbox = await operator('GET', `/dev/outbox?phone=${encodeURIComponent(phone)}`)
  const code = (outbox.body.messages.at(-1).body as string).slice(-6)
  expect((await api('POST', `/v1/verifications/${started.body.id}/check`, { code })).status).toBe(200)
}

/** Starts a mirror on a fresh data directory, serving and following. */
async function startMirror(onSync: (r: SyncResult) => void = () => {}) {
  const mirror = await openMirror(tempDir(), { directory: dir.url, token: tokens.appb, retry: { retries: 3, baseDelayMs: 50 } })
  const server = await startServer(mirror, { port: 0 })
  const stop = new AbortController()
  const done = follow(mirror, { intervalMs: 100, signal: stop.signal, onSync })
  running.push({ mirror, server, stop, done })
  return { mirror, server }
}

async function get(base: string, path: string, token?: string): Promise<{ status: number; text: string }> {
  const res = await fetch(base + path, token ? { headers: { Authorization: `Bearer ${token}` } } : {})
  return { status: res.status, text: await res.text() }
}

/** Past this, waiting is a failure: a safety net far above what a loaded machine takes. */
const GIVE_UP_MS = 30_000

/** Waits until the mirror answers `path` exactly as the directory does. */
async function converges(server: MirrorServer, path: string): Promise<void> {
  const start = Date.now()
  for (;;) {
    const want = await get(dir.url, path, tokens.appa)
    const have = await get(server.url, path)
    if (have.status === want.status && have.text === want.text) return
    if (Date.now() - start > GIVE_UP_MS) expect(have, `${path} after ${GIVE_UP_MS} ms`).toEqual(want)
    await new Promise((r) => setTimeout(r, 50))
  }
}

/** Waits until the mirror holds the directory's latest checkpoint. */
async function inSync(mirror: Mirror): Promise<void> {
  const start = Date.now()
  for (;;) {
    const note = (await get(dir.url, '/log/checkpoint', tokens.appb)).text
    if (mirror.checkpoint?.note === note && mirror.treeSize === mirror.checkpoint.size) return
    if (Date.now() - start > GIVE_UP_MS) throw new Error(`mirror not in sync: holds ${mirror.checkpoint?.size}, directory ${note.split('\n')[1]}`)
    await new Promise((r) => setTimeout(r, 50))
  }
}

const ALICE = '+16505550011'
const BOB = '+14155550022'
const CHARLIE = '+15105550033'
const DANA = '+12125550044'

describe('a mirror following the real directory', () => {
  it('answers every lookup as the directory does after each change', { timeout: 180_000 }, async () => {
    await verify('appa', ALICE)
    await verify('appb', BOB)
    await verify('appa', CHARLIE)
    await verify('appb', CHARLIE)
    // 2 app registrations + 4 bindings: a snapshot at 5 or 6 entries.
    const start = Date.now()
    while ((await get(dir.url, '/log/snapshot/latest', tokens.appb)).status !== 200) {
      if (Date.now() - start > GIVE_UP_MS) throw new Error('the directory wrote no snapshot')
      await new Promise((r) => setTimeout(r, 50))
    }

    const results: SyncResult[] = []
    const { mirror, server } = await startMirror((r) => results.push(r))
    for (const phone of [ALICE, BOB, CHARLIE, DANA]) await converges(server, `/v1/numbers/${encodeURIComponent(phone)}`)
    expect(results[0]!.status).toBe('bootstrapped')
    expect(results[0]!.snapshotSize).toBeGreaterThanOrEqual(5)

    // The same error bodies.
    for (const path of ['/v1/numbers/not-a-number', '/v1/numbers/%2B1650', `/v1/numbers/${ALICE}?proof=2`, '/v1/numbers/+1%20(650)%20555-0011']) {
      await converges(server, path)
    }

    // Receipts too, once the mirror holds the directory's checkpoint.
    await inSync(mirror)
    for (const phone of [ALICE, BOB, CHARLIE]) await converges(server, `/v1/numbers/${phone}?proof=1`)

    // A new binding, a renewal, a removal: each visible at the mirror.
    await verify('appb', DANA)
    await converges(server, `/v1/numbers/${DANA}`)
    await new Promise((r) => setTimeout(r, 1100)) // a renewal at a later second changes verifiedAt
    await verify('appa', ALICE)
    await converges(server, `/v1/numbers/${ALICE}`)
    expect((await client(dir.url, tokens.appa)('DELETE', `/v1/numbers/${CHARLIE}/apps/appa`)).status).toBe(204)
    await converges(server, `/v1/numbers/${CHARLIE}`)
    expect(JSON.parse((await get(server.url, `/v1/numbers/${CHARLIE}`)).text).apps.map((a: { app: string }) => a.app)).toEqual(['appb'])
    expect((await client(dir.url, tokens.appb)('DELETE', `/v1/numbers/${BOB}/apps/appb`)).status).toBe(204)
    await converges(server, `/v1/numbers/${BOB}`)
    expect((await get(server.url, `/v1/numbers/${BOB}`)).status).toBe(404)

    await inSync(mirror)
    for (const phone of [ALICE, CHARLIE, DANA]) await converges(server, `/v1/numbers/${phone}?proof=1`)
    expect(await mirror.verify()).toMatchObject({ treeSize: mirror.checkpoint!.size })
  })

  it('bootstraps a second mirror from the newest real snapshot and agrees with the first', { timeout: 120_000 }, async () => {
    const results: SyncResult[] = []
    const { mirror, server } = await startMirror((r) => results.push(r))
    await inSync(mirror)
    expect(results[0]!.status).toBe('bootstrapped')
    for (const phone of [ALICE, BOB, CHARLIE, DANA]) {
      await converges(server, `/v1/numbers/${phone}`)
      await converges(server, `/v1/numbers/${phone}?proof=1`)
    }
    const report = await mirror.verify()
    expect(report.originSize).toBe(results[0]!.snapshotSize)
    expect(report.originBindings).toBeGreaterThan(0)
  })
})
