/**
 * `npm start` refuses, before it launches wrangler, a `.dev.vars` whose log signing key is not
 * named LOG_ORIGIN (wrangler.toml's, or the one `.dev.vars` sets), and `npm run keygen` names
 * the key after the origin it is given.
 */
import { spawnSync } from 'node:child_process'
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, describe, expect, it } from 'vitest'
import { devVarsProblem, ensureDevVars, ensureKeyholderDevVars, generateDevSecrets, logOriginFromConfig, readDevVars } from '../../scripts/dev-vars.ts'
import { toHex } from '../../src/protocol/bytes.ts'
import { parseSignerKey, parseVerifierKey } from '../../src/protocol/note-keys.ts'
import { keyShareFromSecret } from '../../src/protocol/oprf.ts'

const REPO = fileURLToPath(new URL('../..', import.meta.url))
const TSX = join(REPO, 'node_modules/tsx/dist/cli.mjs')
const CONFIG = join(REPO, 'wrangler.toml')
const dirs: string[] = []
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true })
})

/** Runs `scripts/<script>` with tsx in a fresh directory holding wrangler.toml and, if given, `.dev.vars`. */
function runScript(script: string, args: string[], devVars?: Record<string, string>) {
  const dir = mkdtempSync(join(tmpdir(), 'whodis-start-'))
  dirs.push(dir)
  copyFileSync(CONFIG, join(dir, 'wrangler.toml'))
  if (devVars) writeFileSync(join(dir, '.dev.vars'), Object.entries(devVars).map(([k, v]) => `${k}="${v}"`).join('\n') + '\n')
  return spawnSync(process.execPath, [TSX, join(REPO, 'scripts', script), ...args], { cwd: dir, encoding: 'utf8', timeout: 60_000, env: { ...process.env, WHODIS_PORT: '1' } })
}

describe('npm start', () => {
  it('refuses a signing key named other than LOG_ORIGIN, before it prints or launches anything', async () => {
    const origin = logOriginFromConfig(CONFIG)
    const vars = await generateDevSecrets('someone-else.example/log')
    const run = runScript('start.ts', [], vars)
    expect(run.status).toBe(2)
    expect(run.stderr).toContain(`whodis: not starting: LOG_SIGNING_KEY is the key of "someone-else.example/log" but LOG_ORIGIN is "${origin}"`)
    expect(run.stderr).toContain(`npm run keygen -- ${origin}`)
    // Neither the banner nor anything from wrangler (which would write to the same stdout).
    expect(run.stdout).toBe('')
  })

  it('refuses a .dev.vars without a signing key', () => {
    const run = runScript('start.ts', [], { ADMIN_TOKEN: 'x', HMAC_SECRET: 'y', SMS_PROVIDER: 'outbox' })
    expect(run.status).toBe(2)
    expect(run.stderr).toContain('LOG_SIGNING_KEY is not set')
  })

  it('checks the key against the LOG_ORIGIN .dev.vars sets, which wins over wrangler.toml', async () => {
    const origin = logOriginFromConfig(CONFIG)
    expect(devVarsProblem(await generateDevSecrets(origin), CONFIG)).toBeNull()
    const other = await generateDevSecrets('other.example/log')
    expect(devVarsProblem(other, CONFIG)).toContain(`LOG_ORIGIN is "${origin}"`)
    expect(devVarsProblem({ ...other, LOG_ORIGIN: 'other.example/log' }, CONFIG)).toBeNull()
    expect(devVarsProblem({ ...(await generateDevSecrets(origin)), LOG_ORIGIN: 'other.example/log' }, CONFIG)).toContain('LOG_ORIGIN is "other.example/log"')
  })

  it('writes a fresh .dev.vars whose key is named LOG_ORIGIN (so a first run passes the check)', async () => {
    const origin = logOriginFromConfig(CONFIG)
    expect(parseSignerKey((await generateDevSecrets()).LOG_SIGNING_KEY!).name).toBe(origin)
  })
})

describe('the OPRF key shares of .dev.vars', () => {
  it('are generated for the directory and, apart, for the key holder; a .dev.vars from before gets one added', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'whodis-start-'))
    dirs.push(dir)
    const directory = (await generateDevSecrets('whodis.localhost/log')).OPRF_KEY_SHARE!
    expect(keyShareFromSecret(directory).publicKey.length).toBe(32)
    const keyholder = ensureKeyholderDevVars(join(dir, 'keyholder.dev.vars'))
    expect(keyholder.created).toBe(true)
    expect(Object.keys(keyholder.vars).sort()).toEqual(['ADMIN_TOKEN', 'OPRF_KEY_SHARE'])
    expect(toHex(keyShareFromSecret(keyholder.vars.OPRF_KEY_SHARE!).publicKey)).not.toBe(toHex(keyShareFromSecret(directory).publicKey))
    expect(ensureKeyholderDevVars(join(dir, 'keyholder.dev.vars'))).toEqual({ vars: keyholder.vars, created: false })
    // A .dev.vars written before the share existed keeps every line and gains the share, once.
    const old = join(dir, '.dev.vars')
    writeFileSync(old, 'ADMIN_TOKEN="a"\nHMAC_SECRET="b"\n')
    const first = await ensureDevVars(old)
    expect(first).toMatchObject({ created: false, added: ['OPRF_KEY_SHARE'], vars: { ADMIN_TOKEN: 'a', HMAC_SECRET: 'b' } })
    expect(readDevVars(old)).toEqual(first.vars)
    expect(readFileSync(old, 'utf8').startsWith('ADMIN_TOKEN="a"\nHMAC_SECRET="b"\n')).toBe(true)
    expect(await ensureDevVars(old)).toEqual({ vars: first.vars, created: false, added: [] })
  })
})

describe('npm run keygen', () => {
  it('names the key after the origin and says LOG_ORIGIN must equal it', () => {
    const run = runScript('keygen.ts', ['whodis.example/log'])
    expect(run.status).toBe(0)
    const signer = run.stdout.match(/^LOG_SIGNING_KEY \(secret\): (\S+)$/m)![1]!
    const verifier = run.stdout.match(/^verifier key \(public\): +(\S+)$/m)![1]!
    expect(parseSignerKey(signer).name).toBe('whodis.example/log')
    expect(parseVerifierKey(verifier).name).toBe('whodis.example/log')
    expect(run.stdout).toContain('LOG_ORIGIN must be exactly: whodis.example/log')
    const usage = runScript('keygen.ts', [])
    expect(usage.status).toBe(2)
    expect(usage.stderr).toMatch(/LOG_ORIGIN.*must be equal/)
  })

  it('with --oprf, prints a fresh OPRF key share and the public key the routes publish for it', () => {
    const shares = [runScript('keygen.ts', ['--oprf']), runScript('keygen.ts', ['--oprf'])].map((run) => {
      expect(run.status).toBe(0)
      const secret = run.stdout.match(/^OPRF_KEY_SHARE \(secret\): ([0-9a-f]{64})$/m)![1]!
      const published = run.stdout.match(/^public key \(published\): +([0-9a-f]{64})$/m)![1]!
      expect(toHex(keyShareFromSecret(secret).publicKey)).toBe(published)
      return secret
    })
    expect(shares[0]).not.toBe(shares[1])
  })
})
