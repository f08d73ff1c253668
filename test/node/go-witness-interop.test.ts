/**
 * Interop with a C2SP tlog-witness written in Go from the specifications alone
 * (test/go/witness, cosigning with tlog-cosignature/v1) and a cosignature checker written the same
 * way (test/go/cosigcheck): checkpoints our protocol code signs, with consistency proofs our
 * merkle code computes, are cosigned; every attack the tlog-witness protocol names is refused
 * with its status code; the witness's state survives a kill. Needs `go` and Debian's
 * golang-golang-x-mod-dev; without them the suite is skipped locally and fails in CI.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { fromBase64, toBase64, toHex } from '../../src/protocol/bytes.ts'
import { signCheckpoint } from '../../src/protocol/checkpoint.ts'
import { signerFromSeed } from '../../src/protocol/ed25519.ts'
import { type Hash, type HashReader, EMPTY_ROOT, proveTree, storedHashes, treeHash } from '../../src/protocol/merkle.ts'
import { type NoteSigner, noteSignerFromKey, signNote, verifierKeyOf } from '../../src/protocol/note.ts'
import { formatSignerKey, formatVerifierKey, parseCosignatureVerifierKey } from '../../src/protocol/note-keys.ts'
import { sha256 } from '@noble/hashes/sha2.js'
import { type Tile, proveTreeFromTiles, readTileData, tilePath } from '../../src/protocol/tiles.ts'
import { type RunningDirectory, client, startDirectory } from './directory.ts'
import { buildGoProgram, goUnavailableReason } from './go-tool.ts'

const unavailable = goUnavailableReason()
const ORIGIN = 'whodis.test/log'
const FRESH = 'whodis.test/fresh'
const WITNESS = 'witness.test/go'
const WITNESS_SEED = toHex(new Uint8Array(32).fill(7))

/** An in-memory log: entries, Go tlog's stored hashes, checkpoints signed by its key. */
class TestLog {
  readonly entries: Uint8Array[] = []
  readonly stored: Hash[] = []
  readonly read: HashReader = (indexes) => indexes.map((i) => this.stored[i]!)
  size = 0
  constructor(readonly signer: NoteSigner) {}

  append(count: number, entry: (n: number) => Uint8Array = () => crypto.getRandomValues(new Uint8Array(24))) {
    for (let i = 0; i < count; i++) {
      const data = entry(this.size)
      this.entries.push(data)
      this.stored.push(...storedHashes(this.size++, data, this.read))
    }
  }
  /** Another log under the same key that shares this one's first `size` entries. */
  fork(size: number): TestLog {
    const other = new TestLog(this.signer)
    const kept = this.entries.slice(0, size)
    other.append(size, (n) => kept[n]!)
    return other
  }
  root(size = this.size): Hash {
    return treeHash(size, this.read)
  }
  proof(from: number, to = this.size): Hash[] {
    return from === 0 ? [] : proveTree(to, from, this.read)
  }
  checkpoint(size = this.size, signer = this.signer, root = this.root(size)): Promise<string> {
    return signCheckpoint({ origin: signer.name, size, rootHash: root, extensions: [] }, signer)
  }
}

async function noteSigner(name: string, seedByte: number): Promise<NoteSigner> {
  const seed = new Uint8Array(32).fill(seedByte)
  return noteSignerFromKey(formatSignerKey(name, seed, (await signerFromSeed(seed)).publicKey))
}

/** A running Go witness. */
interface Witness {
  url: string
  vkey: string
  child: ChildProcess
  stderr: () => string
}

let witnessBin = ''
let cosigcheckBin = ''
const running = new Set<ChildProcess>()

