/**
 * The whodis-mirror CLI: commands in-process through runCli (flags and their environment
 * variables, outputs, exit codes), and the real program through its bin shim.
 */
import { spawn } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { createServer, type AddressInfo } from 'node:net'
import { join } from 'node:path'
import { PassThrough } from 'node:stream'
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest'
import { NUMBER_NOT_FOUND } from '../../src/protocol/lookup.ts'
import { runCli } from '../src/commands.ts'
import { EXIT_CODES } from '../src/errors.ts'
import { FLAGS, parseCommandLine } from '../src/args.ts'
import { checkBaseUrl } from '../src/http.ts'
import { openMirror } from '../src/mirror.ts'
import { FAKE_TOKEN, FakeDirectory } from './fixtures/fake-directory.ts'
import { buildLog, type FakeLog } from './fixtures/fake-log.ts'
import { cleanupTemp, expectedLookup, poolNumbers, tempDir } from './fixtures/helpers.ts'

let fake: FakeDirectory
let log: FakeLog
let data: string
beforeEach(async () => {
  log = await buildLog(600, { seed: 51 })
  fake = await FakeDirectory.start(log)
  data = tempDir()
})
afterEach(() => fake.stop())
afterAll(cleanupTemp)

/** Runs the CLI in-process; `onStderr` sees each stderr line as it is written. */
async function cli(
  args: string[],
  env: Record<string, string> = {},
  options: { signal?: AbortSignal; onStdout?: (line: string) => void; onStderr?: (line: string) => void } = {},
): Promise<{ code: number; stdout: string; stderr: string; json: any[] }> {
  const stdout = new PassThrough()
  const stderr = new PassThrough()
  let out = ''
  let err = ''
  stdout.on('data', (c: Buffer) => {
    out += c.toString()
    for (const line of c.toString().split('\n').filter(Boolean)) options.onStdout?.(line)
  })
  stderr.on('data', (c: Buffer) => {
    err += c.toString()
    for (const line of c.toString().split('\n').filter(Boolean)) options.onStderr?.(line)
  })
  const code = await runCli(args, { env: { WHODIS_RETRIES: '1', WHODIS_RETRY_BASE_MS: '5', ...env }, stdout, stderr, ...(options.signal ? { signal: options.signal } : {}) })
  const json = out
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l))
  return { code, stdout: out, stderr: err, json }
}

const syncArgs = () => ['sync', '--data', data, '--directory', fake.url, '--token', FAKE_TOKEN]

