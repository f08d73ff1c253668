/** Signed notes: Go's published vectors, round trips, tampering and malformed input. */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { concat, fromBase64, toBase64, toHex, utf8 } from '../../src/protocol/bytes.ts'
import { randomSeed, signerFromSeed } from '../../src/protocol/ed25519.ts'
import {
  MAX_NOTE_BYTES,
  NoteError,
  isNoteKeyName,
  noteSignerFromKey,
  openNote,
  signNote,
  splitNote,
  verifierKeyOf,
  type NoteErrorCode,
  type NoteSigner,
} from '../../src/protocol/note.ts'
import { formatSignerKey, parseVerifierKey } from '../../src/protocol/note-keys.ts'

// Vectors from golang.org/x/mod/sumdb/note/note_test.go.
const PETER_SIGNER = 'PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz'
const PETER = parseVerifierKey('PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW')
const ENOCH = parseVerifierKey('EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop')
const TEXT = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n"
const PETER_SIG =
  '— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n'
const ENOCH_SIG =
  '— EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ=\n'
const PETER_NOTE = `${TEXT}\n${PETER_SIG}`

/** Asserts that `promise` rejects with a NoteError of `code`. */
async function expectNoteError(promise: Promise<unknown>, code: NoteErrorCode): Promise<NoteError> {
  const error = await promise.then(
    () => null,
    (e: unknown) => e,
  )
  expect(error).toBeInstanceOf(NoteError)
  expect((error as NoteError).code).toBe(code)
  return error as NoteError
}

async function newSigner(name: string): Promise<NoteSigner> {
  const seed = randomSeed()
  const { publicKey } = await signerFromSeed(seed)
  return noteSignerFromKey(formatSignerKey(name, seed, publicKey))
}

const ids = (keys: { name: string; keyId: Uint8Array }[]) => keys.map((k) => `${k.name}+${toHex(k.keyId)}`)

