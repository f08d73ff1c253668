/** bytes.ts, note-keys.ts and ed25519.ts: encodings, key strings, and RFC 8032 vectors. */
import { sha256 } from '@noble/hashes/sha2.js'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  concat,
  constantTimeEqual,
  fromBase64,
  fromHex,
  fromStdBase64,
  toBase64,
  toBase64Url,
  toHex,
  utf8,
} from '../../src/protocol/bytes.ts'
import { randomSeed, signerFromSeed, verifyEd25519 } from '../../src/protocol/ed25519.ts'
import {
  formatSignerKey,
  formatVerifierKey,
  isValidKeyName,
  noteKeyId,
  parseAnyVerifierKey,
  parseCosignatureVerifierKey,
  parseSignerKey,
  parseVerifierKey,
} from '../../src/protocol/note-keys.ts'
import { isNoteKeyName, openNote, signNote, noteSignerFromKey, type NoteSigner } from '../../src/protocol/note.ts'

// From golang.org/x/mod/sumdb/note/note_test.go.
const PETER_SIGNER = 'PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz'
const PETER_VERIFIER = 'PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW'
const ENOCH_VERIFIER = 'EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop'
// A witness's cosignature/v1 key (type 0x04), from transparency-dev/formats note/note_cosigv1_test.go.
const WITNESS_VERIFIER = 'remora.n621.de+da77ade7+BOvN63jn/bLvkieywe8R6UYAtVtNbZpXh34x7onlmtw2'

// RFC 8032 section 7.1, test 1.
const RFC8032_SEED = '9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60'
const RFC8032_PUBLIC = 'd75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a'
const RFC8032_SIGNATURE =
  'e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b'

describe('bytes', () => {
  it('round-trips hex and base64', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 100 }), (bytes) => {
        expect(fromHex(toHex(bytes))).toEqual(bytes)
        expect(fromHex(toHex(bytes).toUpperCase())).toEqual(bytes)
        expect(fromBase64(toBase64(bytes))).toEqual(bytes)
        expect(fromBase64(toBase64Url(bytes))).toEqual(bytes)
        expect(toHex(bytes)).toMatch(/^(?:[0-9a-f]{2})*$/)
      }),
    )
  })

  it('encodes known values', () => {
    expect(toHex(Uint8Array.of(0, 1, 0xab, 0xff))).toBe('0001abff')
    expect(toBase64(utf8('foobar'))).toBe('Zm9vYmFy')
    expect(toBase64(utf8('fo'))).toBe('Zm8=')
    expect(toBase64(Uint8Array.of(0xfb, 0xff))).toBe('+/8=')
    expect(toBase64Url(Uint8Array.of(0xfb, 0xff))).toBe('-_8')
    expect(fromBase64('+/8=')).toEqual(Uint8Array.of(0xfb, 0xff))
    expect(toBase64(new Uint8Array(100_000).fill(7))).toHaveLength(133_336)
  })

  it('rejects invalid hex', () => {
    for (const bad of ['0', 'abc', 'zz', '0x00', ' 00', '00 ']) expect(() => fromHex(bad), bad).toThrow('invalid hex')
  })

  it('rejects invalid base64', () => {
    for (const bad of ['A', 'AAAAA', 'Zm9v!', 'Zm 9v', 'Zm9v===', '=Zm9', 'Zm=9v']) {
      expect(() => fromBase64(bad), bad).toThrow('invalid base64')
      expect(() => fromStdBase64(bad), bad).toThrow('invalid base64')
    }
  })

  it('reads standard base64 only where the signed-note formats require it', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 60 }), (bytes) => {
        expect(fromStdBase64(toBase64(bytes))).toEqual(bytes)
        const url = toBase64Url(bytes)
        if (url !== toBase64(bytes)) expect(() => fromStdBase64(url), url).toThrow('invalid base64')
      }),
    )
    for (const bad of ['-_8=', '+/8', 'Zm8', 'Zg', 'Zm9v\n', ' Zm9v']) expect(() => fromStdBase64(bad), bad).toThrow('invalid base64')
  })

  it('concatenates', () => {
    expect(concat()).toEqual(new Uint8Array(0))
    expect(concat(Uint8Array.of(1), new Uint8Array(0), Uint8Array.of(2, 3))).toEqual(Uint8Array.of(1, 2, 3))
  })

  it('compares in constant time', () => {
    expect(constantTimeEqual(Uint8Array.of(1, 2, 3), Uint8Array.of(1, 2, 3))).toBe(true)
    expect(constantTimeEqual(Uint8Array.of(1, 2, 3), Uint8Array.of(1, 2, 4))).toBe(false)
    expect(constantTimeEqual(Uint8Array.of(1, 2, 3), Uint8Array.of(1, 2))).toBe(false)
    expect(constantTimeEqual(new Uint8Array(0), new Uint8Array(0))).toBe(true)
    fc.assert(
      fc.property(fc.uint8Array(), fc.uint8Array(), (a, b) => {
        expect(constantTimeEqual(a, b)).toBe(toHex(a) === toHex(b))
      }),
    )
  })
})

