/**
 * The witness from the command line: `whodis-mirror witness` standalone (and its restart),
 * `serve --witness`, and a mirror's witness policy (`--witness-key`, `--witness-threshold`).
 */
import { PassThrough } from 'node:stream'
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest'
import { toBase64 } from '../../src/protocol/bytes.ts'
import { addCosignatures, cosignatureSignerFromKey, cosignatureVerifierKeyOf, formatCosignatureSignerKey } from '../../src/protocol/cosignature.ts'
import { signerFromSeed } from '../../src/protocol/ed25519.ts'
import { proveTree } from '../../src/protocol/merkle.ts'
import { runCli } from '../src/commands.ts'
import { openMirror } from '../src/mirror.ts'
import { startServer } from '../src/server.ts'
import { EXIT_CODES } from '../src/errors.ts'
import { FAKE_TOKEN, FakeDirectory } from './fixtures/fake-directory.ts'
import { buildLog, extendLog, type FakeLog } from './fixtures/fake-log.ts'
import { cleanupTemp, tempDir } from './fixtures/helpers.ts'

let fake: FakeDirectory
let log: FakeLog
beforeEach(async () => {
  log = await buildLog(300, { seed: 61 })
  fake = await FakeDirectory.start(log)
})
afterEach(() => fake.stop())
afterAll(cleanupTemp)

async function witnessKeys(name: string, seedByte: number) {
  const seed = new Uint8Array(32).fill(seedByte)
  const { publicKey } = await signerFromSeed(seed)
  const signerKey = formatCosignatureSignerKey(name, seed, publicKey)
  return { signerKey, vkey: cosignatureVerifierKeyOf(await cosignatureSignerFromKey(signerKey)) }
}

/** Runs the CLI in-process until `signal` aborts (or it exits); resolves the first JSON log line with `event`. */
function run(args: string[], env: Record<string, string>, signal?: AbortSignal, event?: string) {
  const stdout = new PassThrough()
  const stderr = new PassThrough()
  let err = ''
  let out = ''
  let resolveEvent: (e: any) => void = () => {}
  const seen = new Promise<any>((r) => (resolveEvent = r))
  stderr.on('data', (c: Buffer) => {
    err += c.toString()
    for (const line of c.toString().split('\n').filter((l) => l.startsWith('{'))) {
      const e = JSON.parse(line)
      if (e.event === event) resolveEvent(e)
    }
  })
  stdout.on('data', (c: Buffer) => (out += c.toString()))
  const done = runCli(args, { env: { WHODIS_RETRIES: '1', WHODIS_RETRY_BASE_MS: '5', WHODIS_LOG_FORMAT: 'json', ...env }, stdout, stderr, ...(signal ? { signal } : {}) }).then((code) => ({
    code,
    stderr: err,
    stdout: out,
  }))
  const started = Promise.race([seen, done.then((d) => Promise.reject(new Error(`exited ${d.code}: ${d.stderr}`)))])
  started.catch(() => {}) // awaited only by the tests that wait for a start
  return { done, seen: started }
}

function addRequest(old: number, note: string, size: number): string {
  const proof = old === 0 || old === size ? [] : proveTree(size, old, log.read)
  return `old ${old}\n${proof.map((h) => `${toBase64(h)}\n`).join('')}\n${note}`
}

describe('whodis-mirror witness', () => {
  it('cosigns over HTTP, keeps its latest size across a restart, and reads every flag from its variable', async () => {
    const w = await witnessKeys('witness.test/w1', 3)
    const state = tempDir('whodis-witness-cli-')
    const env = { WHODIS_LOG_KEY: log.logKey, WHODIS_WITNESS_SIGNING_KEY: w.signerKey, WHODIS_WITNESS_STATE: state, WHODIS_MIRROR_PORT: '0' }
    const first = new AbortController()
    const a = run(['witness'], env, first.signal, 'witnessing')
    const started = await a.seen
    expect(started.verifierKey).toBe(w.vkey)
    const ok = await fetch(`${started.url}/add-checkpoint`, { method: 'POST', body: addRequest(0, await log.checkpoint(200), 200) })
    expect(ok.status).toBe(200)
    first.abort()
    const firstRun = await a.done
    expect(firstRun.code).toBe(0)
    expect(firstRun.stderr).toMatch(/"event":"add_checkpoint","status":200/)

    const second = new AbortController()
    const b = run(['witness', '--port', '0'], env, second.signal, 'witnessing')
    const again = await b.seen
    const conflict = await fetch(`${again.url}/add-checkpoint`, { method: 'POST', body: addRequest(0, await log.checkpoint(), 300) })
    expect([conflict.status, conflict.headers.get('content-type'), await conflict.text()]).toEqual([409, 'text/x.tlog.size', '200\n'])
    expect((await fetch(`${again.url}/add-checkpoint`, { method: 'POST', body: addRequest(200, await log.checkpoint(), 300) })).status).toBe(200)
    second.abort()
    expect((await b.done).code).toBe(0)
  })

  it('refuses to start without its keys, or with a log key as its signer', async () => {
    const state = tempDir('whodis-witness-cli-')
    expect((await run(['witness', '--state', state, '--key', 'x'], {}).done).code).toBe(EXIT_CODES.usage)
    const logSigner = `PRIVATE+KEY+w+${'0'.repeat(8)}+${toBase64(new Uint8Array(33).fill(1))}`
    const bad = await run(['witness', '--state', state, '--log-key', log.logKey, '--key', logSigner], {}).done
    expect(bad.code).toBe(EXIT_CODES.usage)
    expect(bad.stderr).toMatch(/witness signer key/)
  })
})

