/**
 * Interop with Go's reference golang.org/x/mod/sumdb/note (test/go/notecheck): notes and
 * checkpoints we sign open in Go, Go's notes open here and match ours byte for byte, and both
 * sides accept and reject the same notes. Needs `go` and Debian's golang-golang-x-mod-dev;
 * without them the suite is skipped locally and fails in CI.
 */
import { execFileSync, spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import fc from 'fast-check'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { fromBase64, toBase64 } from '../../src/protocol/bytes.ts'
import { signerFromSeed } from '../../src/protocol/ed25519.ts'
import { formatCheckpoint, openCheckpoint, signCheckpoint } from '../../src/protocol/checkpoint.ts'
import { noteSignerFromKey, openNote, signNote, verifierKeyOf, type NoteSigner } from '../../src/protocol/note.ts'
import { formatSignerKey, parseVerifierKey } from '../../src/protocol/note-keys.ts'

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
  describe('Go note interop', () => {
    it('has Go and golang.org/x/mod installed (required in CI)', () => {
      throw new Error(`cannot run the Go interop tests: ${missing}`)
    })
  })
}

// From golang.org/x/mod/sumdb/note/note_test.go.
const PETER_SIGNER = 'PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz'
const PETER_VERIFIER = 'PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW'
const TEXT = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n"
const PETER_SIG =
  '— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n'
const ENOCH_SIG =
  '— EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ=\n'

type GoRequest = { mode: 'sign'; key: string; text: string } | { mode: 'verify'; key: string; note: string }
type GoResult = { ok: boolean; out: string; error?: string }

/** Texts that exercise the note syntax: blank lines, em-dash lines, non-ASCII, DEL and C1 controls. */
const TEXTS = [
  TEXT,
  '\n',
  'a\n\nb\n\n',
  `x\n\n${PETER_SIG}`,
  '— not a signature\n',
  '\uFEFFbom\n',
  'del \x7f and c1 \u0085\u009f\n',
  'emoji 😀 and 名前\n',
  'whodis.example/log\n0\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n',
]

async function signerNamed(name: string, seedByte: number): Promise<{ key: string; signer: NoteSigner }> {
  const seed = new Uint8Array(32).fill(seedByte)
  const key = formatSignerKey(name, seed, (await signerFromSeed(seed)).publicKey)
  return { key, signer: await noteSignerFromKey(key) }
}

async function tsOpens(note: string, verifierKey: string): Promise<GoResult> {
  try {
    return { ok: true, out: (await openNote(note, [parseVerifierKey(verifierKey)])).text }
  } catch (e) {
    return { ok: false, out: '', error: (e as Error).message }
  }
}