/** Starts the Go witness and waits for its banner line. */
function startWitness(state: string, logKeys: string[], options: { name?: string; seed?: string } = {}): Promise<Witness> {
  const args = ['-addr', '127.0.0.1:0', '-key-seed', options.seed ?? WITNESS_SEED, '-name', options.name ?? WITNESS, '-state', state]
  for (const key of logKeys) args.push('-log-vkey', key)
  const child = spawn(witnessBin, args, { stdio: ['ignore', 'pipe', 'pipe'] })
  running.add(child)
  child.on('exit', () => running.delete(child))
  let stderr = ''
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk))
  return new Promise((resolve, reject) => {
    child.on('error', reject)
    child.on('exit', (code) => reject(new Error(`witness exited (${code}) before listening:\n${stderr}`)))
    createInterface({ input: child.stdout! }).once('line', (line) => {
      const banner = JSON.parse(line) as { addr: string; vkey: string }
      resolve({ url: `http://${banner.addr}`, vkey: banner.vkey, child, stderr: () => stderr })
    })
  })
}

/** Kills a witness with SIGKILL (no chance to flush anything) and waits for it to be gone. */
function kill(witness: Pick<Witness, 'child'>): Promise<void> {
  const { child } = witness
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve()
    child.once('exit', () => resolve())
    child.kill('SIGKILL')
  })
}

/** The add-checkpoint body: old size line, proof lines, blank line, checkpoint. */
function body(old: number | string, proof: readonly Hash[], checkpoint: string): string {
  return `old ${old}\n${proof.map((h) => `${toBase64(h)}\n`).join('')}\n${checkpoint}`
}

async function submit(witness: Witness, text: string): Promise<{ status: number; type: string | null; text: string }> {
  const res = await fetch(`${witness.url}/add-checkpoint`, { method: 'POST', body: text })
  return { status: res.status, type: res.headers.get('content-type'), text: await res.text() }
}

function cosigcheck(note: string, logVkey: string, witnessVkeys: string[], threshold: number, extra: string[] = []) {
  const args = ['-log-vkey', logVkey, '-threshold', String(threshold), ...witnessVkeys.flatMap((k) => ['-witness-vkey', k]), ...extra]
  return new Promise<{ code: number; stdout: string; stderr: string }>((resolve, reject) => {
    const child = spawn(cosigcheckBin, args, { stdio: ['pipe', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c))
    child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c))
    child.on('error', reject)
    child.on('close', (code) => resolve({ code: code ?? 1, stdout, stderr }))
    child.stdin.end(note)
  })
}

/** Flips one bit of the base64 field of the note's signature line `index` (counting from 0). */
function spoilSignature(note: string, index = 0): string {
  const lines = note.split('\n')
  const at = lines.findIndex((l) => l.startsWith('\u2014 ')) + index
  const [dash, name, b64] = lines[at]!.split(' ') as [string, string, string]
  const bytes = fromBase64(b64)
  bytes[bytes.length - 1]! ^= 1
  lines[at] = `${dash} ${name} ${toBase64(bytes)}`
  return lines.join('\n')
}

it.skipIf(unavailable === null || !process.env.CI)('has Go and golang.org/x/mod, which CI requires', () => {
  expect.fail(`Go witness interop cannot run in CI: ${unavailable}`)
})

