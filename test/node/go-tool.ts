/**
 * Builds and runs test/go/tlogcheck, the Go reference verifier, offline against the x/mod source
 * Debian installs in GOPATH layout (override the root with TLOGCHECK_GOPATH).
 * @module
 */
import { spawn, spawnSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, renameSync, rmSync } from 'node:fs'
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

/**
 * Builds tlogcheck (once per process; reused across runs while its source, Go and x/mod are
 * unchanged) under the OS temp dir; the binary's path, or null without Go or x/mod.
 */
export function buildTlogCheck(): Promise<string | null> {
  return buildGoProgram('tlogcheck')
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

const builtPrograms = new Map<string, Promise<string | null>>()

/**
 * Builds the Go program in test/go/<name> offline (GOPATH mode, once per process, cached under
 * the OS temp dir by its sources, Go and x/mod); the binary's path, or null without Go or x/mod.
 */
export function buildGoProgram(name: string): Promise<string | null> {
  let build = builtPrograms.get(name)
  if (!build) {
    build = (async () => {
      if (!goAvailable()) return null
      const root = join(tmpdir(), `whodis-go-${name}`)
      const home = join(root, programBuildKey(name))
      const bin = join(home, name)
      if (existsSync(bin)) return bin
      mkdirSync(root, { recursive: true })
      const staging = mkdtempSync(join(root, 'build-'))
      const env = { ...process.env, GO111MODULE: 'off', GOPATH, GOFLAGS: '', GOCACHE: join(root, 'gocache'), CGO_ENABLED: '0' }
      const result = await run('go', ['build', '-o', join(staging, name), `./test/go/${name}`], { cwd: REPO_ROOT, env })
      if (result.code !== 0) {
        rmSync(staging, { recursive: true, force: true })
        throw new Error(`building ${name} failed (exit ${result.code}):\n${result.stderr}`)
      }
      try {
        renameSync(staging, home)
      } catch (error) {
        // Another process finished the same build first; use its binary.
        rmSync(staging, { recursive: true, force: true })
        if (!existsSync(bin)) throw error
      }
      return bin
    })()
    builtPrograms.set(name, build)
  }
  return build
}

// Names a build of test/go/<name> by its Go files, the Go version and the x/mod files.
function programBuildKey(name: string): string {
  const hash = createHash('sha256')
  const dir = join(REPO_ROOT, 'test/go', name)
  for (const file of readdirSync(dir).filter((f) => f.endsWith('.go')).sort()) {
    hash.update(file)
    hash.update(readFileSync(join(dir, file)))
  }
  hash.update(spawnSync('go', ['version'], { encoding: 'utf8' }).stdout)
  for (const sub of ['golang.org/x/mod/sumdb/note', 'golang.org/x/mod/sumdb/tlog']) {
    for (const file of readdirSync(join(GOPATH, 'src', sub)).sort()) hash.update(readFileSync(join(GOPATH, 'src', sub, file)))
  }
  return hash.digest('hex').slice(0, 16)
}
