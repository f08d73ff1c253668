/** The tlog-witness: the spec's status codes, one winner per size, durable state, no split view cosigned. */
import { mkdir, mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { sha256 } from '@noble/hashes/sha2.js'
import fc from 'fast-check'
import { afterEach, describe, expect, it } from 'vitest'
import { toBase64, toHex, utf8 } from '../../src/protocol/bytes.ts'
import { openCheckpoint, signCheckpoint } from '../../src/protocol/checkpoint.ts'
import {
  acceptCosignature,
  addCosignatures,
  formatAddCheckpointRequest,
  parseTlogSize,
  cosignatureSignerFromKey,
  cosignatureVerifierKeyOf,
  formatCosignatureSignerKey,
  verifyCosignatures,
  type CosignatureSigner,
} from '../../src/protocol/cosignature.ts'
import { randomSeed, signerFromSeed } from '../../src/protocol/ed25519.ts'
import { proveTree, storedHashes, treeHash, type Hash } from '../../src/protocol/merkle.ts'
import { noteSignerFromKey, type NoteSigner } from '../../src/protocol/note.ts'
import { formatSignerKey, parseCosignatureVerifierKey, parseVerifierKey } from '../../src/protocol/note-keys.ts'
import { Witness, type WitnessOptions } from '../src/witness.ts'
import { startWitnessServer } from '../src/witness-server.ts'

const ORIGIN = 'log.example/witnessed'
const NOW_MS = 1_700_000_000_000

/** An in-memory RFC 6962 tree that hands out signed checkpoints and consistency proofs. */
class TestLog {
  private stored: Hash[] = []
  size = 0
  constructor(
    readonly signer: NoteSigner,
    /** Leaf n is `${prefix}${n}`: changing it mid-way makes a fork from that size. */
    public prefix = 'a',
  ) {}
  static async create(origin = ORIGIN, prefix = 'a'): Promise<TestLog> {
    const seed = randomSeed()
    const { publicKey } = await signerFromSeed(seed)
    return new TestLog(await noteSignerFromKey(formatSignerKey(origin, seed, publicKey)), prefix)
  }
  get verifierKey() {
    return parseVerifierKey(`${this.signer.name}+${toHex(this.signer.keyId)}+${toBase64(Uint8Array.of(1, ...this.signer.publicKey))}`)
  }
  private read = (ix: number[]) => ix.map((i) => this.stored[i]!)
  grow(to: number): void {
    for (let n = this.size; n < to; n++) this.stored.push(...storedHashes(n, utf8(`${this.prefix}${n}`), this.read))
    this.size = to
  }
  root(size = this.size): Hash {
    return treeHash(size, this.read)
  }
  async checkpoint(size = this.size, root = this.root(size)): Promise<string> {
    return signCheckpoint({ origin: this.signer.name, size, rootHash: root, extensions: [] }, this.signer)
  }
  proof(from: number, to = this.size): Hash[] {
    return from === 0 || from === to ? [] : proveTree(to, from, this.read)
  }
  async request(old: number, size = this.size, opts: { proof?: Hash[]; note?: string } = {}): Promise<string> {
    const proof = opts.proof ?? this.proof(old, size)
    const note = opts.note ?? (await this.checkpoint(size))
    return `old ${old}\n${proof.map((h) => `${toBase64(h)}\n`).join('')}\n${note}`
  }
}

const dirs: string[] = []
const witnesses: Witness[] = []
afterEach(async () => {
  await Promise.all(witnesses.splice(0).map((w) => w.close()))
  await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })))
})

async function witnessSigner(): Promise<CosignatureSigner> {
  const seed = randomSeed()
  const { publicKey } = await signerFromSeed(seed)
  return cosignatureSignerFromKey(formatCosignatureSignerKey('witness.example/w1', seed, publicKey))
}

async function setup(log?: TestLog, extra: Partial<WitnessOptions> = {}) {
  const theLog = log ?? (await TestLog.create())
  const stateDir = await mkdtemp(join(tmpdir(), 'whodis-witness-'))
  dirs.push(stateDir)
  const signer = await witnessSigner()
  const options: WitnessOptions = { logKeys: [theLog.verifierKey], signer, stateDir, now: () => NOW_MS, ...extra }
  const witness = await Witness.open(options)
  witnesses.push(witness)
  return { log: theLog, witness, signer, options, stateDir }
}

