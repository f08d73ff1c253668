/**
 * Round latency added by witnesses: a log grows by `--entries` per round, signs its checkpoint,
 * and collects cosignatures from `--witnesses` local `whodis-mirror witness` processes at once
 * (add-checkpoint with a consistency proof from each one's size, then checking each answer),
 * `--rounds` times. Reports the median, p90 and max milliseconds a round spends collecting, and
 * the same against one witness, so that the cost of more witnesses is apart from the fsync each
 * one makes. The state directories are under TMPDIR (its disk decides the fsync).
 *
 *   npx tsx bench/witness.ts [--witnesses 3] [--rounds 200] [--entries 64] [--json]
 * @module
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { numberFlag } from './args.ts'
import { utf8 } from '../src/protocol/bytes.ts'
import { signCheckpoint } from '../src/protocol/checkpoint.ts'
import { acceptCosignature, cosignatureSignerFromKey, cosignatureVerifierKeyOf, formatAddCheckpointRequest, formatCosignatureSignerKey } from '../src/protocol/cosignature.ts'
import { randomSeed, signerFromSeed } from '../src/protocol/ed25519.ts'
import { proveTree, storedHashes, treeHash, type Hash } from '../src/protocol/merkle.ts'
import { noteSignerFromKey, verifierKeyOf } from '../src/protocol/note.ts'
import { formatSignerKey, parseCosignatureVerifierKey } from '../src/protocol/note-keys.ts'

const BIN = join(import.meta.dirname, '..', 'replicas', 'bin', 'whodis-mirror.js')

interface RunningWitness {
  proc: ChildProcess
  url: string
  vkey: ReturnType<typeof parseCosignatureVerifierKey>
  size: number
}

async function startWitness(logKey: string, name: string, state: string): Promise<RunningWitness> {
  const seed = randomSeed()
  const signerKey = formatCosignatureSignerKey(name, seed, (await signerFromSeed(seed)).publicKey)
  const vkey = parseCosignatureVerifierKey(cosignatureVerifierKeyOf(await cosignatureSignerFromKey(signerKey)))
  const proc = spawn(process.execPath, [BIN, 'witness', '--port', '0'], {
    env: { ...process.env, WHODIS_LOG_KEY: logKey, WHODIS_WITNESS_SIGNING_KEY: signerKey, WHODIS_WITNESS_STATE: state, WHODIS_LOG_FORMAT: 'json' },
    stdio: ['ignore', 'ignore', 'pipe'],
  })
  const url = await new Promise<string>((resolve, reject) => {
    let err = ''
    proc.stderr!.on('data', (c: Buffer) => {
      err += c.toString()
      const line = err.split('\n').find((l) => l.includes('"witnessing"'))
      if (line) resolve(JSON.parse(line).url)
    })
    proc.once('exit', (code) => reject(new Error(`witness exited ${code}: ${err}`)))
  })
  return { proc, url, vkey, size: 0 }
}

/** Runs the measurement; every figure is milliseconds per round. */
export async function measureWitnesses(options: { witnesses: number; rounds: number; entries: number }) {
  const seed = randomSeed()
  const log = await noteSignerFromKey(formatSignerKey('bench.example/log', seed, (await signerFromSeed(seed)).publicKey))
  const stored: Hash[] = []
  const read = (ix: number[]) => ix.map((i) => stored[i]!)
  let size = 0
  const dir = mkdtempSync(join(tmpdir(), 'whodis-bench-witness-'))
  const all = await Promise.all(Array.from({ length: options.witnesses }, (_, i) => startWitness(verifierKeyOf(log), `bench.example/w${i}`, join(dir, `w${i}`))))
  try {
    const measure = async (witnesses: RunningWitness[]) => {
      const times: number[] = []
      for (let round = 0; round < options.rounds; round++) {
        for (let n = size; n < size + options.entries; n++) stored.push(...storedHashes(n, utf8(`entry ${n}`), read))
        size += options.entries
        const note = await signCheckpoint({ origin: log.name, size, rootHash: treeHash(size, read), extensions: [] }, log)
        const start = performance.now()
        await Promise.all(
          witnesses.map(async (w) => {
            const proof = w.size === 0 ? [] : proveTree(size, w.size, read)
            const answer = await fetch(`${w.url}/add-checkpoint`, { method: 'POST', body: formatAddCheckpointRequest(w.size, proof, note) })
            const body = await answer.text()
            if (answer.status !== 200) throw new Error(`witness answered ${answer.status}: ${body}`)
            await acceptCosignature(note, body, w.vkey)
            w.size = size
          }),
        )
        times.push(performance.now() - start)
      }
      times.sort((a, b) => a - b)
      const at = (q: number) => Math.round(times[Math.min(times.length - 1, Math.floor(q * times.length))]! * 100) / 100
      return { median: at(0.5), p90: at(0.9), max: at(1) }
    }
    await measure(all) // warm-up: connections, JIT, the first state files
    const one = await measure(all.slice(0, 1))
    const many = await measure(all)
    return { witnesses: options.witnesses, rounds: options.rounds, entriesPerRound: options.entries, oneWitnessMs: one, allWitnessesMs: many }
  } finally {
    for (const w of all) w.proc.kill('SIGTERM')
    rmSync(dir, { recursive: true, force: true })
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const argv = process.argv.slice(2)
  const result = await measureWitnesses({
    witnesses: numberFlag(argv, 'witnesses', 3),
    rounds: numberFlag(argv, 'rounds', 200),
    entries: numberFlag(argv, 'entries', 64),
  })
  if (argv.includes('--json')) console.log(JSON.stringify(result))
  else {
    console.log(`round latency collecting cosignatures (${result.rounds} rounds, ${result.entriesPerRound} entries each), ms`)
    console.log(`  1 witness:   median ${result.oneWitnessMs.median}  p90 ${result.oneWitnessMs.p90}  max ${result.oneWitnessMs.max}`)
    console.log(`  ${result.witnesses} witnesses: median ${result.allWitnessesMs.median}  p90 ${result.allWitnessesMs.p90}  max ${result.allWitnessesMs.max}`)
  }
}
