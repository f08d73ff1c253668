/**
 * `npm start` as a newcomer runs it (scripts/start.ts, wrangler dev, in a directory of its own on
 * free ports, the key holder beside the directory): no raw number in anything it prints, whatever form the number takes in a request's
 * URL; no offline `Request.cf` warning; and a port in use, or not a port, is one usage line
 * (exit 2) before the banner, with nothing written.
 */
import { spawn } from 'node:child_process'
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs'
import { createServer, type Server } from 'node:net'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { afterAll, describe, expect, it } from 'vitest'

const ROOT = join(import.meta.dirname, '..', '..')
const START = join(ROOT, 'scripts', 'start.ts')
// tsx, as `npm start` runs it, from this checkout (the child's working directory has no node_modules).
const TSX = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href
const dirs: string[] = []
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true })
})

/** A directory laid out like a checkout (wrangler.toml, src, keyholder/), where start.ts writes .dev.vars and .wrangler. */
function checkout(): string {
  const dir = mkdtempSync(join(tmpdir(), 'whodis-start-'))
  dirs.push(dir)
  copyFileSync(join(ROOT, 'wrangler.toml'), join(dir, 'wrangler.toml'))
  symlinkSync(join(ROOT, 'src'), join(dir, 'src'))
  mkdirSync(join(dir, 'keyholder'))
  copyFileSync(join(ROOT, 'keyholder', 'wrangler.toml'), join(dir, 'keyholder', 'wrangler.toml'))
  symlinkSync(join(ROOT, 'keyholder', 'src'), join(dir, 'keyholder', 'src'))
  return dir
}

/** A port nothing listens on now. */
async function freePort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as { port: number }
  await new Promise((resolve) => server.close(resolve))
  return port
}

interface Started {
  output: () => string
  exited: Promise<number | null>
  stop: () => void
}

/** Runs start.ts in `cwd` with WHODIS_PORT and WHODIS_KEYHOLDER_PORT, collecting everything it prints (stdout and stderr). */
function start(cwd: string, port: string, keyholderPort: string): Started {
  let output = ''
  const child = spawn(process.execPath, ['--import', TSX, START], {
    cwd,
    env: { ...process.env, WHODIS_PORT: port, WHODIS_KEYHOLDER_PORT: keyholderPort, NO_COLOR: '1', FORCE_COLOR: '0' },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  })
  child.stdout.on('data', (c: Buffer) => (output += c.toString()))
  child.stderr.on('data', (c: Buffer) => (output += c.toString()))
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)))
  return {
    output: () => output,
    exited,
    // The whole group it started (wrangler and workerd), as Ctrl-C in a terminal would.
    stop: () => {
      try {
        process.kill(-child.pid!, 'SIGINT')
      } catch {
        // Already gone.
      }
    },
  }
}

async function until(what: string, condition: () => boolean, ms = 90_000): Promise<void> {
  const started = Date.now()
  while (!condition()) {
    if (Date.now() - started > ms) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 100))
  }
}

