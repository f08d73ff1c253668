/**
 * `npm start`: runs the directory locally under miniflare (`wrangler dev`) with embedded KV,
 * R2 and Durable Objects, and the key holder beside it (`wrangler dev -c keyholder/wrangler.toml`,
 * its own KV and EvaluationMeter), creating `.dev.vars` and `keyholder/.dev.vars` on first run
 * and printing how to use them. Ports: WHODIS_PORT (default 8787) and WHODIS_KEYHOLDER_PORT
 * (default 8788). wrangler's output passes through {@link createLineFilter}, which redacts
 * phone numbers from its request lines; the key holder's lines are prefixed `[keyholder]`.
 * When either stops, so does the other.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { createRequire } from 'node:module'
import { createServer } from 'node:net'
import { constants } from 'node:os'
import { devVarsProblem, ensureDevVars, ensureKeyholderDevVars, KEYHOLDER_DEV_VARS } from './dev-vars.ts'
import { createLineFilter } from './wrangler-output.ts'

const HOST = '127.0.0.1'
const port = portFrom('WHODIS_PORT', '8787')
const keyholderPort = portFrom('WHODIS_KEYHOLDER_PORT', '8788')
if (keyholderPort === port) usageError(`WHODIS_KEYHOLDER_PORT=${keyholderPort} is the directory's port too; give the key holder another`)
for (const [name, p] of [
  ['WHODIS_PORT', port],
  ['WHODIS_KEYHOLDER_PORT', keyholderPort],
] as const) {
  const problem = await listenProblem(p)
  if (problem) {
    const why = problem === 'EADDRINUSE' ? `port ${p} on ${HOST} is already in use (another \`npm start\`?)` : `cannot listen on ${HOST}:${p} (${problem})`
    usageError(`${why}; set ${name} to a free port, e.g. ${name}=${p === 8790 ? 8791 : 8790} npm start`)
  }
}

const base = `http://${HOST}:${port}`
const keyholderBase = `http://${HOST}:${keyholderPort}`
const { vars, created, added } = await ensureDevVars()
// The Worker would answer every request 503 with this; say it now instead of starting.
const keyProblem = devVarsProblem(vars)
if (keyProblem) {
  console.error(`whodis: not starting: ${keyProblem}.\nFix LOG_SIGNING_KEY in .dev.vars, or LOG_ORIGIN in wrangler.toml [vars].`)
  process.exit(2)
}
const keyholder = ensureKeyholderDevVars()

console.log(`
whodis directory, local (miniflare): ${base}
${created ? 'Created .dev.vars with a new admin token, HMAC secret, log signing key and OPRF key share.' : `Using the existing .dev.vars${added.length ? ` (added ${added.join(', ')})` : ''}.`}
Admin token: ${vars.ADMIN_TOKEN}
SMS provider: ${vars.SMS_PROVIDER ?? '(unset)'}${vars.SMS_PROVIDER === 'outbox' ? ` (codes appear at ${base}/dev/outbox)` : ''}

whodis key holder, local (miniflare): ${keyholderBase}
${keyholder.created ? `Created ${KEYHOLDER_DEV_VARS} with its own admin token and OPRF key share.` : `Using the existing ${KEYHOLDER_DEV_VARS}.`}
Key holder admin token: ${keyholder.vars.ADMIN_TOKEN}

Next steps:
  export ADMIN=${vars.ADMIN_TOKEN}
  curl -s -X POST ${base}/v1/admin/apps -H "Authorization: Bearer $ADMIN" -H 'Content-Type: application/json' -d '{"id":"appa","name":"App A"}'
  curl -s -X POST ${base}/v1/verifications -H "Authorization: Bearer <appa token>" -H 'Content-Type: application/json' -d '{"phone":"+1 650 555 0011"}'
  curl -s "${base}/dev/outbox?phone=%2B16505550011" -H "Authorization: Bearer $ADMIN"
  curl -s -X POST ${base}/v1/verifications/<id>/check -H "Authorization: Bearer <appa token>" -H 'Content-Type: application/json' -d '{"code":"<code>"}'
  curl -s -X POST ${base}/v1/lookups -H "Authorization: Bearer <any app token>" -H 'Content-Type: application/json' -d '{"phones":["+16505550011"]}'
  curl -s -X POST ${keyholderBase}/v1/admin/apps -H "Authorization: Bearer ${keyholder.vars.ADMIN_TOKEN}" -H 'Content-Type: application/json' -d '{"id":"appa","name":"App A"}'
  curl -s ${base}/.well-known/whodis-oprf; curl -s ${keyholderBase}/.well-known/whodis-oprf
API description: ${base}/openapi.json (the key holder's: ${keyholderBase}/openapi.json)
`)

// wrangler's own launcher, without npx's layers of processes in between: signals reach it directly.
const wrangler = createRequire(import.meta.url).resolve('wrangler/bin/wrangler.js')
const children: ChildProcess[] = []
let exitCode: number | null = null
let stopping = false
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    stopping = true
    for (const child of children) child.kill(signal)
  })
}
// The key holder starts once the directory is ready: two wrangler dev sessions starting at the
// same moment can race for the same inspector port.
run(['dev', '--ip', HOST, '--port', String(port), '--test-scheduled'], '', () => {
  if (!stopping) run(['dev', '-c', 'keyholder/wrangler.toml', '--ip', HOST, '--port', String(keyholderPort)], '[keyholder] ')
})

/**
 * Runs wrangler with `args`, its output filtered and each line prefixed with `prefix`; calls
 * `ready` once it says it is ready. When it stops, so does every other, and once all have
 * stopped this process exits with the first one's code.
 */
