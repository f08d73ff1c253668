/**
 * The test run's output filter (test/harmless-output.ts): the runtime's known-harmless lines, as
 * they were printed by this suite, are dropped; anything else, a real error above all, still shows.
 */
import { spawnSync } from 'node:child_process'
import { createRequire } from 'node:module'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { describe, expect, it } from 'vitest'
import { dropHarmless, type FilterState } from '../harmless-output.ts'

const STACK =
  'stack: /w/node_modules/@cloudflare/workerd-linux-64/bin/workerd@52008e2 /w/node_modules/@cloudflare/workerd-linux-64/bin/workerd@5200ac5 /w/node_modules/@cloudflare/workerd-linux-64/bin/workerd@2c3e830'
const SOCKET_CLOSED = 'exception = workerd/api/web-socket.c++:821: disconnected: WebSocket peer disconnected'
const REFUSED = 'exception = kj/async-io-unix.c++:1538: disconnected: connect(): Connection refused'
const LOST_JS = 'uncaught exception; source = Uncaught (in promise); stack = Error: Network connection lost.'
const LOST_NATIVE = 'uncaught exception; exception = workerd/jsg/_virtual_includes/iterator/workerd/jsg/value.h:1480: disconnected: jsg.Error: Network connection lost.'
const DEV_VARS = 'Using secrets defined in .dev.vars'

const fresh = (): FilterState => ({ dropped: false, refused: false })
const filter = (writes: string[]) => {
  const state = fresh()
  return writes.map((w) => dropHarmless(w, state)).join('')
}

describe('dropHarmless', () => {
  it('drops the known harmless lines, as one write or many, with their native stacks', () => {
    const noise = [SOCKET_CLOSED, REFUSED, STACK, LOST_JS, LOST_NATIVE, STACK, DEV_VARS]
    expect(filter([noise.join('\n') + '\n'])).toBe('')
    expect(filter(noise.map((l) => `${l}\n`))).toBe('')
    expect(filter([`\x1b[33m${SOCKET_CLOSED}\x1b[39m\n`])).toBe('')
    expect(filter([` ✓  worker  test/worker/admin.test.ts (13 tests) 2s\n${SOCKET_CLOSED}\n`])).toBe(' ✓  worker  test/worker/admin.test.ts (13 tests) 2s\n')
  })

  it('keeps real errors: other exceptions, unhandled rejections, a lost connection nobody refused', () => {
    const real = [
      'uncaught exception; source = Uncaught (in promise); stack = Error: log_unavailable: the change is recorded but not yet in the published log; retry shortly',
      '    at rpcError (/w/src/errors.ts:56:10)',
      'exception = workerd/api/web-socket.c++:821: disconnected: something else',
      'exception = kj/async-io-unix.c++:1538: disconnected: connect(): Connection reset',
      LOST_JS,
      LOST_NATIVE,
      STACK,
      'Using secrets defined in .dev.vars.production',
      'Error: Using secrets defined in .dev.vars',
    ]
    for (const line of real) expect(filter([`${line}\n`])).toBe(`${line}\n`)
    // A lost connection after an unrelated line is not the refused fetch's echo.
    expect(filter([`${REFUSED}\n`, 'FAIL test/x.test.ts\n', `${LOST_JS}\n`])).toBe(`FAIL test/x.test.ts\n${LOST_JS}\n`)
    // A native stack after a kept line stays with it.
    expect(filter([`exception = boom\n${STACK}\n`])).toBe(`exception = boom\n${STACK}\n`)
  })

  it('keeps partial lines (progress, prompts) as written', () => {
    expect(filter(['\r\x1b[2K running 3/7 ', SOCKET_CLOSED])).toBe(`\r\x1b[2K running 3/7 ${SOCKET_CLOSED}`)
  })
})

describe('installHarmlessOutputFilter', () => {
  it('filters what the process writes to stdout and stderr', () => {
    const tsx = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href
    const module = pathToFileURL(join(import.meta.dirname, '..', 'harmless-output.ts')).href
    const script = `
      const { installHarmlessOutputFilter } = await import(${JSON.stringify(module)})
      installHarmlessOutputFilter()
      installHarmlessOutputFilter()
      process.stdout.write(${JSON.stringify(`${DEV_VARS}\nkept on stdout\n`)})
      process.stderr.write(${JSON.stringify(`${REFUSED}\n${STACK}\n`)})
      process.stderr.write(Buffer.from(${JSON.stringify(`${LOST_JS}\nkept on stderr\n`)}))
      process.stderr.write(${JSON.stringify(`${SOCKET_CLOSED}\n`)}, () => process.stdout.write('callback ran\\n'))
    `
    const run = spawnSync(process.execPath, ['--import', tsx, '--input-type=module', '-e', script], { encoding: 'utf8' })
    expect(run.status).toBe(0)
    expect(run.stdout).toBe('kept on stdout\ncallback ran\n')
    expect(run.stderr).toBe('kept on stderr\n')
  })
})