// tlog-witness.md's example request body, verbatim.
const SPEC_REQUEST = `old 20852014
PlRNCrwHpqhGrupue0L7gxbjbMiKA9temvuZZDDpkaw=
jrJZDmY8Y7SyJE0MWLpLozkIVMSMZcD5kvuKxPC3swk=
5+pKlUdi2LeF/BcMHBn+Ku6yhPGNCswZZD1X/6QgPd8=
/6WVhPs2CwSsb5rYBH5cjHV/wSmA79abXAwhXw3Kj/0=

example.com/behind-the-sofa
20852163
CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=

\u2014 example.com/behind-the-sofa Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=
\u2014 example.com/behind-the-sofa opLqBQsREYCgu6xQkYQwJr9fo45a62DN9EdmHXnZdXNqlcVGlCum2Wks+49/V6267UEjw6QUXTS5Rovnzv++qbSzm9Q=
`

describe('add-checkpoint status codes (C2SP tlog-witness)', () => {
  it("parses the spec's example request: 404 for an unknown origin, 403 (not 400) when the origin is known under another key", async () => {
    const { witness } = await setup()
    expect((await witness.addCheckpoint(SPEC_REQUEST)).status).toBe(404)
    const sofa = await setup(await TestLog.create('example.com/behind-the-sofa'))
    expect(await sofa.witness.addCheckpoint(SPEC_REQUEST)).toMatchObject({ status: 403, body: expect.stringMatching(/no signature by a known key/) })
  })

  it('formatAddCheckpointRequest, parseTlogSize and acceptCosignature are the log side of the exchange', async () => {
    const { log, witness, signer } = await setup()
    log.grow(3)
    expect((await witness.addCheckpoint(formatAddCheckpointRequest(0, [], await log.checkpoint()))).status).toBe(200)
    log.grow(9)
    expect(formatAddCheckpointRequest(3, log.proof(3), await log.checkpoint())).toBe(await log.request(3))
    const conflict = await witness.addCheckpoint(formatAddCheckpointRequest(0, [], await log.checkpoint()))
    expect(parseTlogSize(conflict.body)).toBe(3)
    expect(parseTlogSize('03\n')).toBeNull()
    const ok = await witness.addCheckpoint(formatAddCheckpointRequest(3, log.proof(3), await log.checkpoint()))
    const key = parseCosignatureVerifierKey(cosignatureVerifierKeyOf(signer))
    const cosigned = await acceptCosignature(await log.checkpoint(), ok.body, key, () => NOW_MS)
    expect(cosigned).toBe((await log.checkpoint()) + ok.body)
    // A body cosigning another tree is refused, not merged.
    await expect(acceptCosignature(await log.checkpoint(8), ok.body, key, () => NOW_MS)).rejects.toMatchObject({ code: 'bad_cosignature' })
    await expect(acceptCosignature(await log.checkpoint(), '', key, () => NOW_MS)).rejects.toMatchObject({ code: 'below_threshold' })
  })

  it('cosigns from 0, then from its latest size with a consistency proof; the line verifies as cosignature/v1', async () => {
    const { log, witness, signer } = await setup()
    log.grow(5)
    const first = await witness.addCheckpoint(await log.request(0))
    expect(first.status).toBe(200)
    expect(first.body).toMatch(/^\u2014 witness\.example\/w1 [A-Za-z0-9+/=]+\n$/)
    log.grow(13)
    const second = await witness.addCheckpoint(await log.request(5))
    expect(second.status).toBe(200)
    const note = addCosignatures(await log.checkpoint(), second.body)
    const check = await verifyCosignatures(note, [parseCosignatureVerifierKey(cosignatureVerifierKeyOf(signer))], { threshold: 1, now: () => NOW_MS })
    expect(check.cosigners[0]!.timestamp).toBe(NOW_MS / 1000)
    expect(witness.tree(ORIGIN)!.size).toBe(13)
  })

  it('404 for an unknown origin, 403 for no or a bad log signature', async () => {
    const { log, witness } = await setup()
    log.grow(3)
    const stranger = await TestLog.create('other.example/log')
    stranger.grow(3)
    expect((await witness.addCheckpoint(await stranger.request(0))).status).toBe(404)
    // Same origin, another key: no signature by a trusted key.
    const impostor = await TestLog.create(ORIGIN, 'evil')
    impostor.grow(3)
    expect((await witness.addCheckpoint(await impostor.request(0))).status).toBe(403)
    // A trusted key's line that does not verify, next to a valid one.
    const good = await log.checkpoint()
    const sigLine = good.slice(good.lastIndexOf('\u2014 '))
    // A character in the middle of the signature (the last one may only carry padding bits).
    const at = sigLine.indexOf(' ', 2) + 30
    const flipped = sigLine.slice(0, at) + (sigLine[at] === 'A' ? 'B' : 'A') + sigLine.slice(at + 1)
    expect((await witness.addCheckpoint(await log.request(0, 3, { note: good + flipped }))).status).toBe(403)
    expect(witness.tree(ORIGIN)).toBeNull()
  })

  it('409 with the latest size as text/x.tlog.size when old is not its latest size; 400 when old > size', async () => {
    const { log, witness } = await setup()
    log.grow(8)
    expect((await witness.addCheckpoint(await log.request(0))).status).toBe(200)
    log.grow(10)
    const stale = await witness.addCheckpoint(await log.request(4))
    expect(stale).toEqual({ status: 409, contentType: 'text/x.tlog.size', body: '8\n' })
    expect((await witness.addCheckpoint(await log.request(0))).status).toBe(409)
    expect((await witness.addCheckpoint(await log.request(11, 10, { proof: [] }))).status).toBe(400)
  })

  it('422 for a bad proof, a proof from 0, a non-empty size-0 root, a rollback root at the same size', async () => {
    const { log, witness } = await setup()
    log.grow(6)
    expect((await witness.addCheckpoint(await log.request(0))).status).toBe(200)
    log.grow(9)
    const wrong = log.proof(6).map((h, i) => (i === 0 ? new Uint8Array(32).fill(1) : h))
    expect((await witness.addCheckpoint(await log.request(6, 9, { proof: wrong }))).status).toBe(422)
    expect((await witness.addCheckpoint(await log.request(6, 9, { proof: [] }))).status).toBe(422)
    const fresh = await setup(log)
    expect((await fresh.witness.addCheckpoint(await log.request(0, 9, { proof: log.proof(6) }))).status).toBe(422)
    const emptyWrong = await log.checkpoint(0, new Uint8Array(32).fill(9))
    expect((await fresh.witness.addCheckpoint(await log.request(0, 0, { note: emptyWrong }))).status).toBe(422)
    expect((await fresh.witness.addCheckpoint(await log.request(0, 0))).status).toBe(200) // the empty tree's root
    expect(witness.tree(ORIGIN)!.size).toBe(6)
  })

  it('400 for a malformed body: no old line, leading zeros, too many or bad proof lines, no blank line', async () => {
    const { log, witness } = await setup()
    log.grow(2)
    const note = await log.checkpoint()
    for (const body of [
      `\n${note}`,
      `old 02\n\n${note}`,
      `old -1\n\n${note}`,
      `old 1\nnot-a-hash\n\n${note}`,
      `old 1\n${`${toBase64(new Uint8Array(32))}\n`.repeat(64)}\n${note}`,
      `old 0\n${note}`.replace('\n\n', '\n'),
    ]) {
      expect((await witness.addCheckpoint(body)).status, JSON.stringify(body.slice(0, 40))).toBe(400)
    }
  })
})

