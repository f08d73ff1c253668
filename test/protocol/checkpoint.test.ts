/** tlog-checkpoint bodies: format/parse round trips, strict rejects, signing and opening. */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { fromBase64, toBase64 } from '../../src/protocol/bytes.ts'
import { signerFromSeed } from '../../src/protocol/ed25519.ts'
import {
  CheckpointError,
  formatCheckpoint,
  openCheckpoint,
  parseCheckpoint,
  signCheckpoint,
  type Checkpoint,
} from '../../src/protocol/checkpoint.ts'
import { NoteError, noteSignerFromKey, signNote, verifierKeyOf } from '../../src/protocol/note.ts'
import { formatSignerKey, parseVerifierKey } from '../../src/protocol/note-keys.ts'

// The example of c2sp.org/tlog-checkpoint.
const SPEC_TEXT = 'example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n'

const ROOT = fromBase64('CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=')

const oneLine = (min: number) =>
  fc.string({ unit: 'binary', minLength: min, maxLength: 30 }).map((s) => s.replace(/[\x00-\x1f]/g, ''))
const checkpointArb: fc.Arbitrary<Checkpoint> = fc.record({
  origin: oneLine(1).filter((s) => s !== ''),
  size: fc.maxSafeNat(),
  rootHash: fc.uint8Array({ minLength: 32, maxLength: 32 }),
  extensions: fc.array(
    oneLine(1).filter((s) => s !== ''),
    { maxLength: 3 },
  ),
})

async function logSigner(name: string, seedByte = 7) {
  const seed = new Uint8Array(32).fill(seedByte)
  const { publicKey } = await signerFromSeed(seed)
  const signer = await noteSignerFromKey(formatSignerKey(name, seed, publicKey))
  return { signer, verifier: parseVerifierKey(verifierKeyOf(signer)) }
}

function expectMalformed(text: string, message?: string) {
  let error: unknown
  try {
    parseCheckpoint(text)
  } catch (e) {
    error = e
  }
  expect(error, JSON.stringify(text)).toBeInstanceOf(CheckpointError)
  expect((error as CheckpointError).code).toBe('malformed')
  if (message) expect((error as CheckpointError).message).toContain(message)
}

describe('checkpoint text', () => {
  it('parses the spec example', () => {
    expect(parseCheckpoint(SPEC_TEXT)).toEqual({
      origin: 'example.com/behind-the-sofa',
      size: 20852163,
      rootHash: ROOT,
      extensions: [],
    })
  })

  it('formats exactly', () => {
    const c = { origin: 'example.com/behind-the-sofa', size: 20852163, rootHash: ROOT, extensions: [] }
    expect(formatCheckpoint(c)).toBe(SPEC_TEXT)
    expect(formatCheckpoint({ ...c, size: 0, extensions: ['ext one', '— two'] })).toBe(
      'example.com/behind-the-sofa\n0\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\next one\n— two\n',
    )
  })

  it('round-trips any checkpoint (property)', () => {
    fc.assert(
      fc.property(checkpointArb, (c) => {
        const text = formatCheckpoint(c)
        expect(parseCheckpoint(text)).toEqual(c)
        expect(formatCheckpoint(parseCheckpoint(text))).toBe(text)
      }),
    )
  })

  it('parses only what it would format (property)', () => {
    const lines = fc.array(fc.oneof(oneLine(0), fc.constantFrom('0', '12', '007', SPEC_TEXT.split('\n')[2]!)), {
      maxLength: 6,
    })
    fc.assert(
      fc.property(lines, fc.boolean(), (parts, newline) => {
        const text = parts.join('\n') + (newline ? '\n' : '')
        let parsed: Checkpoint | undefined
        try {
          parsed = parseCheckpoint(text)
        } catch (e) {
          expect(e).toBeInstanceOf(CheckpointError)
          return
        }
        expect(formatCheckpoint(parsed)).toBe(text)
      }),
    )
  })

  it('rejects malformed text', () => {
    const [origin, size, root] = SPEC_TEXT.split('\n') as [string, string, string]
    expectMalformed(SPEC_TEXT.slice(0, -1), 'newline')
    expectMalformed(`${origin}\n${size}\n`, 'root hash')
    expectMalformed(`${origin}\n${size}\n${root}\n\n`, 'empty extension')
    expectMalformed(`${origin}\n${size}\n${root}\next\n\n`, 'empty extension')
    expectMalformed(`\n${size}\n${root}\n`, 'origin')
    expectMalformed('')
    expectMalformed('\n')
    for (const bad of ['', '01', '00', '+1', '-1', ' 1', '1 ', '1.0', '1e3', '0x10', '٣', '9007199254740992']) {
      expectMalformed(`${origin}\n${bad}\n${root}\n`)
    }
    for (const bad of [
      '',
      root.slice(0, -1),
      `${root}=`,
      root.replace('/', '_'),
      toBase64(new Uint8Array(31)),
      toBase64(new Uint8Array(33)),
      ` ${root}`,
      'CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2J=', // non-zero padding bits
    ]) {
      expectMalformed(`${origin}\n${size}\n${bad}\n`, 'root hash')
    }
    expectMalformed(SPEC_TEXT.replace(/\n/g, '\r\n'))
    expectMalformed(`${origin}\t\n${size}\n${root}\n`, 'control')
    expectMalformed(`${origin}\n${size}\n${root}\nex\x7ft\x01\n`, 'control')
  })

  it('parses the largest safe tree size', () => {
    const [origin, , root] = SPEC_TEXT.split('\n')
    expect(parseCheckpoint(`${origin}\n9007199254740991\n${root}\n`).size).toBe(Number.MAX_SAFE_INTEGER)
  })

  it('refuses to format invalid fields', () => {
    const c = { origin: 'log', size: 1, rootHash: ROOT, extensions: [] }
    for (const bad of [
      { origin: '' },
      { origin: 'a\nb' },
      { size: -1 },
      { size: 1.5 },
      { size: 2 ** 53 },
      { size: Number.NaN },
      { rootHash: new Uint8Array(31) },
      { extensions: [''] },
      { extensions: ['a\nb'] },
    ]) {
      expect(() => formatCheckpoint({ ...c, ...bad }), JSON.stringify(bad)).toThrow(CheckpointError)
    }
  })
})

