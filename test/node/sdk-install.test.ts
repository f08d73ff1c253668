/**
 * An app installs the SDK as the README says, `npm install /path/to/whodis` (offline: a local
 * path needs no registry): npm has no install script of whodis to run, so it warns about nothing
 * (npm 11 asks for an `allowScripts` entry for any), and `import('whodis/client')` works there.
 */
import { execFileSync, spawnSync } from 'node:child_process'
import { lstatSync, mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'

const ROOT = join(import.meta.dirname, '..', '..')
const app = mkdtempSync(join(tmpdir(), 'whodis-app-'))
afterAll(() => rmSync(app, { recursive: true, force: true }))

/** This process's environment without what `npm test` adds for scripts (npm_*), as in a fresh shell. */
const shellEnv = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^npm_/i.test(k)))

describe('npm install /path/to/whodis', () => {
  it('declares no script npm would run in an app that installs it', () => {
    const { scripts } = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> }
    for (const hook of ['preinstall', 'install', 'postinstall', 'prepare']) expect(scripts, hook).not.toHaveProperty(hook)
  })

  it('installs without a warning, and the app imports whodis/client', { timeout: 120_000 }, () => {
    writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'an-app', version: '1.0.0', private: true, type: 'module' }))
    const install = spawnSync('npm', ['install', ROOT, '--offline', '--no-audit', '--no-fund'], { cwd: app, env: shellEnv, encoding: 'utf8' })
    expect(install.status, install.stderr).toBe(0)
    const printed = `${install.stdout}${install.stderr}`
    expect(printed).not.toMatch(/allowScripts|install-scripts|npm warn/i)
    expect(lstatSync(join(app, 'node_modules', 'whodis')).isSymbolicLink()).toBe(true)
    expect(realpathSync(join(app, 'node_modules', 'whodis'))).toBe(realpathSync(ROOT))
    const script = `
      const sdk = await import('whodis/client')
      const client = new sdk.WhodisClient({ baseUrl: 'http://127.0.0.1:1', token: 't' })
      console.log(JSON.stringify({ exports: Object.keys(sdk).sort(), e164: sdk.normalizePhone('+1 (650) 555-0011').e164, client: typeof client.lookup }))
    `
    const used = JSON.parse(execFileSync(process.execPath, ['--input-type=module', '-e', script], { cwd: app, env: shellEnv, encoding: 'utf8' }))
    expect(used.exports).toEqual(expect.arrayContaining(['WhodisClient', 'HolderClient', 'chooseApp', 'verifyCredential', 'verifyReceipt', 'normalizePhone']))
    expect(used).toMatchObject({ e164: '+16505550011', client: 'function' })
  })
})