describe('the witness never cosigns two inconsistent trees', () => {
  it('of two concurrent requests from the same old size to different sizes, exactly one wins and the other gets 409', async () => {
    const { log, witness } = await setup()
    log.grow(4)
    expect((await witness.addCheckpoint(await log.request(0))).status).toBe(200)
    log.grow(20)
    const toTen = await log.request(4, 10)
    const toTwenty = await log.request(4, 20)
    const answers = await Promise.all([witness.addCheckpoint(toTen), witness.addCheckpoint(toTwenty)])
    expect(answers.map((a) => a.status).sort()).toEqual([200, 409])
    const winner = answers.findIndex((a) => a.status === 200)
    expect(answers[1 - winner]!.body).toBe(`${winner === 0 ? 10 : 20}\n`)
    expect(witness.tree(ORIGIN)!.size).toBe(winner === 0 ? 10 : 20)
  })

  it('refuses a split view: two checkpoints of one size with different roots are never both cosigned', async () => {
    const { log, witness, stateDir } = await setup()
    // The fork signs with the log's own key: same origin, same size, a different tree.
    const forked = new TestLog(log.signer, 'b')
    log.grow(3)
    forked.grow(3)
    expect((await witness.addCheckpoint(await log.request(0))).status).toBe(200)
    log.grow(7)
    forked.grow(7)
    expect((await witness.addCheckpoint(await log.request(3))).status).toBe(200)
    // From the same old size, the fork's proof cannot verify against the root it holds.
    expect((await witness.addCheckpoint(await forked.request(3, 7)))).toMatchObject({ status: 409 })
    const forkAnswer = await witness.addCheckpoint(await forked.request(7, 7))
    expect(forkAnswer).toMatchObject({ status: 422, body: expect.stringMatching(/a fork: evidence kept as misbehaviour-fork-/) })
    // The evidence holds both notes, each verifying with the log key, with different roots at size 7.
    const { readdirSync, readFileSync } = await import('node:fs')
    const file = readdirSync(stateDir).find((f) => f.startsWith('misbehaviour-fork-'))!
    const evidence = JSON.parse(readFileSync(join(stateDir, file), 'utf8'))
    const held = await openCheckpoint(evidence.held.note, log.verifierKey)
    const served = await openCheckpoint(evidence.served.note, log.verifierKey)
    expect([held.size, served.size]).toEqual([7, 7])
    expect(toHex(held.rootHash)).not.toBe(toHex(served.rootHash))
    // A needless proof between equal sizes is refused, and is no fork.
    expect(await witness.addCheckpoint(await log.request(7, 7, { proof: [log.root(3)] }))).toMatchObject({ status: 422, body: expect.stringMatching(/must be empty/) })
    const { readdirSync: list } = await import('node:fs')
    expect(list(stateDir).filter((f) => f.startsWith('misbehaviour-'))).toHaveLength(1)
    // Its honest checkpoint of the same tree is cosigned again.
    expect((await witness.addCheckpoint(await log.request(7, 7))).status).toBe(200)
    expect(toHex(witness.tree(ORIGIN)!.rootHash)).toBe(toHex(log.root()))
  })

  it('keeps its latest size across a restart, and refuses to start on state that does not verify', async () => {
    const { log, witness, options, stateDir } = await setup()
    log.grow(5)
    expect((await witness.addCheckpoint(await log.request(0))).status).toBe(200)
    await expect(Witness.open(options)).rejects.toThrow(/lock|LOCK|held/i) // one process per state directory
    await witness.close()
    const again = await Witness.open(options)
    witnesses.push(again)
    expect(again.tree(ORIGIN)!.size).toBe(5)
    expect(await again.addCheckpoint(await log.request(0))).toMatchObject({ status: 409, body: '5\n' })
    log.grow(6)
    expect((await again.addCheckpoint(await log.request(5))).status).toBe(200)
    await again.close()
    // State signed by someone else: no start (falling back to size 0 would allow a fork).
    const { writeFile } = await import('node:fs/promises')
    const other = await TestLog.create(ORIGIN, 'x')
    other.grow(2)
    await writeFile(join(stateDir, `${toHex(sha256(utf8(ORIGIN)))}.checkpoint`), await other.checkpoint())
    await expect(Witness.open(options)).rejects.toThrow(/refusing to start/)
  })

  it('returns no cosignature when it cannot make the new state durable', async () => {
    const { log, witness, stateDir } = await setup()
    log.grow(3)
    // The temporary file's path is taken by a directory: the durable write fails.
    await mkdir(join(stateDir, `.${toHex(sha256(utf8(ORIGIN)))}.checkpoint.tmp`))
    await expect(witness.addCheckpoint(await log.request(0))).rejects.toThrow()
    expect(witness.tree(ORIGIN)).toBeNull()
    await rm(join(stateDir, `.${toHex(sha256(utf8(ORIGIN)))}.checkpoint.tmp`), { recursive: true })
    expect((await witness.addCheckpoint(await log.request(0))).status).toBe(200)
  })

  it('an extra check (a mirror comparing with its own view) refuses with 422 and keeps the old state', async () => {
    const { log, witness } = await setup(undefined, { extraCheck: (c) => (c.size > 4 ? 'not what this mirror verified' : null) })
    log.grow(4)
    expect((await witness.addCheckpoint(await log.request(0))).status).toBe(200)
    log.grow(5)
    expect(await witness.addCheckpoint(await log.request(4))).toMatchObject({ status: 422, body: 'not what this mirror verified\n' })
    expect(witness.tree(ORIGIN)!.size).toBe(4)
  })
})