describe('whodis-mirror (in-process)', () => {
  it('prints help with every flag, its variable and the exit codes', async () => {
    const help = await cli(['--help'])
    expect(help.code).toBe(0)
    for (const text of ['sync', 'lookup', 'verify', 'watch', 'serve', '[WHODIS_DATA]', '[WHODIS_DIRECTORY]', '[WHODIS_TOKEN]', '[WHODIS_MIRROR_PORT]', '[WHODIS_LOG_KEY]', '[WHODIS_PEERS]', '[WHODIS_FOLLOW_INTERVAL_MS]']) {
      expect(help.stdout).toContain(text)
    }
    for (const [code, n] of Object.entries(EXIT_CODES)) expect(help.stdout).toMatch(new RegExp(`\\b${n}\\s+${code}\\b`))
    expect((await cli([])).code).toBe(EXIT_CODES.usage)
    expect((await cli(['sync', '--help'])).stdout).toContain('--follow')
  })

  it('refuses bad command lines with the usage exit code', async () => {
    const unknown = await cli(['frobnicate'])
    expect(unknown).toMatchObject({ code: 2 })
    expect(unknown.stderr).toMatch(/unknown command "frobnicate"/)
    expect((await cli(['sync', '--bogus'])).stderr).toMatch(/Unknown option '--bogus'/)
    expect((await cli(['sync', '--directory', fake.url])).stderr).toMatch(/sync needs --data \(or WHODIS_DATA\)/)
    expect((await cli(['sync', '--data', data, '--interval-ms', 'soon'])).code).toBe(2)
    expect((await cli(['lookup', '--data', data])).stderr).toMatch(/lookup takes one phone number/)
    expect((await cli(['watch', '--data', data])).stderr).toMatch(/watch needs --number or --app/)
  })

  it('serve listens on WHODIS_MIRROR_PORT, never on the directory\'s WHODIS_PORT', () => {
    expect(parseCommandLine('serve', [], { WHODIS_PORT: '8787' }).options.port).toBe(8788)
    expect(parseCommandLine('serve', [], { WHODIS_PORT: '8787', WHODIS_MIRROR_PORT: '9100' }).options.port).toBe(9100)
    expect(parseCommandLine('serve', ['--port', '9200'], { WHODIS_MIRROR_PORT: '9100' }).options.port).toBe(9200)
  })

  it('serve on a port in use is a usage error: one line naming the port and how to change it', async () => {
    const blocker = createServer()
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve))
    const port = (blocker.address() as AddressInfo).port
    try {
      for (const [args, env] of [
        [['--port', String(port)], {}],
        [[], { WHODIS_MIRROR_PORT: String(port) }],
      ] as const) {
        const run = await cli(['serve', ...syncArgs().slice(1), ...args], env)
        expect(run.code).toBe(EXIT_CODES.usage)
        expect(run.stderr).toBe(`whodis-mirror: serve: cannot listen on 127.0.0.1:${port}: the port is in use; choose another with --port (or WHODIS_MIRROR_PORT)\n`)
      }
      const bad = await cli(['serve', ...syncArgs().slice(1), '--port', '70000'])
      expect(bad).toMatchObject({ code: EXIT_CODES.usage, stderr: expect.stringMatching(/^whodis-mirror: serve: cannot listen on 127\.0\.0\.1:70000: a port is a number from 0 to 65535; .*\n$/) })
    } finally {
      await new Promise((resolve) => blocker.close(resolve))
    }
  })

  it('refuses a URL without a scheme, or malformed, in every URL flag and variable, without a request', async () => {
    let requests = 0
    fake.hook = () => {
      requests++
      return undefined
    }
    const cases: Array<[string[], Record<string, string>, RegExp]> = [
      [['sync', '--data', data], { WHODIS_DIRECTORY: '127.0.0.1:8787' }, /^whodis-mirror: WHODIS_DIRECTORY "127\.0\.0\.1:8787" has no scheme: write http:\/\/127\.0\.0\.1:8787 \(or https:\/\/\)\n$/],
      [['sync', '--data', data, '--directory', 'localhost:8787'], {}, /^whodis-mirror: --directory "localhost:8787" has no scheme: write http:\/\/localhost:8787/],
      [['serve', '--data', data, '--directory', 'whodis.example', '--port', '0'], {}, /--directory "whodis\.example" has no scheme/],
      [['sync', '--data', data, '--directory', 'ftp://x.example'], {}, /--directory "ftp:\/\/x\.example" is not an http or https URL/],
      [['sync', '--data', data, '--directory', 'http://'], {}, /--directory "http:\/\/" is not an http or https URL/],
      [['sync', '--data', data, '--directory', `${fake.url}/?x=1`], {}, /has a query or fragment/],
      [['sync', '--data', data, '--directory', 'http://user:pw@x.example'], {}, /carries credentials/],
      [['sync', ...syncArgs().slice(1), '--peer', 'peer.example:8788'], {}, /^whodis-mirror: --peer "peer\.example:8788" has no scheme/],
      [['sync', ...syncArgs().slice(1)], { WHODIS_PEERS: `${fake.url},127.0.0.1:9` }, /^whodis-mirror: WHODIS_PEERS "127\.0\.0\.1:9" has no scheme/],
      [['serve', ...syncArgs().slice(1), '--port', '0'], { WHODIS_PEERS: 'mirror-b:8788' }, /WHODIS_PEERS "mirror-b:8788" has no scheme/],
    ]
    for (const [args, env, message] of cases) {
      const run = await cli(args, env)
      expect(run.code, args.join(' ')).toBe(EXIT_CODES.usage)
      expect(run.stderr).toMatch(message)
      expect(run.stderr.trim().split('\n')).toHaveLength(1)
    }
    expect(requests).toBe(0)
    // The library refuses the same, as a usage error rather than six network failures.
    const mirror = await openMirror(tempDir(), { directory: '127.0.0.1:8787', retry: { retries: 5, baseDelayMs: 1000 } })
    try {
      await expect(mirror.sync()).rejects.toMatchObject({ code: 'usage', message: expect.stringContaining('has no scheme') })
    } finally {
      await mirror.close()
    }
    expect(() => checkBaseUrl('https://whodis.example/base/')).not.toThrow()
    expect(checkBaseUrl('https://whodis.example/base/')).toBe('https://whodis.example/base')
  })

  it('never logs a number or a lookup path while serving, syncing or refusing one', async () => {
    const controller = new AbortController()
    let url = ''
    const lines: string[] = []
    const running = cli(['serve', ...syncArgs().slice(1), '--port', '0', '--interval-ms', '20'], {}, {
      signal: controller.signal,
      onStderr: (l) => {
        lines.push(l)
        const e = JSON.parse(l)
        if (e.event === 'serving') url = e.url
      },
    })
    const start = Date.now()
    while (!url && Date.now() - start < 10_000) await new Promise((r) => setTimeout(r, 20))
    const held = poolNumbers().find((p) => expectedLookup(log, p))!
    const asked = [held, '+16505550123', '+1 650 000 0000', '+999123456789']
    let found = 0
    while (found !== 200 && Date.now() - start < 10_000) {
      await new Promise((r) => setTimeout(r, 20))
      found = (await fetch(`${url}/v1/numbers/${held}`)).status
    }
    for (const phone of asked) {
      for (const path of [`/v1/numbers/${encodeURIComponent(phone)}`, `/v1/numbers/${encodeURIComponent(phone)}?proof=1`, `/v1/numbers/${phone.replace(/\D/g, '')}`]) {
        expect((await fetch(`${url}${path}`)).status).toBeLessThan(500)
      }
    }
    controller.abort()
    expect((await running).code).toBe(0)
    const refused = [
      await cli(['lookup', '--data', data, '+1 650 000 0000']),
      await cli(['lookup', '--data', data, '--log-format', 'text', '+1 650 000 0000']),
      await cli(['watch', '--data', data, '--number', '+1 650 000 0000']),
    ]
    expect(refused.map((r) => r.code)).toEqual([EXIT_CODES.invalid_phone, EXIT_CODES.invalid_phone, EXIT_CODES.usage])
    expect(refused[0]!.stderr).toContain('the number given is not a valid phone number')
    const logged = [...lines, ...refused.map((r) => r.stderr)].join('\n')
    expect(lines.length).toBeGreaterThan(1)
    for (const phone of asked) expect(logged).not.toContain(phone.replace(/\D/g, '').slice(1))
    expect(logged).not.toMatch(/\/v1\/numbers/)
  })

  it('syncs, looks up, verifies and watches, taking flags from the environment', async () => {
    const env = { WHODIS_DATA: data, WHODIS_DIRECTORY: fake.url, WHODIS_TOKEN: FAKE_TOKEN }
    expect((await cli(['lookup', '+16505550001'], env)).code).toBe(EXIT_CODES.no_data)

    const synced = await cli(['sync'], env)
    expect(synced.code).toBe(0)
    expect(synced.json[0]).toMatchObject({ status: 'applied', treeSize: 600, checkpointSize: 600 })
    // Not a terminal: structured log lines on stderr.
    const events = synced.stderr.split('\n').filter(Boolean).map((l) => JSON.parse(l).event)
    expect(events).toContain('pinned')
    expect(events).toContain('synced')

    const found = poolNumbers().find((p) => expectedLookup(log, p))!
    const hit = await cli(['lookup', found], env)
    expect(hit).toMatchObject({ code: 0, stdout: `${JSON.stringify(expectedLookup(log, found))}\n` })
    const proved = await cli(['lookup', '--proof', found], env)
    expect(proved.json[0].apps[0].receipt).toContain('c2sp.org/tlog-proof@v1')
    expect((await cli(['lookup', found], { ...env, WHODIS_PROOF: '1' })).json[0].apps[0].receipt).toBeDefined()
    const missing = poolNumbers().find((p) => !expectedLookup(log, p))!
    expect(await cli(['lookup', missing], env)).toMatchObject({ code: EXIT_CODES.not_found, stdout: `${JSON.stringify(NUMBER_NOT_FOUND)}\n` })
    const invalid = await cli(['lookup', 'twelve'], env)
    expect(invalid.code).toBe(EXIT_CODES.invalid_phone)

    const verified = await cli(['verify'], env)
    expect(verified).toMatchObject({ code: 0 })
    expect(verified.json[0]).toMatchObject({ ok: true, treeSize: 600, entriesReplayed: 600 })

    // Without a directory, watch prints what is held and exits.
    const held = { WHODIS_DATA: data }
    const watched = await cli(['watch', '--number', found], held)
    expect(watched.code).toBe(0)
    expect(watched.json.length).toBeGreaterThan(0)
    for (const r of watched.json) expect(r.phone).toBe(found)
    const appc = await cli(['watch', '--app', 'appc'], held)
    const kinds = appc.json.map((r) => r.kind)
    expect(kinds[0]).toBe('app-register')
    expect(kinds.at(-1)).toBe('app-revoke')
    for (const r of appc.json) expect(r.app).toBe('appc')
  })

  it('watch --directory prints new entries for the number as they arrive', async () => {
    expect((await cli(syncArgs())).code).toBe(0)
    const controller = new AbortController()
    const lines: any[] = []
    const phone = '+16505559999'
    const running = cli(['watch', '--data', data, '--directory', fake.url, '--token', FAKE_TOKEN, '--number', phone, '--new-only', '--interval-ms', '20'], {}, {
      signal: controller.signal,
      onStdout: (l) => lines.push(JSON.parse(l)),
    })
    await new Promise((r) => setTimeout(r, 100))
    log.append({ kind: 'add', subject: 16505559999, app: 2, time: Math.floor(Date.now() / 1000), ttlDays: 30 })
    const start = Date.now()
    while (lines.length === 0 && Date.now() - start < 10_000) await new Promise((r) => setTimeout(r, 10))
    controller.abort()
    expect((await running).code).toBe(0)
    expect(lines).toEqual([expect.objectContaining({ index: 600, kind: 'add', phone, app: 'appb', ttlDays: 30 })])
  })

  it('serve answers lookups locally and stops cleanly on a signal', async () => {
    const controller = new AbortController()
    let url = ''
    const running = cli(['serve', ...syncArgs().slice(1), '--port', '0', '--interval-ms', '20'], {}, {
      signal: controller.signal,
      onStderr: (l) => {
        const e = JSON.parse(l)
        if (e.event === 'serving') url = e.url
      },
    })
    const start = Date.now()
    const phone = poolNumbers().find((p) => expectedLookup(log, p))!
    let status = 0
    while (status !== 200 && Date.now() - start < 10_000) {
      await new Promise((r) => setTimeout(r, 20))
      if (url) status = (await fetch(`${url}/v1/numbers/${phone}`)).status
    }
    expect(await (await fetch(`${url}/v1/numbers/${phone}`)).json()).toEqual(expectedLookup(log, phone))
    expect((await fetch(`${url}/healthz`)).status).toBe(200)
    controller.abort()
    expect((await running).code).toBe(0)
  })

  it('serve keeps serving the verified state after a fork and reports it in /healthz', async () => {
    expect((await cli(syncArgs())).code).toBe(0)
    const forked = log.fork(300)
    const { generateEntries } = await import('./fixtures/fake-log.ts')
    forked.append(...generateEntries(300, { seed: 77, state: forked.stateAt() }))
    fake.checkpointNote = await forked.checkpoint()
    const controller = new AbortController()
    let url = ''
    const running = cli(['serve', ...syncArgs().slice(1), '--port', '0', '--interval-ms', '20'], {}, {
      signal: controller.signal,
      onStderr: (l) => {
        const e = JSON.parse(l)
        if (e.event === 'serving') url = e.url
      },
    })
    const start = Date.now()
    let health: any = null
    while (health?.status !== 'halted' && Date.now() - start < 10_000) {
      await new Promise((r) => setTimeout(r, 20))
      if (url) health = await (await fetch(`${url}/healthz`)).json()
    }
    expect(health).toMatchObject({ status: 'halted', treeSize: 600 })
    expect(health.halted).toMatch(/^fork: /)
    const phone = poolNumbers().find((p) => expectedLookup(log, p))!
    expect(await (await fetch(`${url}/v1/numbers/${phone}`)).json()).toEqual(expectedLookup(log, phone))
    controller.abort()
    expect((await running).code).toBe(0)
  })
})

