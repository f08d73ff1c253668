/**
 * The local server and the follow loop, against the fake directory: the directory's JSON for
 * lookups (found, not found, invalid input, proofs), the held checkpoint for peers, health and
 * metrics; following picks up changes within a few polls and stops on a refusal.
 */
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest'
import { NUMBER_NOT_FOUND } from '../../src/protocol/lookup.ts'
import { follow } from '../src/follow.ts'
import type { Mirror } from '../src/mirror.ts'
import { startServer, type MirrorServer } from '../src/server.ts'
import { FakeDirectory } from './fixtures/fake-directory.ts'
import { buildLog, extendLog, type FakeLog } from './fixtures/fake-log.ts'
import { cleanupTemp, expectedLookup, mirrorOf, poolNumbers, tempDir } from './fixtures/helpers.ts'

let fake: FakeDirectory
let log: FakeLog
let mirror: Mirror
let server: MirrorServer

beforeEach(async () => {
  log = await buildLog(500, { seed: 41 })
  fake = await FakeDirectory.start(log)
  mirror = await mirrorOf(fake, tempDir())
  server = await startServer(mirror, { port: 0 })
})
afterEach(async () => {
  await server.close()
  await mirror.close()
  await fake.stop()
})
afterAll(cleanupTemp)

async function get(path: string): Promise<{ status: number; text: string; type: string | null }> {
  const res = await fetch(server.url + path)
  return { status: res.status, text: await res.text(), type: res.headers.get('content-type') }
}

describe('serve', () => {
  it('reports starting, then answers lookups with the directory JSON once synced', async () => {
    const health = await get('/healthz')
    expect(health.status).toBe(503)
    expect(JSON.parse(health.text)).toMatchObject({ status: 'starting', treeSize: 0 })
    expect((await get('/log/checkpoint')).status).toBe(503)

    await mirror.sync()
    const phones = poolNumbers()
    const found = phones.find((p) => expectedLookup(log, p))!
    const missing = phones.find((p) => !expectedLookup(log, p))!
    const hit = await get(`/v1/numbers/${encodeURIComponent(found)}`)
    expect(hit).toEqual({ status: 200, text: JSON.stringify(expectedLookup(log, found)), type: 'application/json' })
    // As typed, unencoded "+" and spaces percent-encoded: same answer.
    const typed = `+1 (${found.slice(2, 5)}) ${found.slice(5, 8)}-${found.slice(8)}`
    expect((await get(`/v1/numbers/${encodeURIComponent(typed)}`)).text).toBe(hit.text)
    expect((await get(`/v1/numbers/${found}`)).text).toBe(hit.text)
    expect(await get(`/v1/numbers/${missing}`)).toMatchObject({ status: 404, text: JSON.stringify(NUMBER_NOT_FOUND) })

    const bad = await get('/v1/numbers/not-a-number')
    expect(bad.status).toBe(400)
    expect(JSON.parse(bad.text)).toEqual({
      error: {
        code: 'invalid_phone',
        message: 'phone must start with + and its country code, followed by digits (spaces, dots, dashes and parentheses allowed)',
      },
    })
    expect(JSON.parse((await get(`/v1/numbers/${found}?proof=yes`)).text).error.code).toBe('invalid_request')
    expect((await get('/v1/numbers/')).status).toBe(404)
    expect(JSON.parse((await get('/nope')).text)).toEqual({ error: { code: 'not_found', message: 'no route GET /nope' } })

    const proved = JSON.parse((await get(`/v1/numbers/${found}?proof=1`)).text)
    expect(proved).toEqual(mirror.lookupWithProof(found))
    expect(proved.apps[0].receipt).toContain(mirror.checkpoint!.note)
    expect((await get(`/v1/numbers/${found}?proof=0`)).text).toBe(hit.text)

    const cp = await get('/log/checkpoint')
    expect(cp).toMatchObject({ status: 200, text: await log.checkpoint(), type: 'text/plain; charset=utf-8' })
    const healthy = JSON.parse((await get('/healthz')).text)
    expect(healthy).toMatchObject({ status: 'ok', treeSize: 500, checkpointSize: 500, records: mirror.records })
    expect(healthy.checkpointAgeSeconds).toBeLessThan(5)

    const metrics = (await get('/metrics')).text
    expect(metrics).toContain('whodis_mirror_lookups_total{result="found",proof="0"} 4')
    expect(metrics).toContain('whodis_mirror_lookups_total{result="not_found",proof="0"} 1')
    expect(metrics).toContain('whodis_mirror_lookups_total{result="invalid_phone",proof="0"} 1')
    expect(metrics).toContain('whodis_mirror_lookups_total{result="found",proof="1"} 1')
    expect(metrics).toContain('whodis_mirror_tree_size 500')
    expect(metrics).toContain('whodis_mirror_sync_lag_entries 0')
    expect(metrics).toMatch(/whodis_mirror_checkpoint_age_seconds [0-9.]+\n/)
  })

  it('answers POST /v1/lookups with one result per number, in order, as the directory builds it', async () => {
    const post = async (body: string, type = 'application/json') => {
      const res = await fetch(`${server.url}/v1/lookups`, { method: 'POST', headers: { 'Content-Type': type }, body })
      return { status: res.status, text: await res.text() }
    }
    await mirror.sync()
    const phones = poolNumbers()
    const found = phones.filter((p) => expectedLookup(log, p)).slice(0, 3)
    const missing = phones.find((p) => !expectedLookup(log, p))!
    const typed = `+1 (${found[0]!.slice(2, 5)}) ${found[0]!.slice(5, 8)}-${found[0]!.slice(8)}`
    const asked = [found[0]!, missing, typed, ...found.slice(1)]
    const answer = await post(JSON.stringify({ phones: asked }))
    const results = [found[0]!, missing, found[0]!, ...found.slice(1)].map((p) => expectedLookup(log, p) ?? { phone: p, apps: [] })
    expect(answer).toEqual({ status: 200, text: JSON.stringify({ results }) })
    // Each result of a found number is the GET answer, byte for byte.
    expect(JSON.stringify(JSON.parse(answer.text).results[0])).toBe((await get(`/v1/numbers/${found[0]}`)).text)

    const proved = JSON.parse((await post(JSON.stringify({ phones: found, proof: true }))).text)
    expect(proved).toEqual({ results: mirror.lookupMany(found, true) })
    expect(proved.results.map((r: { apps: unknown[] }) => r.apps)).toEqual(found.map((p) => mirror.lookupWithProof(p)!.apps))

    const code = async (body: string, type?: string) => ({ status: (await post(body, type)).status, code: JSON.parse((await post(body, type)).text).error.code })
    expect(await code(JSON.stringify({ phones: [] }))).toEqual({ status: 400, code: 'invalid_request' })
    expect(await code(JSON.stringify({ phones: [found[0], 7] }))).toEqual({ status: 400, code: 'invalid_request' })
    expect(await code(JSON.stringify({ phones: found, proof: 1 }))).toEqual({ status: 400, code: 'invalid_request' })
    expect(await code(JSON.stringify({ phones: Array(1001).fill(found[0]) }))).toEqual({ status: 400, code: 'invalid_request' })
    const bad = await post(JSON.stringify({ phones: [found[0], 'not-a-number'] }))
    expect(bad.status).toBe(400)
    expect(JSON.parse(bad.text).error).toMatchObject({ code: 'invalid_phone', message: expect.stringMatching(/^phones\[1\]: /) })
    expect(await code('{"phones":')).toEqual({ status: 400, code: 'malformed_json' })
    expect(await code(JSON.stringify({ phones: found }), 'text/plain')).toEqual({ status: 415, code: 'unsupported_media_type' })
    expect(await code(JSON.stringify({ phones: Array(2000).fill(' '.repeat(60)) }))).toEqual({ status: 413, code: 'body_too_large' })
    expect(JSON.parse((await get('/v1/lookups')).text).error.code).toBe('not_found')
  })

  it('marks a checkpoint not re-verified within the stale window', async () => {
    await mirror.sync()
    let now = Date.now()
    const clocked = await startServer(mirror, { port: 0, staleAfterMs: 1000, now: () => now })
    try {
      expect((await fetch(`${clocked.url}/healthz`)).status).toBe(200)
      now += 5000
      const res = await fetch(`${clocked.url}/healthz`)
      expect(res.status).toBe(503)
      expect(((await res.json()) as { status: string }).status).toBe('stale')
    } finally {
      await clocked.close()
    }
  })
})

