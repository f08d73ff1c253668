/** bytes.ts, note-keys.ts and ed25519.ts: encodings, key strings, and RFC 8032 vectors. */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  concat,
  constantTimeEqual,
  fromBase64,
  fromHex,
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
  parseSignerKey,
  parseVerifierKey,
} from '../../src/protocol/note-keys.ts'

// From golang.org/x/mod/sumdb/note/note_test.go.
const PETER_SIGNER = 'PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz'
const PETER_VERIFIER = 'PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW'
const ENOCH_VERIFIER = 'EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop'

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
    }
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
      expect(verifier).toEqual({ name, keyId: noteKeyId(name, publicKey), publicKey })
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

  it('rejects names with "+" or spaces', () => {
    for (const name of ['a+b', 'a b', 'a\tb', 'a\u00a0b', 'a\u3000b', '', 'a\nb']) {
      expect(isValidKeyName(name), JSON.stringify(name)).toBe(false)
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