describe('Go test vectors', () => {
  it('signs the PeterNeumann note byte for byte', async () => {
    const signer = await noteSignerFromKey(PETER_SIGNER)
    expect(toHex(signer.keyId)).toBe('c74f20a3')
    expect(verifierKeyOf(signer)).toBe('PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW')
    expect(await signNote(TEXT, signer)).toBe(PETER_NOTE)
  })

  it('opens with one key known and one unknown', async () => {
    const opened = await openNote(`${TEXT}\n${PETER_SIG}${ENOCH_SIG}`, [PETER])
    expect(opened.text).toBe(TEXT)
    expect(opened.verified).toEqual([PETER])
    expect(ids(opened.unknown)).toEqual(['EnochRoot+af0cfe78'])
  })

  it('opens with both keys known', async () => {
    const opened = await openNote(`${TEXT}\n${PETER_SIG}${ENOCH_SIG}`, [PETER, ENOCH])
    expect(opened.verified).toEqual([PETER, ENOCH])
    expect(opened.unknown).toEqual([])
  })

  it('rejects a note no known key signed', async () => {
    const error = await expectNoteError(openNote(`${TEXT}\n${PETER_SIG}${ENOCH_SIG}`, []), 'unverified')
    expect(error.message).toContain('PeterNeumann+c74f20a3')
  })

  it('rejects more than 100 signatures', async () => {
    await expectNoteError(openNote(`${TEXT}\n${PETER_SIG.repeat(101)}`, [PETER]), 'too_big')
    await expectNoteError(openNote(`${TEXT}\n${PETER_SIG.repeat(101)}`, []), 'too_big')
    expect((await openNote(`${TEXT}\n${PETER_SIG.repeat(100)}`, [PETER])).verified).toEqual([PETER])
  })

  it('rejects an invalid signature by a known key', async () => {
    const note = `${TEXT}\n${PETER_SIG.slice(0, 60)}ABCD${PETER_SIG.slice(60)}`
    const error = await expectNoteError(openNote(note, [PETER]), 'bad_signature')
    expect(error.message).toBe('invalid signature for key PeterNeumann+c74f20a3')
    // Even when another known key signed it correctly.
    await expectNoteError(openNote(`${TEXT}\n${ENOCH_SIG}${note.slice(TEXT.length + 1)}`, [PETER, ENOCH]), 'bad_signature')
  })

  it('verifies every signature line of a known key: a bad one refuses the note wherever it is', async () => {
    const bad = `${PETER_SIG.slice(0, 60)}ABCD${PETER_SIG.slice(60)}`
    for (const lines of [
      [PETER_SIG, bad],
      [bad, PETER_SIG],
      [PETER_SIG, ENOCH_SIG, bad],
      [PETER_SIG, PETER_SIG, bad, PETER_SIG],
    ]) {
      await expectNoteError(openNote(`${TEXT}\n${lines.join('')}`, [PETER]), 'bad_signature')
    }
    // The same signature bytes written twice (here with non-zero padding bits) verify once and list the key once.
    const sameBytes = PETER_SIG.replace('AM=', 'AN=')
    expect(fromBase64(sameBytes.slice(16, -1))).toEqual(fromBase64(PETER_SIG.slice(16, -1)))
    expect((await openNote(`${TEXT}\n${PETER_SIG}${sameBytes}`, [PETER])).verified).toEqual([PETER])
  })

  it('drops repeated verified and unverified signatures', async () => {
    const enochABCD = `${ENOCH_SIG.slice(0, 60)}ABCD${ENOCH_SIG.slice(60)}`
    const note = `${TEXT}\n${PETER_SIG}${PETER_SIG}${ENOCH_SIG}${ENOCH_SIG}${enochABCD}`
    const opened = await openNote(note, [PETER])
    expect(opened.verified).toEqual([PETER])
    expect(ids(opened.unknown)).toEqual(['EnochRoot+af0cfe78', 'EnochRoot+af0cfe78'])
  })

  it('rejects the malformed messages of note_test.go', async () => {
    const bad = [
      TEXT,
      `${TEXT}\n`,
      `${TEXT}\n${PETER_SIG.slice(0, -1)}`,
      `\x01${TEXT}\n${PETER_SIG}`,
      `${TEXT}\n— Bad Name x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=`,
      `${TEXT}\n${PETER_SIG}Unexpected line.\n`,
    ]
    for (const note of bad) await expectNoteError(openNote(note, [PETER]), 'malformed')
    await expectNoteError(openNote(concat(Uint8Array.of(0xff), utf8(PETER_NOTE)), [PETER]), 'malformed')
  })

  it('ignores a known name with an unknown key id, and a known id with another name', async () => {
    const wrongId = PETER_SIG.replace('x08g', 'xxxx')
    await expectNoteError(openNote(`${TEXT}\n${wrongId}`, [PETER]), 'unverified')
    const misnamed = PETER_SIG.replace('PeterNeumann', 'CarmenSandiego')
    await expectNoteError(openNote(`${TEXT}\n${misnamed}`, [PETER]), 'unverified')
    const opened = await openNote(`${TEXT}\n${misnamed}${wrongId}${PETER_SIG}`, [PETER])
    expect(opened.verified).toEqual([PETER])
    const wrongKeyId = toHex(fromBase64(wrongId.slice('— PeterNeumann '.length, -1)).subarray(0, 4))
    expect(ids(opened.unknown)).toEqual(['CarmenSandiego+c74f20a3', `PeterNeumann+${wrongKeyId}`])
  })
})