describe('a mirror with a witness policy', () => {
  it('refuses a checkpoint below the threshold (exit 11, reason witness_below_threshold) and takes it once cosigned', async () => {
    const [w1, w2] = [await witnessKeys('witness.test/w1', 3), await witnessKeys('witness.test/w2', 4)]
    const data = tempDir()
    const args = ['sync', '--data', data, '--directory', fake.url, '--token', FAKE_TOKEN, '--witness-key', w1.vkey]
    const env = { WHODIS_WITNESS_KEYS: `${w1.vkey},${w2.vkey}`, WHODIS_WITNESS_THRESHOLD: '2' }
    const refused = await run(['sync', '--data', data, '--directory', fake.url, '--token', FAKE_TOKEN], env).done
    expect(refused.code).toBe(EXIT_CODES.bad_signature)
    expect(refused.stderr).toMatch(/witness policy: checkpoint \S+ @ 300 has 0 of the 2 witness cosignatures required/)
    expect(refused.stderr).toContain('witness_below_threshold')

    // The witnesses cosign it (through the witness core, as the directory would ask them to).
    const { Witness } = await import('../src/witness.ts')
    const { parseVerifierKey } = await import('../../src/protocol/note-keys.ts')
    let note = await log.checkpoint()
    for (const w of [w1, w2]) {
      const witness = await Witness.open({ logKeys: [parseVerifierKey(log.logKey)], signer: await cosignatureSignerFromKey(w.signerKey), stateDir: tempDir('whodis-witness-'), now: () => Date.now() - 120_000 })
      const answer = await witness.addCheckpoint(addRequest(0, await log.checkpoint(), 300))
      await witness.close()
      expect(answer.status).toBe(200)
      note = addCosignatures(note, answer.body)
    }
    fake.checkpointNote = note
    const oneOfTwo = await run(args, { WHODIS_WITNESS_THRESHOLD: '1' }).done // the flag wins over WHODIS_WITNESS_KEYS
    expect(oneOfTwo.code).toBe(0)
    // The held checkpoint's cosigners show in /healthz, after a restart too.
    const mirror = await openMirror(data, { witnessKeys: [w1.vkey, w2.vkey], witnessThreshold: 1 })
    const server = await startServer(mirror, { port: 0 })
    try {
      const health = (await (await fetch(`${server.url}/healthz`)).json()) as { witnesses: { threshold: number; trusted: number; cosigners: { name: string; ageSeconds: number }[] } }
      expect(health.witnesses.threshold).toBe(1)
      expect(health.witnesses.trusted).toBe(2)
      expect(health.witnesses.cosigners.map((c) => c.name).sort()).toEqual(['witness.test/w1', 'witness.test/w2'])
      expect(health.witnesses.cosigners.every((c) => c.ageSeconds >= 119)).toBe(true)
    } finally {
      await server.close()
      await mirror.close()
    }
    extendLog(log, 20)
    fake.checkpointNote = await log.checkpoint() // a newer checkpoint without cosignatures
    expect((await run(['sync', '--data', data, '--token', FAKE_TOKEN], env).done).code).toBe(EXIT_CODES.bad_signature)
    expect((await run(['sync', '--data', data, '--token', FAKE_TOKEN, '--witness-threshold', '3'], env).done).code).toBe(EXIT_CODES.usage)
    // A freeze: the cosigned checkpoint served again, its cosignatures older than the limit.
    fake.checkpointNote = note
    const frozen = await run(['sync', '--data', data, '--token', FAKE_TOKEN, '--witness-max-age-s', '60'], { ...env, WHODIS_WITNESS_THRESHOLD: '1' }, undefined).done
    expect(frozen.code).toBe(EXIT_CODES.bad_signature)
    expect(frozen.stderr).toMatch(/0 of the 1 witness cosignatures required \(2 more older than 60 s\)/)
  })
})

describe('serve --witness', () => {
  it('adds POST /add-checkpoint to the mirror, refusing a root other than the one the mirror verified at that size (or any size it passed)', async () => {
    const w = await witnessKeys('witness.test/mirror', 5)
    const data = tempDir()
    const controller = new AbortController()
    const s = run(['serve', '--data', data, '--directory', fake.url, '--token', FAKE_TOKEN, '--port', '0', '--log-key', log.logKey, '--interval-ms', '20', '--witness', w.signerKey], {}, controller.signal, 'serving')
    const { url } = await s.seen
    for (let i = 0; i < 500 && ((await (await fetch(`${url}/healthz`)).json()) as { treeSize: number }).treeSize !== 300; i++) await new Promise((r) => setTimeout(r, 20))
    // A split view: the same size, signed by the log key, another root.
    const other = await buildLog(300, { seed: 99, signer: log.signer })
    const split = await fetch(`${url}/add-checkpoint`, { method: 'POST', body: `old 0\n\n${await other.checkpoint()}` })
    expect(split.status).toBe(422)
    expect(await split.text()).toMatch(/split view/)
    // And at a smaller size it verified on the way (its Merkle hashes hold every tree it passed).
    const smaller = await buildLog(120, { seed: 98, signer: log.signer })
    const older = await fetch(`${url}/add-checkpoint`, { method: 'POST', body: `old 0\n\n${await smaller.checkpoint()}` })
    expect([older.status, await older.text()]).toEqual([422, 'this mirror verified a different root at tree size 120: a split view\n'])
    const ok = await fetch(`${url}/add-checkpoint`, { method: 'POST', body: addRequest(0, await log.checkpoint(), 300) })
    expect(ok.status).toBe(200)
    expect((await fetch(`${url}/v1/numbers/+1`)).status).toBe(400) // the mirror's routes are still there
    controller.abort()
    const served = await s.done
    expect(served.code).toBe(0)
    expect(served.stderr).toMatch(/"level":"warn","event":"add_checkpoint_refused","status":422,"reason":"this mirror verified a different root/)
  })
})
