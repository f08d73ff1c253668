/**
 * The `whodis-mirror` program: runs {@link runCli} on the process's arguments and exits with its
 * code. SIGINT and SIGTERM stop following commands cleanly (the store lock is released).
 * Node cannot run TypeScript by itself: bin/whodis-mirror.js registers tsx and imports this file.
 * @module
 */
import { runCli } from './commands.ts'

const controller = new AbortController()
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => controller.abort())
const code = await runCli(process.argv.slice(2), { env: process.env, stdout: process.stdout, stderr: process.stderr, signal: controller.signal })
process.exit(code)
