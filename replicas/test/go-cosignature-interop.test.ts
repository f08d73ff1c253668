/**
 * cosignature/v1 against a second implementation in Go (fixtures/cosigcheck: crypto/ed25519 and
 * golang.org/x/mod/sumdb/note, written from the spec): the same vkeys, the same cosignature
 * lines byte for byte (Ed25519 is deterministic), each side verifying the other's, and the
 * witness's answers opening in Go. Needs `go` and Debian's golang-golang-x-mod-dev; without
 * them the suite is skipped locally and fails in CI.
 */
import { execFileSync, spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { toHex } from '../../src/protocol/bytes.ts'
import { signCheckpoint, type Checkpoint } from '../../src/protocol/checkpoint.ts'
import {
  addCosignatures,
  cosign,
  cosignatureSignerFromKey,
  cosignatureVerifierKeyOf,
  formatAddCheckpointRequest,
  formatCosignatureSignerKey,
  verifyCosignatures,
} from '../../src/protocol/cosignature.ts'
import { signerFromSeed } from '../../src/protocol/ed25519.ts'
import { parseCosignatureVerifierKey, parseVerifierKey } from '../../src/protocol/note-keys.ts'
import { Witness } from '../src/witness.ts'
import { buildLog } from './fixtures/fake-log.ts'
import { tempDir } from './fixtures/helpers.ts'

const REPO = fileURLToPath(new URL('../..', import.meta.url))
const GOPATH = '/usr/share/gocode'
const X_MOD_NOTE = join(GOPATH, 'src/golang.org/x/mod/sumdb/note/note.go')

function missingTools(): string | null {
  if (spawnSync('go', ['version']).status !== 0) return '`go` is not on PATH'
  if (!existsSync(X_MOD_NOTE)) return `${X_MOD_NOTE} is missing (apt-get install golang-golang-x-mod-dev)`
  return null
}
const missing = missingTools()

if (missing && process.env.CI) {
  describe('Go cosignature interop', () => {
    it('has Go and golang.org/x/mod installed (required in CI)', () => {
      throw new Error(`cannot run the Go cosignature interop tests: ${missing}`)
    })
  })
}

type GoRequest =
  | { mode: 'vkey'; name: string; seed: string }
  | { mode: 'cosign'; name: string; seed: string; time: number; note: string }
  | { mode: 'verify'; key: string; note: string }
type GoResult = { ok: boolean; out: string; error?: string }

const TIME = 1_700_000_123
const now = () => (TIME + 10) * 1000

async function witnessFromSeed(name: string, seedByte: number) {
  const seed = new Uint8Array(32).fill(seedByte)
  const signer = await cosignatureSignerFromKey(formatCosignatureSignerKey(name, seed, (await signerFromSeed(seed)).publicKey))
  return { signer, seedHex: toHex(seed), vkey: cosignatureVerifierKeyOf(signer) }
}

describe.skipIf(missing !== null)(`Go cosignature interop${missing ? ` (skipped: ${missing})` : ''}`, () => {
  let dir = ''
  let binary = ''
  const go = (requests: GoRequest[]): GoResult[] => JSON.parse(execFileSync(binary, [], { input: JSON.stringify(requests), encoding: 'utf8' })) as GoResult[]

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'whodis-cosigcheck-'))
    binary = join(dir, 'cosigcheck')
    const env = { ...process.env, GO111MODULE: 'off', GOPATH, GOFLAGS: '', GOCACHE: join(dir, 'cache') }
    execFileSync('go', ['build', '-o', binary, './replicas/test/fixtures/cosigcheck'], { cwd: REPO, env, stdio: 'pipe' })
  }, 120_000)
  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true })
  })

  it('derives the same witness vkeys (key id over name, newline, 0x04, key)', async () => {
    const witnesses = await Promise.all([witnessFromSeed('witness.example/w1', 1), witnessFromSeed('sigsum.org/v1/witness/x', 2), witnessFromSeed('名前.example', 3)])
    expect(go(witnesses.map((w) => ({ mode: 'vkey', name: w.signer.name, seed: w.seedHex }))).map((r) => r.out)).toEqual(witnesses.map((w) => w.vkey))
  })

  it('writes the same cosignature lines byte for byte, and each side verifies the other', async () => {
    const log = await buildLog(40, { seed: 81 })
    const w = await witnessFromSeed('witness.example/w1', 4)
    const checkpoints: Checkpoint[] = [
      { origin: log.origin, size: 40, rootHash: log.rootAt(40), extensions: [] },
      { origin: log.origin, size: 0, rootHash: log.rootAt(0), extensions: [] },
      { origin: log.origin, size: 17, rootHash: log.rootAt(17), extensions: ['state abc=', 'second extension'] },
    ]
    const notes = await Promise.all(checkpoints.map((c) => signCheckpoint(c, log.signer)))
    const ours = await Promise.all(notes.map((note) => cosign(note, w.signer, TIME)))
    const theirs = go(notes.map((note) => ({ mode: 'cosign', name: w.signer.name, seed: w.seedHex, time: TIME, note })))
    expect(theirs.map((r) => r.out)).toEqual(ours)
    const verified = go(notes.map((note, i) => ({ mode: 'verify', key: w.vkey, note: addCosignatures(note, ours[i]!) })))
    expect(verified).toEqual(notes.map(() => ({ ok: true, out: String(TIME) })))
    for (const [i, note] of notes.entries()) {
      const check = await verifyCosignatures(addCosignatures(note, theirs[i]!.out), [parseCosignatureVerifierKey(w.vkey)], { threshold: 1, now })
      expect(check.cosigners.map((c) => [c.timestamp, c.coversExtensions])).toEqual([[TIME, true]])
    }
  })

  it('both refuse a cosignature moved to another tree', async () => {
    const log = await buildLog(30, { seed: 82 })
    const w = await witnessFromSeed('witness.example/w1', 5)
    const line = await cosign(await log.checkpoint(30), w.signer, TIME)
    const moved = addCosignatures(await log.checkpoint(29), line)
    const [goAnswer] = go([{ mode: 'verify', key: w.vkey, note: moved }])
    expect(goAnswer!.ok).toBe(false)
    expect(goAnswer!.error).toMatch(/invalid signature/)
    await expect(verifyCosignatures(moved, [parseCosignatureVerifierKey(w.vkey)], { threshold: 1, now })).rejects.toMatchObject({ code: 'bad_cosignature' })
  })

  it("the witness's add-checkpoint answer opens in Go", async () => {
    const log = await buildLog(25, { seed: 83 })
    const w = await witnessFromSeed('witness.example/w1', 6)
    const witness = await Witness.open({ logKeys: [parseVerifierKey(log.logKey)], signer: w.signer, stateDir: tempDir('whodis-witness-go-'), now: () => TIME * 1000 })
    try {
      const answer = await witness.addCheckpoint(formatAddCheckpointRequest(0, [], await log.checkpoint()))
      expect(answer.status).toBe(200)
      expect(go([{ mode: 'verify', key: w.vkey, note: addCosignatures(await log.checkpoint(), answer.body) }])).toEqual([{ ok: true, out: String(TIME) }])
    } finally {
      await witness.close()
    }
  })
})
