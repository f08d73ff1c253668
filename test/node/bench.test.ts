/**
 * `npm run bench` end to end at its smallest (`--smoke`: 2,000 records, a few seconds of load,
 * four verifications through the real Worker): the run completes and writes a JSON file whose
 * every value is a finite number, with every figure the suite promises.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { main, REQUIRED_KEYS } from '../../bench/run.ts'

const dir = mkdtempSync(join(tmpdir(), 'whodis-bench-test-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

describe('npm run bench', () => {
  it('measures everything at a tiny size and writes every figure as a finite number', { timeout: 60_000 }, async () => {
    const out = join(dir, 'latest.json')
    const printed: string[] = []
    await main(['--smoke', '--out', out], (text) => printed.push(text))
    const results = JSON.parse(readFileSync(out, 'utf8')) as Record<string, unknown>
    for (const key of REQUIRED_KEYS) expect(results, key).toHaveProperty(key)
    for (const [key, value] of Object.entries(results)) expect(Number.isFinite(value), `${key} = ${value}`).toBe(true)
    expect(results.records).toBe(2000)
    expect(printed.join('\n')).toContain('mirror lookups (library API)')
  })
})