describe.skipIf(unavailable !== null)(`Go tlog-witness cosigns our log${unavailable ? ` (skipped: ${unavailable})` : ''}`, { timeout: 60_000 }, () => {
  let dir = ''
  let log: TestLog
  let fresh: TestLog
  let witness: Witness
  let state = ''
  /** The latest checkpoint the witness cosigned, with its cosignature line appended. */
  let cosigned = ''

  beforeAll(async () => {
    ;[witnessBin, cosigcheckBin] = (await Promise.all([buildGoProgram('witness'), buildGoProgram('cosigcheck')])) as [string, string]
    dir = mkdtempSync(join(tmpdir(), 'whodis-go-witness-'))
    state = join(dir, 'state.json')
    log = new TestLog(await noteSigner(ORIGIN, 1))
    fresh = new TestLog(await noteSigner(FRESH, 2))
    witness = await startWitness(state, [verifierKeyOf(log.signer), verifierKeyOf(fresh.signer)])
  }, 120_000)
  afterAll(async () => {
    await Promise.all([...running].map((child) => kill({ child })))
    if (dir) rmSync(dir, { recursive: true, force: true })
  })

  /** Submits the log at its current size from `old` with our proof and expects a cosignature. */
  async function advance(old: number) {
    const checkpoint = await log.checkpoint()
    const res = await submit(witness, body(old, log.proof(old), checkpoint))
    expect(res, witness.stderr()).toMatchObject({ status: 200 })
    expect(res.text).toMatch(new RegExp(`^\u2014 ${WITNESS} [A-Za-z0-9+/]{102}==\n$`))
    cosigned = checkpoint + res.text
    const check = await cosigcheck(cosigned, verifierKeyOf(log.signer), [witness.vkey], 1)
    expect(check.stderr).toBe('')
    expect(check.stdout).toBe(`ok: ${ORIGIN} size ${log.size} cosigned by 1 of 1 required witnesses (${WITNESS})\n`)
    expect(check.code).toBe(0)
  }

  it('cosigns the empty tree, then each growth of the log with our consistency proof', async () => {
    expect(toBase64(log.root(0))).toBe('47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=')
    await advance(0)
    // Proof shapes: old size a power of two (its root omitted), odd sizes, tile boundaries, big jumps.
    for (const grow of [1, 1, 1, 1, 3, 1, 247, 1, 1, 443, 300, 1, 2048]) {
      const old = log.size
      log.append(grow)
      await advance(old)
    }
    expect(log.size).toBe(3049)
  })

  it('re-cosigns the size it already holds, with the same root and no proof', async () => {
    await advance(log.size)
  })

  it('serves the latest cosigned checkpoint to monitors at /<sha256(origin)>/checkpoint', async () => {
    const res = await fetch(`${witness.url}/${toHex(sha256(new TextEncoder().encode(ORIGIN)))}/checkpoint`)
    expect(res.status).toBe(200)
    const served = await res.text()
    expect(served.startsWith(await log.checkpoint())).toBe(true)
    expect((await cosigcheck(served, verifierKeyOf(log.signer), [witness.vkey], 1)).code).toBe(0)
    expect((await fetch(`${witness.url}/${toHex(sha256(new TextEncoder().encode(FRESH)))}/checkpoint`)).status).toBe(404)
  })

  it('refuses a checkpoint signed by another key for the origin: 403', async () => {
    log.append(5)
    const impostor = await noteSigner(ORIGIN, 66)
    const res = await submit(witness, body(log.size - 5, log.proof(log.size - 5), await log.checkpoint(log.size, impostor)))
    expect(res.status).toBe(403)
    expect(res.text).toMatch(/no signature from a trusted key/)
  })

  it('refuses a signature line with the trusted name and key ID that does not verify: 403', async () => {
    const res = await submit(witness, body(log.size - 5, log.proof(log.size - 5), spoilSignature(await log.checkpoint())))
    expect(res.status).toBe(403)
    expect(res.text).toMatch(/does not verify/)
  })

  it('ignores unknown signatures next to the trusted one', async () => {
    const other = await noteSigner('someone.else/key', 9)
    const checkpoint = (await log.checkpoint()) + (await signCheckpoint({ origin: ORIGIN, size: log.size, rootHash: log.root(), extensions: [] }, other)).split('\n\n')[1]!
    const res = await submit(witness, body(log.size - 5, log.proof(log.size - 5), checkpoint))
    expect(res.status).toBe(200)
  })

  it('refuses an unknown origin: 404', async () => {
    const stranger = new TestLog(await noteSigner('stranger.test/log', 3))
    stranger.append(3)
    const res = await submit(witness, body(0, [], await stranger.checkpoint()))
    expect(res.status).toBe(404)
  })

  it('answers a stale old size with 409 and the size it holds, as text/x.tlog.size', async () => {
    const held = log.size
    log.append(10)
    for (const old of [0, held - 1, held + 1]) {
      const res = await submit(witness, body(old, log.proof(old), await log.checkpoint()))
      expect(res).toEqual({ status: 409, type: 'text/x.tlog.size', text: `${held}\n` })
    }
    await advance(held)
  })

  it('refuses an old size above the checkpoint size: 400', async () => {
    const res = await submit(witness, body(log.size + 1, [], await log.checkpoint()))
    expect(res.status).toBe(400)
  })

  it('refuses a consistency proof that does not verify: 422', async () => {
    const held = log.size
    log.append(37)
    const proof = log.proof(held)
    const spoiled = proof.map((h, i) => (i === 1 ? h.map((b, j) => (j === 0 ? b ^ 1 : b)) : h))
    const wrongPair = log.proof(held - 1)
    for (const bad of [spoiled, proof.slice(1), [...proof, proof[0]!], wrongPair, []]) {
      const res = await submit(witness, body(held, bad, await log.checkpoint()))
      expect(res.status).toBe(422)
    }
    await advance(held)
  })

  it('refuses a split view: the same size with another root, signed by the log: 422', async () => {
    const res = await submit(witness, body(log.size, [], await log.checkpoint(log.size, log.signer, sha256(new Uint8Array([1])))))
    expect(res.status).toBe(422)
    expect(res.text).toMatch(/another root/)
  })

  it('refuses a fork that shares a prefix, even with the fork\'s own valid proof: 422', async () => {
    const held = log.size
    const fork = log.fork(held - 100)
    fork.append(108)
    expect(toHex(fork.root(held - 100))).toBe(toHex(log.root(held - 100)))
    const res = await submit(witness, body(held, fork.proof(held), await fork.checkpoint()))
    expect(res.status).toBe(422)
    expect(res.text).toMatch(/consistency proof from \d+ to \d+ does not verify/)
  })

  it('cosigns only one of concurrent submissions from the same old size; the others get 409', async () => {
    const held = log.size
    log.append(40)
    const grows = [1, 2, 3, 5, 8, 10, 13, 20, 25, 30, 35, 40]
    const requests = await Promise.all(grows.map(async (k) => body(held, log.proof(held, held + k), await log.checkpoint(held + k))))
    const results = await Promise.all(requests.map((r) => submit(witness, r)))
    const won = results.filter((r) => r.status === 200)
    expect(won).toHaveLength(1)
    const winner = held + grows[results.indexOf(won[0]!)]!
    for (const r of results.filter((r) => r.status !== 200)) expect(r).toEqual({ status: 409, type: 'text/x.tlog.size', text: `${winner}\n` })
    if (winner !== log.size) await advance(winner)
  })

  it('refuses malformed requests: 400', async () => {
    const checkpoint = await log.checkpoint()
    const root = toBase64(log.root())
    const signed = (text: string) => signNote(text, log.signer)
    const cases: [string, RegExp][] = [
      [`old 0${log.size}\n\n${checkpoint}`, /old size: .* is not a canonical decimal/],
      [`old -1\n\n${checkpoint}`, /old size: .* is not a canonical decimal/],
      [`old ${log.size}`, /must start with an old size line/],
      [`old ${log.size}\n${checkpoint}`, /consistency proof line 1: "whodis.test\/log" is not the base64/], // no blank line
      [body(log.size, Array.from({ length: 64 }, () => log.root()), checkpoint), /more than 63 consistency proof lines/],
      [`old ${log.size}\n${root.slice(0, -1)}\n\n${checkpoint}`, /consistency proof line 1/],
      [`old ${log.size}\n\n${await signed(`${ORIGIN}\n0${log.size}\n${root}\n`)}`, /tree size: .* is not a canonical decimal/],
      [`old ${log.size}\n\n${await signed(`${ORIGIN}\n${log.size}\n`)}`, /fewer than three lines/],
      [`old ${log.size}\n\n${await signed(`${ORIGIN}\n${log.size}\n${root}\n\n`)}`, /empty extension line/],
      [`old ${log.size}\n\n${await signed(`${ORIGIN}\n${log.size}\n${root.slice(4)}\n`)}`, /root hash/],
      [body(log.size, [], checkpoint.split('\n\n')[0]! + '\n'), /checkpoint is not a signed note/],
      [body(log.size, [], checkpoint.replace('\n\n', '\n\n\x01')), /malformed note/],
    ]
    for (const [text, reason] of cases) {
      const res = await submit(witness, text)
      expect(res.status, text).toBe(400)
      expect(res.text).toMatch(reason)
    }
    expect((await fetch(`${witness.url}/add-checkpoint`)).status).toBe(405)
  })

  it('keeps each origin apart: a fresh log starts at 0, checks the empty root, wants no proof at 0', async () => {
    fresh.append(4)
    expect((await submit(witness, body(0, [fresh.root(2)], await fresh.checkpoint()))).status).toBe(422)
    expect((await submit(witness, body(0, [], await fresh.checkpoint(0, fresh.signer, fresh.root(1))))).status).toBe(422)
    expect((await submit(witness, body(0, [], await fresh.checkpoint()))).status).toBe(200)
    expect((await submit(witness, body(0, [], await log.checkpoint()))).text).toBe(`${log.size}\n`)
  })

  it('remembers the latest size after a kill -9 right after its answer, and goes on from there', async () => {
    const held = log.size
    log.append(3)
    await advance(held)
    await kill(witness)
    witness = await startWitness(state, [verifierKeyOf(log.signer), verifierKeyOf(fresh.signer)])
    expect(await submit(witness, body(0, [], await log.checkpoint()))).toEqual({ status: 409, type: 'text/x.tlog.size', text: `${log.size}\n` })
    expect((await submit(witness, body(held, log.proof(held), await log.checkpoint()))).status).toBe(409)
    const old = log.size
    log.append(1)
    await advance(old)
    expect((await submit(witness, body(0, [], await fresh.checkpoint()))).text).toBe(`${fresh.size}\n`)
  })

  it('cosigcheck requires the threshold of distinct witness keys and every known cosignature to verify', async () => {
    const logVkey = verifierKeyOf(log.signer)
    const second = await startWitness(join(dir, 'second.json'), [logVkey], { name: 'witness.test/second', seed: toHex(new Uint8Array(32).fill(8)) })
    const alias = await startWitness(join(dir, 'alias.json'), [logVkey], { name: 'witness.test/alias' }) // the first witness's key
    const checkpoint = await log.checkpoint()
    const line = (w: Witness) => submit(w, body(0, [], checkpoint)).then((r) => (expect(r.status).toBe(200), r.text))
    const [secondLine, aliasLine] = await Promise.all([line(second), line(alias)])
    const ownLine = cosigned.slice(checkpoint.length)
    expect(cosigned.startsWith(checkpoint)).toBe(true)
    const both = checkpoint + ownLine + secondLine
    const keys = [witness.vkey, second.vkey, alias.vkey]

    expect((await cosigcheck(both, logVkey, keys, 2)).stdout).toMatch(/^ok: .* cosigned by 2 of 2 required witnesses \(witness.test\/go, witness.test\/second\)\n$/)
    expect((await cosigcheck(checkpoint + ownLine, logVkey, keys, 2)).stderr).toMatch(/1 of the 2 required/)
    // One key under two names is one witness: cosignature/v1 does not sign the witness's name.
    expect((await cosigcheck(checkpoint + ownLine + aliasLine, logVkey, keys, 2)).stderr).toMatch(/1 of the 2 required/)
    expect((await cosigcheck(spoilSignature(both, 2), logVkey, keys, 1)).stderr).toMatch(/cosignature by witness.test\/second\+[0-9a-f]{8}: Ed25519 signature does not verify/)
    expect((await cosigcheck(both, logVkey, keys, 1, ['-max-future', '-1h'])).stderr).toMatch(/is in the future/)
    // A cosignature moved onto another checkpoint of the same log does not verify.
    const other = await log.checkpoint(log.size - 1)
    expect((await cosigcheck(other + ownLine, logVkey, keys, 1)).stderr).toMatch(/does not verify/)
    // Unknown cosigners are ignored (and then do not count); the log's own signature is required.
    expect((await cosigcheck(both, logVkey, [], 0)).code).toBe(0)
    expect((await cosigcheck(both, logVkey, [], 1)).stderr).toMatch(/threshold 1 exceeds/)
    const withoutLog = `${checkpoint.split('\n\n')[0]}\n\n${(ownLine + secondLine).trimEnd()}\n`
    expect((await cosigcheck(withoutLog, logVkey, keys, 1)).stderr).toMatch(/no signature by the log's key/)
    expect((await cosigcheck(both, verifierKeyOf(fresh.signer), keys, 1)).code).toBe(1)
    await Promise.all([kill(second), kill(alias)])
  })

  it('writes its verifier key exactly as our note-keys code formats and parses a cosignature/v1 key', async () => {
    const key = parseCosignatureVerifierKey(witness.vkey)
    expect(key.name).toBe(WITNESS)
    expect(toHex(key.publicKey)).toBe(toHex((await signerFromSeed(new Uint8Array(32).fill(7))).publicKey))
    expect(formatVerifierKey(WITNESS, key.publicKey, 'cosignature/v1')).toBe(witness.vkey)
    // A log key (type 0x01) under the same name and key is not a witness key, to either side.
    const asLogKey = formatVerifierKey(WITNESS, key.publicKey)
    expect(() => parseCosignatureVerifierKey(asLogKey)).toThrow(/log key/)
    expect((await cosigcheck(cosigned, verifierKeyOf(log.signer), [asLogKey], 1)).stderr).toMatch(/key type is 0x01/)
  })

  it('cosigns the whole note text, extension lines included', async () => {
    const withExtension = (line: string) => signCheckpoint({ origin: ORIGIN, size: log.size, rootHash: log.root(), extensions: [line] }, log.signer)
    const checkpoint = await withExtension('state 1')
    const res = await submit(witness, body(log.size, [], checkpoint))
    expect(res.status).toBe(200)
    const logVkey = verifierKeyOf(log.signer)
    expect((await cosigcheck(checkpoint + res.text, logVkey, [witness.vkey], 1)).code).toBe(0)
    expect((await cosigcheck((await withExtension('state 2')) + res.text, logVkey, [witness.vkey], 1)).stderr).toMatch(/does not verify/)
    expect((await cosigcheck((await log.checkpoint()) + res.text, logVkey, [witness.vkey], 1)).stderr).toMatch(/does not verify/)
  })

  it('verifies our consistency proofs (from stored hashes and from tiles) for every pair of sizes up to 24 and random pairs up to 3000', async () => {
    // One origin per pair (n, t): the witness cosigns n with no proof, then t with our proof from n.
    const sweep = new TestLog(log.signer)
    sweep.append(3000)
    const pairs: [number, number][] = []
    for (let t = 2; t <= 24; t++) for (let n = 1; n < t; n++) pairs.push([n, t])
    let seed = 1
    const next = () => (seed = (seed * 48271) % 2147483647)
    while (pairs.length < 276 + 60) {
      const [a, b] = [1 + (next() % 3000), 1 + (next() % 3000)]
      const pair: [number, number] = [Math.min(a, b), Math.max(a, b)]
      if (a !== b && !pairs.some(([n, t]) => n === pair[0] && t === pair[1])) pairs.push(pair)
    }
    const signers = await Promise.all(pairs.map(([n, t]) => noteSigner(`sweep.test/${n}-${t}`, 20)))
    const sweepWitness = await startWitness(join(dir, 'sweep.json'), signers.map(verifierKeyOf))
    const failures: string[] = []
    for (let i = 0; i < pairs.length; i += 16) {
      await Promise.all(
        pairs.slice(i, i + 16).map(async ([n, t], j) => {
          const signer = signers[i + j]!
          const first = await submit(sweepWitness, body(0, [], await sweep.checkpoint(n, signer)))
          // The directory proves from its tiles: the same hashes, read through tile paths and widths.
          const proof = await proveTreeFromTiles(t, n, async (tile) => readTileData(tile, sweep.read))
          expect(proof.map(toBase64)).toEqual(sweep.proof(n, t).map(toBase64))
          const second = await submit(sweepWitness, body(n, proof, await sweep.checkpoint(t, signer)))
          if (first.status !== 200 || second.status !== 200) failures.push(`${n}→${t}: ${first.status}, ${second.status} ${second.text}`)
        }),
      )
    }
    await kill(sweepWitness)
    expect(failures).toEqual([])
  })
})

describe.skipIf(unavailable !== null)(`Go tlog-witness cosigns the real directory's checkpoints${unavailable ? ` (skipped: ${unavailable})` : ''}`, { timeout: 60_000 }, () => {
  let directory: RunningDirectory
  let witness: Witness
  let stateDir = ''
  // Everything under /log/ needs an app token.
  let auth: { headers: { Authorization: string } }

  beforeAll(async () => {
    ;[witnessBin, cosigcheckBin] = (await Promise.all([buildGoProgram('witness'), buildGoProgram('cosigcheck')])) as [string, string]
    stateDir = mkdtempSync(join(tmpdir(), 'whodis-go-witness-dir-'))
    directory = await startDirectory()
  }, 120_000)
  afterAll(async () => {
    if (witness) await kill(witness)
    await directory?.stop()
    if (stateDir) rmSync(stateDir, { recursive: true, force: true })
  })

  /** The directory's checkpoint once its size differs from `previous`. */
  async function checkpointAfter(previous: number): Promise<{ note: string; size: number }> {
    for (;;) {
      const note = await (await fetch(`${directory.url}/log/checkpoint`, auth)).text()
      const size = Number(note.split('\n')[1])
      if (size !== previous) return { note, size }
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
  }

  it('cosigns /log/checkpoint, then the next one with a proof from its served hash tiles', async () => {
    const operator = client(directory.url, directory.adminToken)
    const { logKey } = (await operator('GET', '/.well-known/whodis')).body as { logKey: string }
    const reader = (await operator('POST', '/v1/admin/apps', { id: 'reader', name: 'A reader' })).body as { token: string }
    auth = { headers: { Authorization: `Bearer ${reader.token}` } }
    witness = await startWitness(join(stateDir, 'state.json'), [logKey])
    const fetchTile = async (tile: Tile) => {
      const res = await fetch(`${directory.url}/log/${tilePath(tile.level, tile.index, tile.width)}`, auth)
      expect(res.status).toBe(200)
      return new Uint8Array(await res.arrayBuffer())
    }

    let previous = { note: await (await fetch(`${directory.url}/log/checkpoint`, auth)).text(), size: -1 }
    previous.size = Number(previous.note.split('\n')[1])
    let old = 0
    for (const round of [1, 2, 3]) {
      const proof = old === 0 ? [] : await proveTreeFromTiles(previous.size, old, fetchTile)
      const res = await submit(witness, body(old, proof, previous.note))
      expect(res, witness.stderr()).toMatchObject({ status: 200 })
      const check = await cosigcheck(previous.note + res.text, logKey, [witness.vkey], 1)
      expect(check.stderr).toBe('')
      expect(check.code).toBe(0)
      old = previous.size
      for (let i = 0; i < round * 3; i++) expect((await operator('POST', '/v1/admin/apps', { id: `app${round}x${i}`, name: 'An app' })).status).toBe(201)
      previous = await checkpointAfter(old)
      expect(previous.size).toBeGreaterThan(old)
    }
    // The directory's tree is not rolled back behind the witness's back: an old checkpoint is stale.
    expect((await submit(witness, body(0, [], previous.note))).text).toBe(`${old}\n`)
  })
})
