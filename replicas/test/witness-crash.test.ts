/**
 * The witness across kill -9: a real `whodis-mirror witness` process cosigns a growing log and
 * is killed with SIGKILL at random moments. After each restart it must hold at least the last
 * size it returned a cosignature for (never less: it would then cosign a fork of what it
 * vouched for), with that tree's root, and refuse a different tree at that size.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { toHex, utf8 } from '../../src/protocol/bytes.ts'
import { formatAddCheckpointRequest, formatCosignatureSignerKey, parseTlogSize } from '../../src/protocol/cosignature.ts'
import { signerFromSeed } from '../../src/protocol/ed25519.ts'
import { proveTree } from '../../src/protocol/merkle.ts'
import { parseCheckpoint } from '../../src/protocol/checkpoint.ts'
import { splitNote } from '../../src/protocol/note.ts'
import { sha256 } from '@noble/hashes/sha2.js'
import { buildLog, prng, type FakeLog } from './fixtures/fake-log.ts'
import { cleanupTemp, tempDir } from './fixtures/helpers.ts'

const bin = join(import.meta.dirname, '..', 'bin', 'whodis-mirror.js')
let log: FakeLog
let signerKey: string

beforeAll(async () => {
  log = await buildLog(3000, { seed: 71 })
  const seed = new Uint8Array(32).fill(9)
  signerKey = formatCosignatureSignerKey('witness.test/crash', seed, (await signerFromSeed(seed)).publicKey)
})
afterAll(cleanupTemp)

/** Starts the witness; resolves its URL once it listens. */
function start(state: string): Promise<{ proc: ChildProcess; url: string }> {
  const proc = spawn(process.execPath, [bin, 'witness', '--port', '0'], {
    env: { ...process.env, WHODIS_LOG_KEY: log.logKey, WHODIS_WITNESS_SIGNING_KEY: signerKey, WHODIS_WITNESS_STATE: state, WHODIS_LOG_FORMAT: 'json' },
    stdio: ['ignore', 'ignore', 'pipe'],
  })
  return new Promise((resolve, reject) => {
    let err = ''
    proc.stderr!.on('data', (c: Buffer) => {
      err += c.toString()
      for (const line of err.split('\n')) {
        if (line.includes('"witnessing"')) return resolve({ proc, url: JSON.parse(line).url })
      }
    })
    proc.once('exit', (code) => reject(new Error(`witness exited ${code}: ${err}`)))
  })
}

async function latestSize(url: string): Promise<number> {
  const answer = await fetch(`${url}/add-checkpoint`, { method: 'POST', body: formatAddCheckpointRequest(0, [], await log.checkpoint(1)) })
  if (answer.status === 200) return 1 // it had nothing: it just cosigned size 1
  expect(answer.status).toBe(409)
  return parseTlogSize(await answer.text())!
}

describe('the witness across SIGKILL', () => {
  it('never restarts below the last size it cosigned', async () => {
    const state = tempDir('whodis-witness-crash-')
    const random = prng(5)
    let acked = 0
    let killedMidway = 0
    for (let round = 0; round < 4; round++) {
      const { proc, url } = await start(state)
      let known = await latestSize(url)
      expect(known).toBeGreaterThanOrEqual(acked)
      acked = Math.max(acked, known)
      const killAt = 20 + Math.floor(random() * 200)
      const killer = setTimeout(() => proc.kill('SIGKILL'), killAt)
      // Cosign ever larger trees, one at a time, until the process dies.
      try {
        while (known < log.size) {
          const next = Math.min(log.size, known + 1 + Math.floor(random() * 40))
          const body = formatAddCheckpointRequest(known, known === 0 ? [] : proveTree(next, known, log.read), await log.checkpoint(next))
          const answer = await fetch(`${url}/add-checkpoint`, { method: 'POST', body })
          if (answer.status !== 200) throw new Error(`unexpected ${answer.status}`)
          await answer.text()
          acked = known = next // a cosignature was returned for `next`
        }
      } catch (err) {
        if (!/fetch failed|other side closed|ECONNRESET|ECONNREFUSED|terminated/.test(`${err} ${(err as Error).cause}`)) throw err
        killedMidway++
      }
      clearTimeout(killer)
      proc.kill('SIGKILL')
      await new Promise((resolve) => (proc.exitCode !== null || proc.signalCode !== null ? resolve(null) : proc.once('exit', resolve)))
    }
    expect(killedMidway).toBeGreaterThan(0) // the kills landed while it was cosigning
    // After the last kill: the state names a tree at least as large as the last acknowledged one, with its root.
    const { proc, url } = await start(state)
    try {
      const held = await (await fetch(`${url}/${toHex(sha256(utf8(log.origin)))}/checkpoint`)).text()
      const cp = parseCheckpoint(splitNote(held).text)
      expect(cp.size).toBeGreaterThanOrEqual(acked)
      expect(toHex(cp.rootHash)).toBe(toHex(log.rootAt(cp.size)))
      const fork = await buildLog(cp.size, { seed: 72, signer: log.signer })
      const refused = await fetch(`${url}/add-checkpoint`, { method: 'POST', body: formatAddCheckpointRequest(cp.size, [], await fork.checkpoint()) })
      expect(refused.status).toBe(422)
    } finally {
      proc.kill('SIGKILL')
    }
  })
})
