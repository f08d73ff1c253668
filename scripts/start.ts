/**
 * `npm start`: runs the directory locally under miniflare (`wrangler dev`) with embedded KV,
 * R2 and Durable Objects, creating `.dev.vars` on first run and printing how to use it.
 * Port: WHODIS_PORT (default 8787). wrangler's output passes through {@link createLineFilter},
 * which redacts phone numbers from its request lines.
 */
import { spawn } from 'node:child_process'
import { createRequire } from 'node:module'
import { createServer } from 'node:net'
import { constants } from 'node:os'
import { devVarsProblem, ensureDevVars } from './dev-vars.ts'
import { createLineFilter } from './wrangler-output.ts'

const HOST = '127.0.0.1'
const portText = process.env.WHODIS_PORT || '8787'
const port = Number(portText)
if (!/^\d+$/.test(portText) || port < 1 || port > 65535) usageError(`WHODIS_PORT=${portText} is not a port (1 to 65535)`)
const problem = await listenProblem(port)
if (problem) {
  const why = problem === 'EADDRINUSE' ? `port ${port} on ${HOST} is already in use (another \`npm start\`?)` : `cannot listen on ${HOST}:${port} (${problem})`
  usageError(`${why}; set WHODIS_PORT to a free port, e.g. WHODIS_PORT=${port === 8790 ? 8791 : 8790} npm start`)
}

const base = `http://${HOST}:${port}`
const { vars, created } = await ensureDevVars()
// The Worker would answer every request 503 with this; say it now instead of starting.
const keyProblem = devVarsProblem(vars)
if (keyProblem) {
  console.error(`whodis: not starting: ${keyProblem}.\nFix LOG_SIGNING_KEY in .dev.vars, or LOG_ORIGIN in wrangler.toml [vars].`)
  process.exit(2)
}

console.log(`
whodis directory, local (miniflare): ${base}
${created ? 'Created .dev.vars with a new admin token, HMAC secret and log signing key.' : 'Using the existing .dev.vars.'}
Admin token: ${vars.ADMIN_TOKEN}
SMS provider: ${vars.SMS_PROVIDER ?? '(unset)'}${vars.SMS_PROVIDER === 'outbox' ? ` (codes appear at ${base}/dev/outbox)` : ''}

Next steps:
  export ADMIN=${vars.ADMIN_TOKEN}
  curl -s -X POST ${base}/v1/admin/apps -H "Authorization: Bearer $ADMIN" -H 'Content-Type: application/json' -d '{"id":"appa","name":"App A"}'
  curl -s -X POST ${base}/v1/verifications -H "Authorization: Bearer <appa token>" -H 'Content-Type: application/json' -d '{"phone":"+1 650 555 0011"}'
  curl -s "${base}/dev/outbox?phone=%2B16505550011" -H "Authorization: Bearer $ADMIN"
  curl -s -X POST ${base}/v1/verifications/<id>/check -H "Authorization: Bearer <appa token>" -H 'Content-Type: application/json' -d '{"code":"<code>"}'
  curl -s -X POST ${base}/v1/lookups -H "Authorization: Bearer <any app token>" -H 'Content-Type: application/json' -d '{"phones":["+16505550011"]}'
API description: ${base}/openapi.json
`)

// wrangler's own launcher, without npx's layers of processes in between: signals reach it directly.
const wrangler = createRequire(import.meta.url).resolve('wrangler/bin/wrangler.js')
const child = spawn(process.execPath, [wrangler, 'dev', '--ip', HOST, '--port', String(port), '--test-scheduled'], {
  stdio: ['inherit', 'pipe', 'pipe'],
  env: {
    ...process.env,
    // The directory never reads `request.cf`; offline, fetching it only prints a warning and a stack.
    CLOUDFLARE_CF_FETCH_ENABLED: 'false',
    // Output goes through a pipe (to be filtered); keep wrangler's colours on a terminal.
    ...(process.stdout.isTTY && !process.env.NO_COLOR ? { FORCE_COLOR: process.env.FORCE_COLOR ?? '1' } : {}),
  },
})
for (const [from, to] of [
  [child.stdout, process.stdout],
  [child.stderr, process.stderr],
] as const) {
  const filter = createLineFilter((text) => to.write(text))
  from.setEncoding('utf8')
  from.on('data', (chunk: string) => filter.push(chunk))
  from.on('end', () => filter.end())
}
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => child.kill(signal))
// 'close', not 'exit': the filtered output must be drained first.
child.on('close', (code, signal) => process.exit(code ?? 128 + (signal ? constants.signals[signal] : 0)))

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
