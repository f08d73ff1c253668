/** c2sp.org/tlog-proof text: the spec's example, round trips, and strict rejects. */
import fc from 'fast-check'
import { beforeAll, describe, expect, it } from 'vitest'
import { fromBase64, toBase64 } from '../../src/protocol/bytes.ts'
import { signerFromSeed } from '../../src/protocol/ed25519.ts'
import { signCheckpoint } from '../../src/protocol/checkpoint.ts'
import { noteSignerFromKey, signNote } from '../../src/protocol/note.ts'
import { formatSignerKey } from '../../src/protocol/note-keys.ts'
import {
  MAX_PROOF_HASHES,
  TLOG_PROOF_HEADER,
  TlogProofError,
  formatTlogProof,
  formatTlogProofs,
  parseTlogProof,
  type TlogProof,
} from '../../src/protocol/tlog-proof.ts'

// The head of the example in c2sp.org/tlog-proof; its checkpoint's signatures are elided
// there, so a real checkpoint note is signed below.
const SPEC_HEAD = `c2sp.org/tlog-proof@v1
extra YWdlLXYxLjIuMS1kYXJ3aW4tYXJtNjQudGFyLmd6kYXJ3aW4tYXJ
index 73894
gSKyXoYZUgZ6jduWYrkDOARinOMGJveXjgMkBTcdPlQ=
B95lDa8R83lS8n0eG+o0buTxRKQTYFi//1U8anccXmA=
EKNzoDWG8LGC0Yp9o+sv3qllpMP9uHQ9B20KNL+Q1zs=
RoopEkOdqkYqMB4MJXrbt/hMjOxsVn0IrWjpz1ZMMes=
AHCioX9nLjsrse6YhjRRmk1WUEirVOLLRoOQ6vfO5vk=

`

let checkpoint: string

beforeAll(async () => {
  const seed = new Uint8Array(32).fill(3)
  const { publicKey } = await signerFromSeed(seed)
  const signer = await noteSignerFromKey(formatSignerKey('example.com/fancylog', seed, publicKey))
  checkpoint = await signCheckpoint(
    {
      origin: 'example.com/fancylog',
      size: 109482,
      rootHash: fromBase64('sFodV/vSp5O8n9a8QpW6PRY97tfOSW5bsc2Xl/EQi08='),
      extensions: [],
    },
    signer,
  )
})

function expectMalformed(text: string, message?: string) {
  expect(() => parseTlogProof(text), JSON.stringify(text)).toThrow(TlogProofError)
  if (message) expect(() => parseTlogProof(text)).toThrow(message)
}