describe('random histories with a fork signed by the log key', () => {
  it('never yield cosignatures on both sides of the fork, whatever the order and concurrency', async () => {
    const honest = await TestLog.create()
    const forked = new TestLog(honest.signer, 'a') // the same leaves up to FORK_AT, then others
    const FORK_AT = 6
    honest.grow(24)
    forked.grow(FORK_AT)
    forked.prefix = 'fork'
    forked.grow(24)
    const op = fc.record({ fork: fc.boolean(), size: fc.integer({ min: 0, max: 24 }), guessOld: fc.option(fc.integer({ min: 0, max: 24 }), { nil: undefined }) })
    await fc.assert(
      fc.asyncProperty(fc.array(fc.array(op, { minLength: 1, maxLength: 3 }), { minLength: 1, maxLength: 8 }), async (batches) => {
        const { witness } = await setup(honest)
        const cosigned: { fork: boolean; size: number }[] = []
        for (const batch of batches) {
          // Each batch runs concurrently; `old` is the witness's size when the batch starts, or a guess.
          const known = witness.tree(ORIGIN)?.size ?? 0
          await Promise.all(
            batch.map(async ({ fork, size, guessOld }) => {
              const tree = fork ? forked : honest
              const old = Math.min(guessOld ?? known, size)
              const answer = await witness.addCheckpoint(await tree.request(old, size))
              if (answer.status === 200) cosigned.push({ fork, size })
              else expect([400, 409, 422]).toContain(answer.status)
            }),
          )
        }
        const past = cosigned.filter((c) => c.size > FORK_AT)
        expect(new Set(past.map((c) => c.fork)).size).toBeLessThanOrEqual(1)
        const sizes = cosigned.map((c) => c.size)
        expect(witness.tree(ORIGIN)?.size ?? 0).toBe(sizes.length ? Math.max(...sizes) : 0)
        await witness.close()
      }),
      { numRuns: 40 },
    )
  })
})

