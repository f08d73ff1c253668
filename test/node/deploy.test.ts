/**
 * The README's deploy steps end in `wrangler deploy --env production`; a dry run proves the
 * production configuration bundles, declares every binding the code uses, and fits Workers'
 * size limit, without an account or a network; and that what the platform keeps of the logs
 * holds no request URL (a number can be in one).
 */
import { execFile } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { gzipSync } from 'node:zlib'
import { afterAll, describe, expect, it } from 'vitest'
import { unstable_readConfig } from 'wrangler'
import { WRANGLER_CONFIG } from '../../scripts/local-directory.ts'

const KEYHOLDER_CONFIG = join(import.meta.dirname, '..', '..', 'keyholder', 'wrangler.toml')
const out = mkdtempSync(join(tmpdir(), 'whodis-deploy-'))
afterAll(() => rmSync(out, { recursive: true, force: true }))

describe('wrangler deploy --dry-run --env production', () => {
  it('bundles with every binding declared and fits the 3 MiB (compressed) Worker limit', async () => {
    const { stdout } = await promisify(execFile)('npx', ['wrangler', 'deploy', '--dry-run', '--env', 'production', '--outdir', out], {
      env: { ...process.env, WRANGLER_SEND_METRICS: 'false', CI: '1' },
      maxBuffer: 16 * 1024 * 1024,
    })
    for (const binding of ['env.SEQUENCER (Sequencer)', 'env.PHONE_CHALLENGE (PhoneChallenge)', 'env.LIMITER (Limiter)', 'env.OUTBOX (DevOutbox)', 'env.METER (EvaluationMeter)', 'env.DIRECTORY', 'env.LOG (whodis-log)']) {
      expect(stdout).toContain(binding)
    }
    expect(stdout).toMatch(/env\.HOLDER_CLIENT_LIMIT \(5 requests\/60s\)\s+Rate Limit/)
    expect(stdout).toContain('env.SMS_PROVIDER ("twilio")')
    expect(stdout).toContain('--dry-run: exiting now.')
    const bundle = readFileSync(join(out, 'index.js'))
    expect(gzipSync(bundle).length).toBeLessThan(3 * 1024 * 1024)
  })
})

describe('wrangler deploy --dry-run -c keyholder/wrangler.toml --env production', () => {
  it('bundles the key holder alone: its bindings and none of the directory’s', async () => {
    const keyholderOut = join(out, 'keyholder')
    const { stdout } = await promisify(execFile)('npx', ['wrangler', 'deploy', '--dry-run', '-c', KEYHOLDER_CONFIG, '--env', 'production', '--outdir', keyholderOut], {
      env: { ...process.env, WRANGLER_SEND_METRICS: 'false', CI: '1' },
      maxBuffer: 16 * 1024 * 1024,
    })
    for (const binding of ['env.METER (EvaluationMeter)', 'env.APPS', 'env.EVALUATIONS_BURST ("50000")']) expect(stdout).toContain(binding)
    for (const directoryOnly of ['SEQUENCER', 'DIRECTORY', 'LOG_ORIGIN', 'env.LOG ']) expect(stdout).not.toContain(directoryOnly)
    expect(stdout).toContain('--dry-run: exiting now.')
    const bundle = readFileSync(join(keyholderOut, 'index.js'), 'utf8')
    // The key holder has no use for phone numbers: the directory's phone library stays out.
    expect(bundle).not.toContain('libphonenumber')
    expect(gzipSync(bundle).length).toBeLessThan(3 * 1024 * 1024)
  })
})

describe('observability', () => {
  it('keeps the console lines but no invocation logs or traces (they record request URLs), in every environment, for both Workers', () => {
    for (const config of [WRANGLER_CONFIG, KEYHOLDER_CONFIG]) {
      for (const env of [undefined, 'production']) {
        const { observability } = unstable_readConfig({ config, env })
        expect(observability, `${config} ${env ?? 'top level'}`).toEqual({ enabled: true, logs: { enabled: true, invocation_logs: false }, traces: { enabled: false } })
      }
    }
  })
})
