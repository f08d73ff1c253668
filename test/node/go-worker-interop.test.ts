/**
 * Done means: after verifications on a local directory, anyone with the published key can
 * verify the checkpoint and every entry with Go's reference tlog code. This test runs the
 * real Worker on loopback, makes enough changes for a full tile and a partial one, and runs
 * test/go/tlogcheck (golang.org/x/mod/sumdb/note + tlog) against its /log/ routes. Entry
 * bundles travel gzip'd to the clients that ask (Go's net/http and the mirror both do), and
 * decompress to exactly the bytes the log stores.
 */
import { createServer, request, type IncomingHttpHeaders, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { gunzipSync } from 'node:zlib'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { HttpClient } from '../../replicas/src/http.ts'
import { decodeBundle } from '../../src/protocol/tiles.ts'
import { client, startDirectory, type RunningDirectory } from './directory.ts'
import { buildTlogCheck, goUnavailableReason, runTlogCheck } from './go-tool.ts'

const unavailable = goUnavailableReason()
let dir: RunningDirectory

it.skipIf(unavailable === null || !process.env.CI)('has Go and golang.org/x/mod, which CI requires', () => {
  expect.fail(`Go interop cannot run in CI: ${unavailable}`)
})

describe.skipIf(unavailable !== null)(`Go sumdb verifies the served log${unavailable ? ` (skipped: ${unavailable})` : ''}`, () => {
  beforeAll(async () => {
    dir = await startDirectory()
  })
  afterAll(async () => {
    await dir?.stop()
  })

  it('verifies the checkpoint signature, the tree hash from the tiles and every entry', async () => {
    const bin = await buildTlogCheck()
    const operator = client(dir.url, dir.adminToken)
    const created = await operator('POST', '/v1/admin/apps', { id: 'appa', name: 'App A' })
    const appA = client(dir.url, created.body.token)
    const verifyOne = async (i: number) => {
      const phone = `+1650555${String(1000 + i).padStart(4, '0')}`
      const started = await appA('POST', '/v1/verifications', { phone })
      expect(started.status).toBe(201)
      const outbox = await operator('GET', `/dev/outbox?phone=${encodeURIComponent(phone)}`)
      const code = outbox.body.messages.at(-1).body.slice(-6)
      const checked = await appA('POST', `/v1/verifications/${started.body.id}/check`, { code })
      expect(checked.status).toBe(200)
    }
    // 1 app-register + 270 adds: one full level-0 tile and a partial one.
    for (let i = 0; i < 270; i += 10) await Promise.all(Array.from({ length: 10 }, (_, j) => verifyOne(i + j)))
    expect((await appA('DELETE', '/v1/numbers/+16505551000/apps/appa')).status).toBe(204)

    const { logKey, origin } = (await operator('GET', '/.well-known/whodis')).body
    const ok = await runTlogCheck(bin!, ['-url', `${dir.url}/log/`, '-vkey', logKey, '-origin', origin, '-token', created.body.token])
    expect(ok.stderr).toBe('')
    expect(ok.code).toBe(0)
    const summary = JSON.parse(ok.stdout)
    // Go's net/http asks for gzip and decodes it itself: both bundles came gzip'd.
    expect(summary).toMatchObject({ ok: true, size: 272, entries: 272, bundles: 2, gzipped: 2 })

    // The same check with another key must fail.
    const wrongKey = 'whodis.localhost/log+00000000+AXm1Vi6P5lT5QHixEuipi6eQH4U65pW+1+DjkQutBJZk'
    const bad = await runTlogCheck(bin!, ['-url', `${dir.url}/log/`, '-vkey', wrongKey, '-token', created.body.token])
    expect(bad.code).not.toBe(0)
  })

  it('sends entry bundles gzip-encoded only when asked, and the mirror asks and reads them', async () => {
    // After the test above: 272 entries, so bundle 000 is full.
    const appA = client(dir.url, dir.adminToken)
    const created = await appA('POST', '/v1/admin/apps', { id: 'appgz', name: 'App GZ' })
    const token = created.body.token as string
    const plain = await raw(`${dir.url}/log/tile/entries/000`, { Authorization: `Bearer ${token}` })
    const packed = await raw(`${dir.url}/log/tile/entries/000`, { Authorization: `Bearer ${token}`, 'Accept-Encoding': 'gzip' })
    expect(plain.headers['content-encoding']).toBeUndefined()
    expect(decodeBundle(new Uint8Array(plain.body), 256)).toHaveLength(256)
    expect(packed.headers['content-encoding']).toBe('gzip')
    expect(packed.headers.vary).toBe('Accept-Encoding')
    expect(Number(packed.headers['content-length'])).toBe(packed.body.length)
    expect(new Uint8Array(gunzipSync(packed.body))).toEqual(new Uint8Array(plain.body))
    expect(packed.body.length).toBeLessThan(plain.body.length / 2)

    // The mirror's client, through a proxy that records what crosses the wire.
    const seen: { headers: IncomingHttpHeaders; encoding?: string; bytes: number }[] = []
    const proxy = await recordingProxy(dir.url, seen)
    try {
      const mirrorClient = new HttpClient(`http://127.0.0.1:${(proxy.address() as AddressInfo).port}`, { token })
      const body = await mirrorClient.get('/log/tile/entries/000', { auth: true, maxBytes: 1 << 20 })
      expect(body).toEqual(new Uint8Array(plain.body))
      expect(seen).toHaveLength(1)
      expect(seen[0]!.headers['accept-encoding']).toMatch(/\bgzip\b/)
      expect(seen[0]).toMatchObject({ encoding: 'gzip', bytes: packed.body.length })
    } finally {
      await new Promise((resolve) => proxy.close(resolve))
    }
  })
})

/** One GET with node:http, which (unlike fetch) neither asks for nor decodes any encoding. */
function raw(url: string, headers: Record<string, string>): Promise<{ headers: IncomingHttpHeaders; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { headers }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () => resolve({ headers: res.headers, body: Buffer.concat(chunks) }))
    })
    req.on('error', reject)
    req.end()
  })
}

/** A proxy to `target` that passes bytes through untouched and records each request's headers and the response's encoding and size. */
async function recordingProxy(target: string, seen: { headers: IncomingHttpHeaders; encoding?: string; bytes: number }[]): Promise<Server> {
  const upstream = new URL(target)
  const server = createServer((req, res) => {
    const out = request({ host: upstream.hostname, port: upstream.port, path: req.url, method: req.method, headers: { ...req.headers, host: upstream.host } }, (up) => {
      const record = { headers: req.headers, encoding: up.headers['content-encoding'], bytes: 0 }
      seen.push(record)
      res.writeHead(up.statusCode ?? 502, up.headers)
      up.on('data', (c: Buffer) => (record.bytes += c.length))
      up.pipe(res)
    })
    out.on('error', () => res.destroy())
    req.pipe(out)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return server
}
