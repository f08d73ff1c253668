/**
 * /openapi.json as an app that generates its client from it receives it: fetched from the real
 * Worker and linted offline with Redocly's `recommended` ruleset (@redocly/cli, pinned in
 * package.json), which must find nothing at all.
 */
import { execFile } from 'node:child_process'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startDirectory, type RunningDirectory } from './directory.ts'

const REDOCLY = join(dirname(createRequire(import.meta.url).resolve('@redocly/cli/package.json')), 'bin', 'cli.js')

type Problem = { ruleId: string; severity: string; message: string; location?: { pointer?: string }[] }
type LintReport = { totals: { errors: number; warnings: number }; problems: Problem[] }

let dir: RunningDirectory
let work: string

beforeAll(async () => {
  ;[dir, work] = await Promise.all([startDirectory(), mkdtemp(join(tmpdir(), 'whodis-openapi-'))])
})
afterAll(async () => {
  await dir?.stop()
  if (work) await rm(work, { recursive: true, force: true })
})

/** Lints `doc` with the recommended ruleset, no config file, no telemetry, no network. */
async function lint(doc: unknown, name: string): Promise<LintReport> {
  const file = join(work, `${name}.json`)
  await writeFile(file, JSON.stringify(doc))
  const env = { ...process.env, REDOCLY_TELEMETRY: 'off', REDOCLY_SUPPRESS_UPDATE_NOTICE: 'true', NO_COLOR: '1' }
  const run = promisify(execFile)(process.execPath, [REDOCLY, 'lint', file, '--extends', 'recommended', '--format', 'json'], { cwd: work, env })
  // The lint exits 1 when it finds an error; its report is on stdout either way.
  const { stdout } = await run.catch((err: { stdout?: string }) => ({ stdout: err.stdout ?? '' }))
  return JSON.parse(stdout.slice(stdout.indexOf('{'))) as LintReport
}

const summary = (r: LintReport) => r.problems.map((p) => `${p.severity} ${p.ruleId} ${p.location?.[0]?.pointer ?? ''}: ${p.message}`)

describe('Redocly recommended lint of /openapi.json', () => {
  it('finds no error and no warning', async () => {
    const res = await fetch(`${dir.url}/openapi.json`)
    expect(res.status).toBe(200)
    const report = await lint(await res.json(), 'served')
    expect(summary(report)).toEqual([])
    expect(report.totals).toMatchObject({ errors: 0, warnings: 0 })
  })

  it('would find what generators trip on: a missing operationId, security, 4XX, server, license or a wrong example', async () => {
    const doc = (await (await fetch(`${dir.url}/openapi.json`)).json()) as any
    const lookup = doc.paths['/v1/numbers/{phone}'].get
    delete lookup.operationId
    for (const status of Object.keys(lookup.responses)) if (status.startsWith('4')) delete lookup.responses[status]
    delete doc.paths['/log/checkpoint'].get.security
    delete doc.servers
    delete doc.info.license
    doc.paths['/v1/admin/apps'].post.requestBody.content['application/json'].schema.properties.name.example = ''
    const rules = new Set((await lint(doc, 'broken')).problems.map((p) => p.ruleId))
    for (const rule of ['operation-operationId', 'operation-4xx-response', 'security-defined', 'no-empty-servers', 'info-license', 'no-invalid-schema-examples']) {
      expect(rules).toContain(rule)
    }
  })
})