describe('cosignature timestamps', () => {
  it('never date a larger tree before a smaller one, even with the clock stepped back or after a restart', async () => {
    let clock = NOW_MS
    const { log, witness, options, signer } = await setup(undefined, { now: () => clock })
    const key = parseCosignatureVerifierKey(cosignatureVerifierKeyOf(signer))
    const stamp = async (body: string) => (await verifyCosignatures(addCosignatures(await log.checkpoint(), body), [key], { threshold: 1, now: () => NOW_MS })).cosigners[0]!.timestamp
    log.grow(2)
    expect(await stamp((await witness.addCheckpoint(await log.request(0))).body)).toBe(NOW_MS / 1000)
    clock = NOW_MS - 3_600_000
    log.grow(4)
    expect(await stamp((await witness.addCheckpoint(await log.request(2))).body)).toBe(NOW_MS / 1000)
    await witness.close()
    const again = await Witness.open({ ...options, now: () => clock })
    witnesses.push(again)
    log.grow(5)
    expect(await stamp((await again.addCheckpoint(await log.request(4))).body)).toBe(NOW_MS / 1000)
  })
})

describe('the witness over HTTP', () => {
  it('answers POST /add-checkpoint and GET /<origin hash>/checkpoint with the spec content types', async () => {
    const { log, witness, signer } = await setup()
    const server = await startWitnessServer(witness, 0)
    try {
      const hash = toHex(sha256(utf8(ORIGIN)))
      expect((await fetch(`${server.url}/${hash}/checkpoint`)).status).toBe(404)
      log.grow(4)
      const ok = await fetch(`${server.url}/add-checkpoint`, { method: 'POST', body: await log.request(0) })
      expect(ok.status).toBe(200)
      const line = await ok.text()
      const conflict = await fetch(`${server.url}/add-checkpoint`, { method: 'POST', body: await log.request(0) })
      expect(conflict.status).toBe(409)
      expect(conflict.headers.get('content-type')).toBe('text/x.tlog.size')
      expect(await conflict.text()).toBe('4\n')
      const monitored = await fetch(`${server.url}/${hash}/checkpoint`)
      expect(monitored.status).toBe(200)
      const note = await monitored.text()
      expect(note.endsWith(line)).toBe(true)
      await verifyCosignatures(note, [parseCosignatureVerifierKey(cosignatureVerifierKeyOf(signer))], { threshold: 1, now: () => NOW_MS })
      expect((await fetch(`${server.url}/add-checkpoint`)).status).toBe(405)
      expect((await fetch(`${server.url}/add-checkpoint`, { method: 'POST', body: 'x'.repeat(70 * 1024) })).status).toBe(413)
    } finally {
      await server.close()
    }
  })
})