describe('follow', () => {
  it('applies new entries within a few polls, checks peers, and stops when aborted', async () => {
    const controller = new AbortController()
    const synced: number[] = []
    const peers: string[] = []
    // The mirror's own server is a peer that always agrees with it.
    const running = follow(mirror, {
      intervalMs: 50,
      signal: controller.signal,
      onSync: (r) => synced.push(r.treeSize),
      peers: [server.url],
      peerIntervalMs: 0,
      onPeers: (reports) => peers.push(...reports.map((r) => `${r.status}:${r.size}`)),
    })
    await waitFor(() => mirror.treeSize === 500)
    extendLog(log, 120, 4)
    await waitFor(() => mirror.treeSize === 620)
    for (const phone of poolNumbers()) expect(mirror.lookup(phone)).toEqual(expectedLookup(log, phone))
    await waitFor(() => peers.includes('consistent:620'))
    controller.abort()
    await running
    expect(synced).toContain(620)
    expect(peers).toContain('consistent:500')
  })

  it('backs off on network failures and stops on a refusal', async () => {
    await mirror.sync()
    const errors: string[] = []
    fake.hook = (path) => (path === '/log/checkpoint' ? { status: 503 } : undefined)
    const controller = new AbortController()
    const running = follow(mirror, {
      intervalMs: 20,
      maxBackoffMs: 100,
      signal: controller.signal,
      onError: (e, retryInMs) => errors.push(`${e.code}:${retryInMs}`),
    })
    await waitFor(() => errors.length >= 2)
    expect(errors[0]).toBe('unavailable:40')
    expect(errors[1]).toBe('unavailable:80')
    fake.hook = null
    fake.checkpointNote = await log.checkpoint(100)
    await expect(running).rejects.toMatchObject({ code: 'rollback' })
    expect(mirror.status.syncErrors).toBeGreaterThanOrEqual(3)
  })
})

async function waitFor(condition: () => boolean, timeoutMs = 10_000): Promise<void> {
  const start = Date.now()
  while (!condition()) {
    if (Date.now() - start > timeoutMs) throw new Error('timed out waiting')
    await new Promise((r) => setTimeout(r, 10))
  }
}