describe('docs/mirror.md', () => {
  it('documents every flag, its variable and every exit code', () => {
    const doc = readFileSync(join(import.meta.dirname, '..', '..', 'docs', 'mirror.md'), 'utf8')
    for (const f of FLAGS) {
      expect(doc).toContain(`\`--${f.name}\``)
      expect(doc).toContain(`\`${f.env}\``)
    }
    for (const [code, n] of Object.entries(EXIT_CODES)) expect(doc).toContain(`| ${n} | \`${code}\` |`)
  })
})

describe('whodis-mirror (the program)', () => {
  const bin = join(import.meta.dirname, '..', 'bin', 'whodis-mirror.js')
  function program(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
    return new Promise((resolve) => {
      const proc = spawn(process.execPath, [bin, ...args], { env: { ...process.env, WHODIS_RETRIES: '1', WHODIS_RETRY_BASE_MS: '5' } })
      let stdout = ''
      let stderr = ''
      proc.stdout.on('data', (c: Buffer) => (stdout += c.toString()))
      proc.stderr.on('data', (c: Buffer) => (stderr += c.toString()))
      proc.on('exit', (code) => resolve({ code, stdout, stderr }))
    })
  }

  it('runs through the bin shim and exits with the refusal code', async () => {
    const help = await program(['--help'])
    expect(help.code).toBe(0)
    expect(help.stdout).toContain('exit codes:')
    expect((await program(syncArgs())).code).toBe(0)
    fake.checkpointNote = await log.checkpoint(100)
    const rollback = await program(syncArgs())
    expect(rollback.code).toBe(EXIT_CODES.rollback)
    expect(JSON.parse(rollback.stderr.trim().split('\n').at(-1)!)).toMatchObject({ level: 'error', event: 'rollback', exitCode: 12 })
  })
})