describe('note keys', () => {
  it('parses the Go test vector keys', async () => {
    const verifier = parseVerifierKey(PETER_VERIFIER)
    expect(verifier.name).toBe('PeterNeumann')
    expect(toHex(verifier.keyId)).toBe('c74f20a3')
    expect(toBase64(verifier.publicKey)).toBe('GlzZBxQ8OExB6DDFvOEqqIF+xWSaqr8sMTiLNbLXRNY=')

    const signer = parseSignerKey(PETER_SIGNER)
    expect(signer.name).toBe('PeterNeumann')
    expect(toHex(signer.keyId)).toBe('c74f20a3')
    const { publicKey } = await signerFromSeed(signer.seed)
    expect(publicKey).toEqual(verifier.publicKey)
    expect(formatVerifierKey(signer.name, publicKey)).toBe(PETER_VERIFIER)
    expect(formatSignerKey(signer.name, signer.seed, publicKey)).toBe(PETER_SIGNER)

    expect(toHex(parseVerifierKey(ENOCH_VERIFIER).keyId)).toBe('af0cfe78')
  })

  it('parses base64 containing "+" after the name and key id', () => {
    // Both Go vectors have '+' inside the base64 key (after "AYEKFALVFGyNhPJEMzD1QIDr").
    expect(PETER_SIGNER.split('+').length).toBeGreaterThan(5)
    expect(parseSignerKey(PETER_SIGNER).seed).toHaveLength(32)
    const publicKey = fromBase64('AT' + '+'.repeat(42)).subarray(1) // encodes as 0x01 || key
    const key = formatVerifierKey('plus.example', publicKey)
    expect(key.endsWith('+AT' + '+'.repeat(42))).toBe(true)
    expect(parseVerifierKey(key).publicKey).toEqual(publicKey)
  })

  it('round-trips generated keys', async () => {
    for (const name of ['example.com/log', 'a', 'ünïcode/名前', 'whodis.localhost/log']) {
      const seed = randomSeed()
      const { publicKey } = await signerFromSeed(seed)
      const verifier = parseVerifierKey(formatVerifierKey(name, publicKey))
      expect(verifier).toEqual({ type: 'ed25519', name, keyId: noteKeyId(name, publicKey), publicKey })
      const signer = parseSignerKey(formatSignerKey(name, seed, publicKey))
      expect(signer).toEqual({ name, keyId: noteKeyId(name, publicKey), seed })
    }
  })

  it('rejects a wrong key id', () => {
    expect(() => parseVerifierKey('PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW')).toThrow(
      'does not match',
    )
    expect(() => parseVerifierKey('PeterNeuman+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW')).toThrow(
      'does not match',
    )
    expect(() => parseVerifierKey('PeterNeumann+C74F20A3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW')).toThrow()
  })

  it('rejects names with "+", Unicode white space, ASCII control characters or lone surrogates', () => {
    for (const name of ['a+b', 'a b', 'a\tb', 'a\u00a0b', 'a\u3000b', '', 'a\nb', 'a\u0085b', 'a\u2028b', 'a\x01b', 'a\x1fb', 'a\ud800b']) {
      expect(isValidKeyName(name), JSON.stringify(name)).toBe(false)
      expect(isNoteKeyName(name), JSON.stringify(name)).toBe(false)
    }
    expect(isValidKeyName('example.com/log-1')).toBe(true)
    // A name with a space splits differently and its key id cannot match.
    const publicKey = new Uint8Array(32).fill(9)
    expect(() => parseVerifierKey(formatVerifierKey('a b', publicKey))).toThrow()
    expect(() => parseSignerKey(`PRIVATE+KEY+a b+00000000+${toBase64(concat(Uint8Array.of(1), publicKey))}`)).toThrow(
      'invalid name',
    )
  })

  it('rejects mangled Go vector keys, as note_test.go does', () => {
    const bytes = utf8(PETER_VERIFIER)
    for (let i = 0; i < bytes.length; i++) {
      const mangled = bytes.slice()
      mangled[i]! += 1
      const text = new TextDecoder().decode(mangled)
      expect(() => parseVerifierKey(text), text).toThrow()
    }
    for (let i = 0; i <= PETER_VERIFIER.length; i++) {
      for (let j = i + 1; j <= PETER_VERIFIER.length; j++) {
        if (i === 0 && j === PETER_VERIFIER.length) continue
        expect(() => parseVerifierKey(PETER_VERIFIER.slice(i, j))).toThrow()
      }
    }
    // Wrong key length and unknown algorithm, with adjusted key ids (from note_test.go).
    expect(() => parseVerifierKey('PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY==')).toThrow()
    expect(() => parseVerifierKey('PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW')).toThrow()
  })

  it('accepts every name the spec allows, in key strings as in notes', async () => {
    // Format characters, private use, unassigned code points, DEL and C1 controls other than
    // U+0085 are neither white space nor "+": C2SP signed-note and Go accept them.
    const names = ['a\u200bb', 'a\u200db', 'a\ufeffb', 'a\ue000b', 'a\u0378b', 'a\x7fb', 'a\u0080b', 'a\u009fb', '😀', 'ünï/名前']
    for (const name of names) {
      expect(isValidKeyName(name), JSON.stringify(name)).toBe(true)
      expect(isNoteKeyName(name), JSON.stringify(name)).toBe(true)
      const seed = randomSeed()
      const { publicKey } = await signerFromSeed(seed)
      expect(parseVerifierKey(formatVerifierKey(name, publicKey)).name).toBe(name)
      const signer = await noteSignerFromKey(formatSignerKey(name, seed, publicKey))
      const opened = await openNote(await signNote('text\n', signer), [parseVerifierKey(formatVerifierKey(name, publicKey))])
      expect(opened.verified.map((k) => k.name)).toEqual([name])
    }
  })

  it('refuses base64url and unpadded keys (signed-note keys are standard base64)', () => {
    // Both Go vectors hold a "/" or "+" in their base64, which base64url writes as "_" or "-".
    expect(PETER_VERIFIER).toContain('/')
    expect(() => parseVerifierKey(PETER_VERIFIER.replace(/\//g, '_'))).toThrow('not standard base64')
    expect(PETER_SIGNER.split('+').slice(4).join('+')).toContain('+')
    const signerUrl = PETER_SIGNER.slice(0, 'PRIVATE+KEY+PeterNeumann+c74f20a3+'.length) + PETER_SIGNER.slice(34).replace(/\+/g, '-')
    expect(() => parseSignerKey(signerUrl)).toThrow('not standard base64')
    const padded = formatVerifierKey('pad.example', new Uint8Array(32).fill(3))
    expect(() => parseVerifierKey(`${padded}=`)).toThrow()
    expect(() => parseVerifierKey(padded.slice(0, -1))).toThrow()
  })

  it('parses witness cosignature/v1 keys (type 0x04) as their own kind, never as a log key', async () => {
    const witness = parseCosignatureVerifierKey(WITNESS_VERIFIER)
    expect(witness).toMatchObject({ type: 'cosignature/v1', name: 'remora.n621.de' })
    expect(toHex(witness.keyId)).toBe('da77ade7')
    expect(parseAnyVerifierKey(WITNESS_VERIFIER)).toEqual(witness)
    expect(formatVerifierKey(witness.name, witness.publicKey, 'cosignature/v1')).toBe(WITNESS_VERIFIER)
    expect(() => parseVerifierKey(WITNESS_VERIFIER)).toThrow('not a log key')
    expect(() => parseCosignatureVerifierKey(PETER_VERIFIER)).toThrow('not a witness cosignature/v1 key')
    expect(parseAnyVerifierKey(PETER_VERIFIER).type).toBe('ed25519')

    // One public key, two types: distinct key ids, and neither type's id passes for the other.
    const publicKey = parseVerifierKey(PETER_VERIFIER).publicKey
    const asWitness = formatVerifierKey('PeterNeumann', publicKey, 'cosignature/v1')
    expect(toHex(parseCosignatureVerifierKey(asWitness).keyId)).not.toBe('c74f20a3')
    expect(() => parseAnyVerifierKey(asWitness.replace(/\+[0-9a-f]{8}\+/, '+c74f20a3+'))).toThrow('does not match')
    const relabelled = `PeterNeumann+c74f20a3+${toBase64(concat(Uint8Array.of(0x04), publicKey))}`
    expect(() => parseAnyVerifierKey(relabelled)).toThrow('does not match')

    // A witness key cannot open a note, even passed where a log key goes.
    const signer: NoteSigner = await noteSignerFromKey(PETER_SIGNER)
    const note = await signNote('checkpoint\n', signer)
    await expect(openNote(note, [witness as never])).rejects.toThrow('not an Ed25519 note key')
  })

  it('refuses other signature types and key lengths', () => {
    const publicKey = new Uint8Array(32).fill(5)
    for (const type of [0x00, 0x02, 0x03, 0x05, 0x06, 0xff]) {
      const raw = concat(Uint8Array.of(type), publicKey)
      const id = toHex(sha256Id('x.example', raw))
      expect(() => parseAnyVerifierKey(`x.example+${id}+${toBase64(raw)}`)).toThrow('unsupported signature type')
    }
    for (const type of [0x01, 0x04]) {
      const raw = concat(Uint8Array.of(type), publicKey, Uint8Array.of(0))
      expect(() => parseAnyVerifierKey(`x.example+${toHex(sha256Id('x.example', raw))}+${toBase64(raw)}`)).toThrow('32-byte')
    }
    expect(() => parseAnyVerifierKey('x.example+00000000+')).toThrow('no key bytes')
  })

  it('rejects malformed signer keys', () => {
    expect(() => parseSignerKey(PETER_VERIFIER)).toThrow()
    expect(() => parseSignerKey(PETER_SIGNER.replace('PRIVATE', 'PUBLIC'))).toThrow()
    expect(() => parseSignerKey(PETER_SIGNER.slice(0, -4))).toThrow()
    expect(() => parseSignerKey(PETER_SIGNER.replace('+AYEK', '+AqEK'))).toThrow('not an Ed25519 key')
  })
})

describe('ed25519', () => {
  it('matches RFC 8032 test 1', async () => {
    const signer = await signerFromSeed(fromHex(RFC8032_SEED))
    expect(toHex(signer.publicKey)).toBe(RFC8032_PUBLIC)
    const signature = await signer.sign(new Uint8Array(0))
    expect(toHex(signature)).toBe(RFC8032_SIGNATURE)
    expect(await verifyEd25519(signer.publicKey, new Uint8Array(0), signature)).toBe(true)
    expect(await verifyEd25519(signer.publicKey, Uint8Array.of(0), signature)).toBe(false)
    const flipped = signature.slice()
    flipped[10]! ^= 1
    expect(await verifyEd25519(signer.publicKey, new Uint8Array(0), flipped)).toBe(false)
  })

  it('returns false for bad lengths instead of throwing', async () => {
    const publicKey = fromHex(RFC8032_PUBLIC)
    const signature = fromHex(RFC8032_SIGNATURE)
    const empty = new Uint8Array(0)
    expect(await verifyEd25519(publicKey.subarray(1), empty, signature)).toBe(false)
    expect(await verifyEd25519(concat(publicKey, Uint8Array.of(0)), empty, signature)).toBe(false)
    expect(await verifyEd25519(publicKey, empty, signature.subarray(1))).toBe(false)
    expect(await verifyEd25519(publicKey, empty, concat(signature, Uint8Array.of(0)))).toBe(false)
    expect(await verifyEd25519(new Uint8Array(32).fill(0xff), empty, signature)).toBe(false)
  })

  it('rejects seeds that are not 32 bytes', async () => {
    await expect(signerFromSeed(new Uint8Array(31))).rejects.toThrow('32 bytes')
  })

  it('signs deterministically and verifies', async () => {
    const seed = randomSeed()
    expect(seed).toHaveLength(32)
    const signer = await signerFromSeed(seed)
    const message = utf8('hello')
    const a = await signer.sign(message)
    expect(a).toEqual(await signer.sign(message))
    expect(await verifyEd25519(signer.publicKey, message, a)).toBe(true)
  })
})

/** SHA-256(name || "\n" || raw)[:4]: a key id made for whatever bytes a test needs. */
function sha256Id(name: string, raw: Uint8Array): Uint8Array {
  return sha256(concat(utf8(name), utf8('\n'), raw)).subarray(0, 4)
}