describe('signed checkpoints', () => {
  const checkpoint: Checkpoint = { origin: 'whodis.example/log', size: 42, rootHash: ROOT, extensions: [] }

  it('signs and opens', async () => {
    const { signer, verifier } = await logSigner('whodis.example/log')
    const note = await signCheckpoint(checkpoint, signer)
    expect(note.startsWith(`${formatCheckpoint(checkpoint)}\n— whodis.example/log `)).toBe(true)
    expect(await openCheckpoint(note, verifier)).toEqual(checkpoint)
    expect(await openCheckpoint(new TextEncoder().encode(note), verifier)).toEqual(checkpoint)
  })

  it('requires the expected origin', async () => {
    const { signer, verifier } = await logSigner('whodis.example/log')
    const note = await signCheckpoint({ ...checkpoint, origin: 'other.example/log' }, signer)
    const error = await openCheckpoint(note, verifier).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(CheckpointError)
    expect((error as CheckpointError).code).toBe('wrong_origin')
    expect((error as Error).message).toContain('"other.example/log"')
    expect(await openCheckpoint(note, verifier, 'other.example/log')).toEqual({ ...checkpoint, origin: 'other.example/log' })
    await expect(openCheckpoint(await signCheckpoint(checkpoint, signer), verifier, 'x')).rejects.toThrow(CheckpointError)
  })

  it('rejects a checkpoint signed by another key', async () => {
    const { verifier } = await logSigner('whodis.example/log', 7)
    const { signer: other } = await logSigner('whodis.example/log', 8)
    const error = await openCheckpoint(await signCheckpoint(checkpoint, other), verifier).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(NoteError)
    expect((error as NoteError).code).toBe('unverified')
  })

  it('rejects a tampered checkpoint', async () => {
    const { signer, verifier } = await logSigner('whodis.example/log')
    const note = await signCheckpoint(checkpoint, signer)
    const error = await openCheckpoint(note.replace('\n42\n', '\n43\n'), verifier).catch((e: unknown) => e)
    expect((error as NoteError).code).toBe('bad_signature')
  })

  it('rejects a validly signed note that is not a checkpoint', async () => {
    const { signer, verifier } = await logSigner('whodis.example/log')
    const note = await signNote('whodis.example/log\n042\nnot a hash\n', signer)
    await expect(openCheckpoint(note, verifier)).rejects.toThrow(CheckpointError)
  })

  it('accepts witness cosignatures from unknown keys', async () => {
    const { signer, verifier } = await logSigner('whodis.example/log')
    const { signer: witness } = await logSigner('witness.example', 9)
    const note = await signNote(formatCheckpoint(checkpoint), signer, witness)
    expect(await openCheckpoint(note, verifier)).toEqual(checkpoint)
  })
})