describe('signing and opening', () => {
  it('round-trips any valid text with several signers', async () => {
    const signers = await Promise.all(['a.example/log', 'b.example/w1', 'c.example/w2'].map(newSigner))
    const verifiers = signers.map((s) => parseVerifierKey(verifierKeyOf(s)))
    const line = fc.string({ unit: 'binary', maxLength: 40 }).map((s) => s.replace(/[\x00-\x1f]/g, ''))
    const text = fc.array(line, { minLength: 1, maxLength: 6 }).map((lines) => lines.join('\n') + '\n')
    await fc.assert(
      fc.asyncProperty(text, fc.integer({ min: 1, max: 3 }), async (text, count) => {
        const note = await signNote(text, ...signers.slice(0, count))
        const opened = await openNote(note, verifiers)
        expect(opened.text).toBe(text)
        expect(opened.verified).toEqual(verifiers.slice(0, count))
        expect((await openNote(utf8(note), verifiers)).text).toBe(text)
        expect(splitNote(note).signatures.map((s) => s.name)).toEqual(signers.slice(0, count).map((s) => s.name))
      }),
      { numRuns: 50 },
    )
  })

  it('keeps blank lines, em-dash lines and a BOM inside the text', async () => {
    const signer = await newSigner('example.com/log')
    const verifier = parseVerifierKey(verifierKeyOf(signer))
    for (const text of ['\n', '\n\n\n', 'a\n\nb\n\n', `a\n\n${PETER_SIG}`, '\uFEFFbom\n', '— \n\n— x y\n', '😀\n']) {
      const note = await signNote(text, signer)
      expect((await openNote(note, [verifier])).text).toBe(text)
      expect((await openNote(utf8(note), [verifier])).text).toBe(text)
    }
  })

  it('reports unknown co-signers and tolerates a repeated identical key', async () => {
    const [log, witness] = await Promise.all([newSigner('log.example'), newSigner('witness.example')])
    const note = await signNote('checkpoint\n', log, witness)
    const logKey = parseVerifierKey(verifierKeyOf(log))
    const opened = await openNote(note, [logKey, logKey])
    expect(opened.verified).toEqual([logKey])
    expect(opened.unknown).toEqual([{ name: 'witness.example', keyId: witness.keyId }])
  })

  it('refuses two different known keys with one name and key id', async () => {
    const signer = await newSigner('log.example')
    const key = parseVerifierKey(verifierKeyOf(signer))
    const impostor = { ...key, publicKey: new Uint8Array(32).fill(1) }
    await expect(openNote(await signNote('x\n', signer), [key, impostor])).rejects.toThrow('ambiguous key')
  })

  it('refuses text it could not open again', async () => {
    const signer = await noteSignerFromKey(PETER_SIGNER)
    for (const text of ['', 'abc', 'a\n\x01\n', 'tab\there\n', 'cr\r\n', 'lone \uD800 surrogate\n']) {
      await expectNoteError(signNote(text, signer), 'malformed')
    }
    await expect(signNote(TEXT)).rejects.toThrow('at least one signer')
    await expect(signNote(TEXT, { ...signer, name: 'bad name' })).rejects.toThrow('invalid signer name')
    await expectNoteError(signNote('a'.repeat(MAX_NOTE_BYTES) + '\n', signer), 'too_big')
  })

  it('rejects a signer key whose key id does not match its seed', async () => {
    await expect(noteSignerFromKey(PETER_SIGNER.replace('c74f20a3', 'c74f20a4'))).rejects.toThrow('does not match')
    await expect(noteSignerFromKey(PETER_SIGNER.replace('PeterNeumann', 'PeterNeuman'))).rejects.toThrow('does not match')
  })
})

