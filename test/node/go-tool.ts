/**
 * Builds and runs test/go/tlogcheck, the Go reference verifier, offline against the x/mod source
 * Debian installs in GOPATH layout (override the root with TLOGCHECK_GOPATH).
 * @module
 */
import { spawn, spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url))
const GOPATH = process.env.TLOGCHECK_GOPATH ?? '/usr/share/gocode'
const REQUIRED_SOURCES = ['golang.org/x/mod/sumdb/tlog/tlog.go', 'golang.org/x/mod/sumdb/note/note.go']

/** Why tlogcheck cannot be built here, or null when it can. */
export function goUnavailableReason(): string | null {
  const version = spawnSync('go', ['version'], { encoding: 'utf8' })
  if (version.error || version.status !== 0) return '`go` is not on PATH'
  const missing = REQUIRED_SOURCES.filter((file) => !existsSync(join(GOPATH, 'src', file)))
  if (missing.length > 0) return `golang.org/x/mod source is missing under ${GOPATH}/src (apt install golang-golang-x-mod-dev)`
  return null
}

/** Whether `go` and the golang.org/x/mod source are both present. */
export function goAvailable(): boolean {
  return goUnavailableReason() === null
}

let built: Promise<string | null> | undefined

/** Builds tlogcheck once per process into a temp dir; the binary's path, or null without Go or x/mod. */
export function buildTlogCheck(): Promise<string | null> {
  built ??= (async () => {
    if (!goAvailable()) return null
    const dir = mkdtempSync(join(tmpdir(), 'tlogcheck-'))
    const bin = join(dir, 'tlogcheck')
    const env = {
      ...process.env,
      GO111MODULE: 'off',
      GOPATH,
      GOFLAGS: '',
      GOCACHE: join(dir, 'gocache'),
      CGO_ENABLED: '0',
    }
    const result = await run('go', ['build', '-o', bin, './test/go/tlogcheck'], { cwd: REPO_ROOT, env })
    if (result.code !== 0) throw new Error(`building tlogcheck failed (exit ${result.code}):\n${result.stderr}`)
    return bin
  })()
  return built
}

/** Runs tlogcheck with `args`, resolving with its exit code and output (never rejects on a non-zero exit). */
export function runTlogCheck(bin: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return run(bin, args, {})
}

function run(
  command: string,
  args: string[],
  options: { cwd?: string; env?: NodeJS.ProcessEnv },
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { ...options, stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk))
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk))
    child.on('error', reject)
    child.on('close', (code, signal) => resolve({ code: code ?? (signal ? 128 : 1), stdout, stderr }))
  })
}
