/**
 * `npm start`: runs the directory locally under miniflare (`wrangler dev`) with embedded KV,
 * R2 and Durable Objects, creating `.dev.vars` on first run and printing how to use it.
 * Port: WHODIS_PORT (default 8787).
 */
import { spawn } from 'node:child_process'
import { devVarsProblem, ensureDevVars } from './dev-vars.ts'

const port = process.env.WHODIS_PORT ?? '8787'
const base = `http://127.0.0.1:${port}`
const { vars, created } = await ensureDevVars()
// The Worker would answer every request 503 with this; say it now instead of starting.
const problem = devVarsProblem(vars)
if (problem) {
  console.error(`whodis: not starting: ${problem}.\nFix LOG_SIGNING_KEY in .dev.vars, or LOG_ORIGIN in wrangler.toml [vars].`)
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
  curl -s ${base}/v1/numbers/+16505550011 -H "Authorization: Bearer <any app token>"
API description: ${base}/openapi.json
`)

const child = spawn('npx', ['wrangler', 'dev', '--ip', '127.0.0.1', '--port', port, '--test-scheduled'], {
  stdio: 'inherit',
})
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => child.kill(signal))
child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)))