describe('tlog-proof', () => {
  it("parses and re-formats the spec's example byte for byte", () => {
    const text = SPEC_HEAD + checkpoint
    const proof = parseTlogProof(text)
    expect(new TextDecoder().decode(proof.extra)).toMatch(/^age-v1\.2\.1-darwin-arm64\.tar\.gz/)
    expect(proof.index).toBe(73894)
    expect(proof.hashes.map(toBase64)).toEqual(SPEC_HEAD.split('\n').slice(3, 8))
    expect(proof.checkpoint).toBe(checkpoint)
    expect(formatTlogProof(proof)).toBe(text)
  })

  it('formats the minimal proof', () => {
    const proof: TlogProof = { index: 0, hashes: [], checkpoint }
    const text = formatTlogProof(proof)
    expect(text).toBe(`${TLOG_PROOF_HEADER}\nindex 0\n\n${checkpoint}`)
    expect(parseTlogProof(text)).toEqual(proof)
    expect('extra' in parseTlogProof(text)).toBe(false)
  })

  it('keeps an empty extra distinct from none', () => {
    const proof: TlogProof = { extra: new Uint8Array(0), index: 5, hashes: [], checkpoint }
    const text = formatTlogProof(proof)
    expect(text.split('\n')[1]).toBe('extra ')
    expect(parseTlogProof(text)).toEqual(proof)
  })

  it('round-trips any proof (property)', () => {
    const proofArb = fc.record(
      {
        extra: fc.uint8Array({ maxLength: 80 }),
        index: fc.maxSafeNat(),
        hashes: fc.array(fc.uint8Array({ minLength: 32, maxLength: 32 }), { maxLength: MAX_PROOF_HASHES }),
        checkpoint: fc.constant(''),
      },
      { requiredKeys: ['index', 'hashes', 'checkpoint'] },
    )
    fc.assert(
      fc.property(proofArb, (p) => {
        const proof = { ...p, checkpoint }
        const text = formatTlogProof(proof)
        expect(parseTlogProof(text)).toEqual(proof)
        expect(formatTlogProof(parseTlogProof(text))).toBe(text)
      }),
    )
  })

  it('formats a batch against one checkpoint exactly as one at a time, and refuses what it refuses', () => {
    const proofs = Array.from({ length: 5 }, (_, i) => ({ index: i * 7, hashes: Array.from({ length: i }, (_, k) => new Uint8Array(32).fill(k + i)) }))
    expect(formatTlogProofs(checkpoint, proofs)).toEqual(proofs.map((p) => formatTlogProof({ ...p, checkpoint })))
    expect(() => formatTlogProofs('not a note\n', proofs)).toThrow(TlogProofError)
    expect(() => formatTlogProofs(checkpoint, [{ index: -1, hashes: [] }])).toThrow(TlogProofError)
  })

  it('rejects malformed proofs', () => {
    const ok = SPEC_HEAD + checkpoint
    const hash = 'gSKyXoYZUgZ6jduWYrkDOARinOMGJveXjgMkBTcdPlQ='
    const cases: [string, string][] = [
      ['', 'ends before'],
      [ok.replace('c2sp.org/tlog-proof@v1', 'c2sp.org/tlog-proof@v2'), 'first line'],
      [`\n${ok}`, 'first line'],
      [ok.replace(/\n/g, '\r\n'), 'first line'],
      [ok.replace('extra YWdl', 'extra  YWdl'), 'extra'],
      [ok.replace('extra YWdl', 'extra YWd'), 'extra'],
      [ok.replace('extra YWdl', 'extra YW-l'), 'extra'],
      [ok.replace('extra ', 'extra\t'), 'index'],
      [ok.replace('extra ', 'Extra '), 'index'],
      [ok.replace('index 73894', 'index 073894'), 'index'],
      [ok.replace('index 73894', 'index  73894'), 'index'],
      [ok.replace('index 73894', 'index -1'), 'index'],
      [ok.replace('index 73894', 'index'), 'index'],
      [ok.replace('index 73894', 'index 9007199254740992'), 'too large'],
      [ok.replace('index 73894\n', ''), 'index'],
      [ok.replace(`index 73894\n`, `index 73894\n${hash}\n`).replace('extra', 'index 1\nextra'), 'hash'],
      [ok.replace(hash, hash.slice(0, -1)), 'proof hash'],
      [ok.replace('B95lDa8R83lS8n0eG+o0', 'B95lDa8R83lS8n0eG-o0'), 'proof hash'],
      [ok.replace(hash, toBase64(new Uint8Array(31))), 'proof hash'],
      [ok.replace(hash, toBase64(new Uint8Array(33))), 'proof hash'],
      [ok.replace(hash, `${hash} `), 'proof hash'],
      [ok.replace(hash, 'gSKyXoYZUgZ6jduWYrkDOARinOMGJveXjgMkBTcdPlR='), 'proof hash'],
      [SPEC_HEAD.slice(0, -1) + checkpoint, 'proof hash'], // no blank line: the origin is read as a hash
      [SPEC_HEAD.slice(0, -2), 'ends before'],
      [SPEC_HEAD, 'checkpoint'],
      [`${ok}trailing garbage\n`, 'checkpoint'],
      [`${ok}\n`, 'checkpoint'],
      [ok.slice(0, -1), 'checkpoint'],
      [SPEC_HEAD + checkpoint.replace('\n109482\n', '\n0109482\n'), 'checkpoint'],
      [`${SPEC_HEAD}\n${checkpoint}`, 'checkpoint'],
    ]
    for (const [text, message] of cases) {
      expect(text, message).not.toBe(ok)
      expectMalformed(text, message)
    }
  })

  it('rejects a checkpoint that is a signed note but not a checkpoint', async () => {
    const seed = new Uint8Array(32).fill(4)
    const { publicKey } = await signerFromSeed(seed)
    const signer = await noteSignerFromKey(formatSignerKey('log.example', seed, publicKey))
    expectMalformed(`${TLOG_PROOF_HEADER}\nindex 0\n\n${await signNote('hello\n', signer)}`, 'checkpoint')
  })

  it('caps the proof at 63 hashes', () => {
    const hashes = Array.from({ length: MAX_PROOF_HASHES }, (_, i) => new Uint8Array(32).fill(i))
    const text = formatTlogProof({ index: 1, hashes, checkpoint })
    expect(parseTlogProof(text).hashes).toHaveLength(63)
    const tooMany = text.replace('index 1\n', `index 1\n${toBase64(new Uint8Array(32))}\n`)
    expectMalformed(tooMany, 'more than 63')
    expect(() => formatTlogProof({ index: 1, hashes: [...hashes, hashes[0]!], checkpoint })).toThrow('more than 63')
  })

  it('refuses to format invalid fields', () => {
    const proof: TlogProof = { index: 1, hashes: [new Uint8Array(32)], checkpoint }
    for (const bad of [
      { index: -1 },
      { index: 0.5 },
      { index: 2 ** 53 },
      { hashes: [new Uint8Array(31)] },
      { checkpoint: '' },
      { checkpoint: 'not a note\n' },
      { checkpoint: `${checkpoint}garbage` },
    ]) {
      expect(() => formatTlogProof({ ...proof, ...bad }), JSON.stringify(bad)).toThrow(TlogProofError)
    }
  })
})