describe('npm start', () => {
  it('never prints a number from a request URL, in any form', { timeout: 180_000 }, async () => {
    const dir = checkout()
    const port = await freePort()
    const keyholderPort = await freePort()
    const run = start(dir, String(port), String(keyholderPort))
    try {
      await until('Ready on', () => run.output().includes(`Ready on http://127.0.0.1:${port}`))
      await until('the key holder', () => run.output().includes(`[keyholder] [wrangler:info] Ready on http://127.0.0.1:${keyholderPort}`))
      expect(run.output()).toContain(`whodis key holder, local (miniflare): http://127.0.0.1:${keyholderPort}`)
      // The two operators' shares: distinct keys, each published by its own Worker.
      const keys = await Promise.all([port, keyholderPort].map(async (p) => ((await (await fetch(`http://127.0.0.1:${p}/.well-known/whodis-oprf`)).json()) as { publicKey: string }).publicKey))
      expect(keys[0]).toMatch(/^[0-9a-f]{64}$/)
      expect(keys[1]).toMatch(/^[0-9a-f]{64}$/)
      expect(keys[0]).not.toBe(keys[1])
      expect(readFileSync(join(dir, 'keyholder', '.dev.vars'), 'utf8')).toMatch(/^OPRF_KEY_SHARE="[0-9a-f]{64}"$/m)
      const base = `http://127.0.0.1:${port}`
      const admin = /^ADMIN_TOKEN="(.+)"$/m.exec(readFileSync(join(dir, '.dev.vars'), 'utf8'))![1]!
      const created = await fetch(`${base}/v1/admin/apps`, {
        method: 'POST',
        headers: { Authorization: `Bearer ${admin}`, 'Content-Type': 'application/json' },
        body: JSON.stringify({ id: 'appa', name: 'App A' }),
      })
      const { token } = (await created.json()) as { token: string }
      const auth = { Authorization: `Bearer ${token}` }
      const started = await fetch(`${base}/v1/verifications`, {
        method: 'POST',
        headers: { ...auth, 'Content-Type': 'application/json' },
        body: JSON.stringify({ phone: '+1 650 555 0123' }),
      })
      expect(started.status).toBe(201)
      const paths = [
        '/v1/numbers/+16505550123',
        '/v1/numbers/%2B16505550123?proof=1',
        '/v1/numbers/%252B16505550123',
        '/v1/numbers/16505550123',
        '/v1/numbers/+1%20(650)%20555-0123',
        '/v1/numbers/+1.650.555.0123',
        '/nope/tel:+16505550123',
      ]
      for (const path of paths) expect((await fetch(`${base}${path}`, { headers: auth })).status).toBeLessThan(500)
      expect((await fetch(`${base}/v1/numbers/+16505550123/apps/appa`, { method: 'DELETE', headers: auth })).status).toBeLessThan(500)
      expect((await fetch(`${base}/dev/outbox?phone=%2B16505550123`, { headers: { Authorization: `Bearer ${admin}` } })).status).toBe(200)
      // wrangler logged every request (so the check below is not vacuous), each with the number redacted.
      await until('the request lines', () => (run.output().match(/\] (GET|DELETE|POST) \//g) ?? []).length >= paths.length + 4)
      expect(run.output()).toContain('GET /v1/numbers/[number] 404')
      expect(run.output()).toContain('DELETE /v1/numbers/[number]/apps/appa')
    } finally {
      run.stop()
    }
    // wrangler's launcher stops its runtime and exits 0 on SIGINT.
    expect(await run.exited).toBe(0)
    const printed = run.output()
    for (const text of [printed, decodeURIComponent(decodeURIComponent(printed.replace(/%(?![0-9a-f]{2})/gi, '%25')))]) {
      expect(text).not.toMatch(/650\D{0,3}555\D{0,3}0123/)
      expect(text).not.toMatch(/6505550123/)
    }
    expect(printed).not.toMatch(/Request\.cf|ENOTFOUND/)
  })

  it('refuses a port in use, or not a port, with one line and exit 2 before anything else', { timeout: 60_000 }, async () => {
    const blocker: Server = createServer()
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve))
    const port = (blocker.address() as { port: number }).port
    try {
      const dir = checkout()
      const free = String(await freePort())
      const run = start(dir, String(port), free)
      expect(await run.exited).toBe(2)
      expect(run.output()).toBe(
        `npm start: port ${port} on 127.0.0.1 is already in use (another \`npm start\`?); set WHODIS_PORT to a free port, e.g. WHODIS_PORT=8790 npm start\n`,
      )
      const keyholderBlocked = start(dir, free, String(port))
      expect(await keyholderBlocked.exited).toBe(2)
      expect(keyholderBlocked.output()).toBe(
        `npm start: port ${port} on 127.0.0.1 is already in use (another \`npm start\`?); set WHODIS_KEYHOLDER_PORT to a free port, e.g. WHODIS_KEYHOLDER_PORT=8790 npm start\n`,
      )
      const same = start(dir, free, free)
      expect(await same.exited).toBe(2)
      expect(same.output()).toBe(`npm start: WHODIS_KEYHOLDER_PORT=${free} is the directory's port too; give the key holder another\n`)
      expect(existsSync(join(dir, '.dev.vars'))).toBe(false)
      expect(existsSync(join(dir, 'keyholder', '.dev.vars'))).toBe(false)
      for (const bad of ['abc', '70000', '0']) {
        const refused = start(dir, bad, free)
        expect(await refused.exited).toBe(2)
        expect(refused.output()).toBe(`npm start: WHODIS_PORT=${bad} is not a port (1 to 65535)\n`)
        const refusedKeyholder = start(dir, free, bad)
        expect(await refusedKeyholder.exited).toBe(2)
        expect(refusedKeyholder.output()).toBe(`npm start: WHODIS_KEYHOLDER_PORT=${bad} is not a port (1 to 65535)\n`)
      }
    } finally {
      await new Promise((resolve) => blocker.close(resolve))
    }
  })
})