describe('tampering', () => {
  it('rejects changed text', async () => {
    await expectNoteError(openNote(PETER_NOTE.replace('problem,', 'problem;'), [PETER]), 'bad_signature')
    await expectNoteError(openNote(`extra line\n${PETER_NOTE}`, [PETER]), 'bad_signature')
  })

  it('rejects any flipped signature byte', async () => {
    const line = PETER_SIG.slice('— PeterNeumann '.length, -1)
    const raw = fromBase64(line)
    for (let i = 4; i < raw.length; i++) {
      const flipped = raw.slice()
      flipped[i]! ^= 0x80
      const note = `${TEXT}\n— PeterNeumann ${toBase64(flipped)}\n`
      await expectNoteError(openNote(note, [PETER]), 'bad_signature')
    }
  })

  it('treats a changed key id or a signature by another key as unverified', async () => {
    const raw = fromBase64(PETER_SIG.slice('— PeterNeumann '.length, -1))
    raw[0]! ^= 1
    await expectNoteError(openNote(`${TEXT}\n— PeterNeumann ${toBase64(raw)}\n`, [PETER]), 'unverified')
    const other = await newSigner('PeterNeumann')
    await expectNoteError(openNote(await signNote(TEXT, other), [PETER]), 'unverified')
  })

  it('rejects a signature too short or too long for Ed25519', async () => {
    const raw = fromBase64(PETER_SIG.slice('— PeterNeumann '.length, -1))
    for (const sig of [raw.subarray(0, 67), concat(raw, Uint8Array.of(0))]) {
      await expectNoteError(openNote(`${TEXT}\n— PeterNeumann ${toBase64(sig)}\n`, [PETER]), 'bad_signature')
    }
  })
})

describe('malformed notes', () => {
  const cases: [string, string | Uint8Array][] = [
    ['no blank line', `${TEXT}${PETER_SIG}`],
    ['no signature', `${TEXT}\n`],
    ['missing trailing newline', PETER_NOTE.slice(0, -1)],
    ['signature with base64url', PETER_NOTE.replace('x08go/', 'x08go_')],
    ['signature without padding', PETER_NOTE.replace('AM=\n', 'AM\n')],
    ['signature with bad base64', PETER_NOTE.replace('x08go', 'x08g!')],
    ['signature with no key name', `${TEXT}\n—  x08go/ZJ\n`],
    ['signature with no base64', `${TEXT}\n— PeterNeumann\n`],
    ['signature with empty base64', `${TEXT}\n— PeterNeumann \n`],
    ['signature of four bytes', `${TEXT}\n— PeterNeumann x08gow==\n`],
    ['signature with hyphen prefix', PETER_NOTE.replace('—', '-')],
    ['signature with two spaces', PETER_NOTE.replace('— Peter', '—  Peter')],
    ['CRLF line ends', PETER_NOTE.replace(/\n/g, '\r\n')],
    ['NUL byte', `${TEXT}\0\n${PETER_SIG}`],
    ['invalid UTF-8', concat(utf8(TEXT), Uint8Array.of(0xc3, 0x28, 0x0a, 0x0a), utf8(PETER_SIG))],
    ['UTF-8 encoded surrogate', concat(Uint8Array.of(0xed, 0xa0, 0x80, 0x0a), utf8(`\n${PETER_SIG}`))],
    ['lone surrogate in string', `\uDC00${PETER_NOTE}`],
    ['empty', ''],
  ]
  for (const [what, note] of cases) {
    it(`rejects a note with ${what}`, async () => {
      await expectNoteError(openNote(note, [PETER]), 'malformed')
    })
  }

  it('rejects an oversize note', async () => {
    const big = `${'a'.repeat(MAX_NOTE_BYTES)}\n\n${PETER_SIG}`
    await expectNoteError(openNote(big, [PETER]), 'too_big')
    await expectNoteError(openNote(utf8(big), [PETER]), 'too_big')
    // Counted in UTF-8 bytes, not UTF-16 units.
    await expectNoteError(openNote(`${'é'.repeat(MAX_NOTE_BYTES / 2)}\n\n${PETER_SIG}`, [PETER]), 'too_big')
  })
})

describe('key names', () => {
  it("follows Go's isValidName", () => {
    for (const name of ['PeterNeumann', 'example.com/log', 'ünï/名前', 'a\u200bb', 'a\ufeffb']) {
      expect(isNoteKeyName(name), JSON.stringify(name)).toBe(true)
    }
    for (const name of ['', 'a+b', 'a b', 'a\u0085b', 'a\u00a0b', 'a\u2028b', 'a\u3000b', 'a\u1680b']) {
      expect(isNoteKeyName(name), JSON.stringify(name)).toBe(false)
    }
  })
})
