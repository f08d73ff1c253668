/**
 * Global setup of the Node tests: rebuilds dist/ (the SDK, `whodis/client`, which those tests
 * import by name) when any of its sources is newer than the build, so that they never test a
 * stale SDK. `npm install` builds it too (package.json's `dependencies` script).
 * @module
 */
import { execFileSync } from 'node:child_process'
import { existsSync, readdirSync, statSync } from 'node:fs'
import { createRequire } from 'node:module'
import { join } from 'node:path'

const ROOT = join(import.meta.dirname, '..')
const BUILT = join(ROOT, 'dist', 'client', 'index.js')

function newest(dir: string): number {
  return Math.max(
    0,
    ...readdirSync(dir, { withFileTypes: true }).map((e) => (e.isDirectory() ? newest(join(dir, e.name)) : statSync(join(dir, e.name)).mtimeMs)),
  )
}

export default function buildClient(): void {
  const sources = Math.max(newest(join(ROOT, 'src', 'client')), newest(join(ROOT, 'src', 'protocol')), statSync(join(ROOT, 'tsconfig.client.json')).mtimeMs)
  if (existsSync(BUILT) && statSync(BUILT).mtimeMs >= sources) return
  const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc')
  execFileSync(process.execPath, [tsc, '-p', 'tsconfig.client.json'], { cwd: ROOT, stdio: 'inherit' })
}
