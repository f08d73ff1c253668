/**
 * Done means: after verifications on a local directory, anyone with the published key can
 * verify the checkpoint and every entry with Go's reference tlog code. This test runs the
 * real Worker on loopback, makes enough changes for a full tile and a partial one, and runs
 * test/go/tlogcheck (golang.org/x/mod/sumdb/note + tlog) against its /log/ routes.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
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
    expect(summary).toMatchObject({ ok: true, size: 272, entries: 272 })

    // The same check with another key must fail.
    const wrongKey = 'whodis.localhost/log+00000000+AXm1Vi6P5lT5QHixEuipi6eQH4U65pW+1+DjkQutBJZk'
    const bad = await runTlogCheck(bin!, ['-url', `${dir.url}/log/`, '-vkey', wrongKey, '-token', created.body.token])
    expect(bad.code).not.toBe(0)
  })
})