describe.skipIf(missing !== null)(`Go note interop${missing ? ` (skipped: ${missing})` : ''}`, () => {
  let dir = ''
  let binary = ''

  /** Runs a batch of requests through one notecheck process. */
  function go(requests: GoRequest[]): GoResult[] {
    return JSON.parse(execFileSync(binary, [], { input: JSON.stringify(requests), encoding: 'utf8' })) as GoResult[]
  }

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'whodis-notecheck-'))
    binary = join(dir, 'notecheck')
    const env = { ...process.env, GO111MODULE: 'off', GOPATH, GOFLAGS: '', GOCACHE: join(dir, 'cache') }
    execFileSync('go', ['build', '-o', binary, './test/go/notecheck'], { cwd: REPO, env, stdio: 'pipe' })
  })
  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true })
  })

  it('reproduces the Go vector through the Go binary (single-request mode)', () => {
    const out = execFileSync(binary, [JSON.stringify({ mode: 'sign', key: PETER_SIGNER, text: TEXT })], { encoding: 'utf8' })
    expect(out).toBe(`${TEXT}\n${PETER_SIG}`)
    const bad = spawnSync(binary, [], { input: JSON.stringify({ mode: 'verify', key: PETER_VERIFIER, note: TEXT }) })
    expect(bad.status).toBe(1)
    expect(bad.stderr.toString()).toContain('malformed note')
  })

  it('opens our notes in Go', async () => {
    const { key, signer } = await signerNamed('whodis.example/log', 1)
    const verifier = verifierKeyOf(signer)
    const notes = await Promise.all(TEXTS.map((text) => signNote(text, signer)))
    const results = go(notes.map((note) => ({ mode: 'verify', key: verifier, note })))
    expect(results).toEqual(TEXTS.map((text) => ({ ok: true, out: text })))
    // And Go signs the very same bytes: Ed25519 is deterministic.
    expect(go(TEXTS.map((text) => ({ mode: 'sign', key, text }))).map((r) => r.out)).toEqual(notes)
  })

  it('opens our checkpoints in Go, with a cosignature Go does not know', async () => {
    const { signer } = await signerNamed('whodis.example/log', 1)
    const { signer: witness } = await signerNamed('witness.example', 2)
    const checkpoint = { origin: 'whodis.example/log', size: 7, rootHash: new Uint8Array(32).fill(5), extensions: [] }
    const notes = [
      await signCheckpoint(checkpoint, signer),
      await signNote(formatCheckpoint(checkpoint), witness, signer),
    ]
    const results = go(notes.map((note) => ({ mode: 'verify', key: verifierKeyOf(signer), note })))
    expect(results).toEqual(notes.map(() => ({ ok: true, out: formatCheckpoint(checkpoint) })))
  })

  it("opens Go's notes here, byte-identical to ours for random texts", async () => {
    const { key, signer } = await signerNamed('example.com/fuzz', 3)
    const verifier = parseVerifierKey(verifierKeyOf(signer))
    const line = fc.string({ unit: 'binary', maxLength: 30 }).map((s) => s.replace(/[\x00-\x1f]/g, ''))
    const texts = fc.sample(fc.array(line, { minLength: 1, maxLength: 5 }).map((l) => l.join('\n') + '\n'), 200)
    const results = go(texts.map((text) => ({ mode: 'sign', key, text })))
    for (const [i, text] of texts.entries()) {
      expect(results[i]!.ok).toBe(true)
      expect(results[i]!.out).toBe(await signNote(text, signer))
      expect((await openNote(results[i]!.out, [verifier])).text).toBe(text)
    }
    const checkpoint = { origin: 'example.com/fuzz', size: 12345, rootHash: new Uint8Array(32).fill(9), extensions: [] }
    const [goCheckpoint] = go([{ mode: 'sign', key, text: formatCheckpoint(checkpoint) }])
    expect(await openCheckpoint(goCheckpoint!.out, verifier)).toEqual(checkpoint)
  })

  it('rejects tampered notes on both sides', async () => {
    const { signer } = await signerNamed('whodis.example/log', 1)
    const { signer: other } = await signerNamed('whodis.example/log', 4)
    const verifier = verifierKeyOf(signer)
    const note = await signNote(TEXT, signer)
    const sigStart = note.lastIndexOf(' ') + 1
    const raw = fromBase64(note.slice(sigStart, -1))
    raw[20]! ^= 1
    const tampered = [
      note.replace('problem,', 'problem;'),
      note.slice(0, sigStart) + toBase64(raw) + '\n',
      await signNote(TEXT, other),
      note.replace('— whodis.example/log', '— whodis.example/logs'),
    ]
    const goResults = go(tampered.map((n) => ({ mode: 'verify', key: verifier, note: n })))
    for (const [i, n] of tampered.entries()) {
      expect(goResults[i]!.ok, n).toBe(false)
      expect((await tsOpens(n, verifier)).ok, n).toBe(false)
    }
  })

  it('accepts and rejects the same notes as Go (differential fuzz)', async () => {
    const goodLines = [PETER_SIG, ENOCH_SIG, PETER_SIG.replace('PeterNeumann', 'Peter\u200bNeumann')]
    const fragments = [
      TEXT,
      '\n',
      '\n\n',
      PETER_SIG.slice(0, -1),
      PETER_SIG.replace('x08go', 'x08go_'),
      PETER_SIG.replace('AM=', 'AM'),
      PETER_SIG.replace('AM=', 'AN='), // non-zero padding bits: Go's StdEncoding accepts them
      PETER_SIG.replace('— ', '—  '),
      PETER_SIG.replace('PeterNeumann', 'Peter\u0085Neumann'),
      ENOCH_SIG.replace('EnochRoot', 'Enoch+Root'),
      '— ',
      'PeterNeumann ',
      ' ',
      'x',
      '\r',
      '\t',
      '=',
      '\u2014',
    ]
    // Half start as a well-formed text and blank line, and most pieces are whole signature
    // lines, so that many candidates are valid notes and the rest fail in varied ways.
    const piece = fc.oneof(
      { arbitrary: fc.constantFrom(...goodLines), weight: 4 },
      { arbitrary: fc.constantFrom(...fragments), weight: 1 },
    )
    const candidate = fc
      .tuple(fc.boolean(), fc.array(piece, { minLength: 1, maxLength: 5 }))
      .map(([head, parts]) => (head ? `${TEXT}\n` : '') + parts.join(''))
    const notes = [...new Set(fc.sample(candidate, 1000))]
    const goResults = go(notes.map((note) => ({ mode: 'verify', key: PETER_VERIFIER, note })))
    let accepted = 0
    for (const [i, note] of notes.entries()) {
      const ours = await tsOpens(note, PETER_VERIFIER)
      expect({ note, ok: ours.ok, text: ours.out }).toEqual({ note, ok: goResults[i]!.ok, text: goResults[i]!.out })
      if (ours.ok) accepted++
    }
    expect(accepted).toBeGreaterThan(50)
    expect(notes.length - accepted).toBeGreaterThan(50)
  })
})