function run(args: string[], prefix: string, ready?: () => void): ChildProcess {
  const child = spawn(process.execPath, [wrangler, ...args], {
    stdio: ['inherit', 'pipe', 'pipe'],
    env: {
      ...process.env,
      // Neither Worker reads `request.cf`; offline, fetching it only prints a warning and a stack.
      CLOUDFLARE_CF_FETCH_ENABLED: 'false',
      // Output goes through a pipe (to be filtered); keep wrangler's colours on a terminal.
      ...(process.stdout.isTTY && !process.env.NO_COLOR ? { FORCE_COLOR: process.env.FORCE_COLOR ?? '1' } : {}),
    },
  })
  for (const [from, to] of [
    [child.stdout!, process.stdout],
    [child.stderr!, process.stderr],
  ] as const) {
    const filter = createLineFilter((text) => {
      to.write(prefix && text.trim() ? prefix + text : text)
      if (ready && text.includes('Ready on http')) {
        ready()
        ready = undefined
      }
    })
    from.setEncoding('utf8')
    from.on('data', (chunk: string) => filter.push(chunk))
    from.on('end', () => filter.end())
  }
  children.push(child)
  // 'close', not 'exit': the filtered output must be drained first.
  child.on('close', (code, signal) => {
    exitCode ??= code ?? 128 + (signal ? constants.signals[signal] : 0)
    stopping = true
    for (const other of children) if (other.exitCode === null && other.signalCode === null) other.kill('SIGINT')
    if (children.every((c) => c.exitCode !== null || c.signalCode !== null)) process.exit(exitCode)
  })
  return child
}

/** The port in environment variable `name` (default `fallback`), or a usage error. */
function portFrom(name: string, fallback: string): number {
  const text = process.env[name] || fallback
  const value = Number(text)
  if (!/^\d+$/.test(text) || value < 1 || value > 65535) usageError(`${name}=${text} is not a port (1 to 65535)`)
  return value
}

/** Exits with the usage code (2) and one line on stderr, before anything is written or printed. */
function usageError(message: string): never {
  process.stderr.write(`npm start: ${message}\n`)
  process.exit(2)
}

/** The error code of listening on HOST:`port` (EADDRINUSE: another program holds it), or null if it is free. */
function listenProblem(port: number): Promise<string | null> {
  return new Promise((resolve) => {
    const probe = createServer()
    probe.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message))
    probe.listen(port, HOST, () => probe.close(() => resolve(null)))
  })
}
