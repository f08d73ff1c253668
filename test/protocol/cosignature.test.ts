/** cosignature/v1: the spec's example bytes, round trips, and the attacks a verifier must refuse. */
import { describe, expect, it } from 'vitest'
import { concat, fromStdBase64, toBase64, toHex, utf8 } from '../../src/protocol/bytes.ts'
import { formatCheckpoint, signCheckpoint, type Checkpoint } from '../../src/protocol/checkpoint.ts'
import {
  addCosignatures,
  cosign,
  cosignatureMessage,
  CosignatureError,
  cosignatureSignerFromKey,
  cosignatureVerifierKeyOf,
  formatCosignatureSignerKey,
  verifyCosignatures,
  type CosignatureSigner,
} from '../../src/protocol/cosignature.ts'
import { randomSeed, signerFromSeed } from '../../src/protocol/ed25519.ts'
import { noteSignerFromKey } from '../../src/protocol/note.ts'
import { formatSignerKey, noteKeyId, parseCosignatureVerifierKey, type CosignatureVerifierKey } from '../../src/protocol/note-keys.ts'
import { sha256 } from '@noble/hashes/sha2.js'

const NOW_MS = 1_700_000_000_000
const NOW = NOW_MS / 1000
const now = () => NOW_MS

async function witness(name: string): Promise<{ signer: CosignatureSigner; key: CosignatureVerifierKey; signerKey: string }> {
  const seed = randomSeed()
  const { publicKey } = await signerFromSeed(seed)
  const signerKey = formatCosignatureSignerKey(name, seed, publicKey)
  const signer = await cosignatureSignerFromKey(signerKey)
  return { signer, key: parseCosignatureVerifierKey(cosignatureVerifierKeyOf(signer)), signerKey }
}

async function logSigner(origin: string) {
  const seed = randomSeed()
  const { publicKey } = await signerFromSeed(seed)
  return noteSignerFromKey(formatSignerKey(origin, seed, publicKey))
}

function checkpoint(size: number, fill: number, extensions: string[] = [], origin = 'example.com/log'): Checkpoint {
  return { origin, size, rootHash: new Uint8Array(32).fill(fill), extensions }
}

describe('cosignature/v1 formats, as the spec writes them', () => {
  // tlog-cosignature.md, "Ed25519 signed message": the message for time 1679315147.
  const specCheckpoint = 'example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n'
  const specMessage = 'cosignature/v1\ntime 1679315147\nexample.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n'

  it('builds the signed message of the spec byte for byte', () => {
    expect(new TextDecoder().decode(cosignatureMessage(specCheckpoint, 1679315147))).toBe(specMessage)
  })

  it("reads the spec's example cosignature line as key id || big-endian timestamp || 64-byte signature", () => {
    // tlog-cosignature.md's example note: the witness line's timestamp is the message's time.
    const raw = fromStdBase64('jWbPPwAAAABkGFDLEZMHwSRaJNiIDoe9DYn/zXcrtPHeolMI5OWXEhZCB9dlrDJsX3b2oyin1nPZqhf5nNo0xUe+mbIUBkBIfZ+qnA==')
    expect(raw.length).toBe(4 + 8 + 64)
    expect(new DataView(raw.buffer, raw.byteOffset + 4, 8).getBigUint64(0)).toBe(1679315147n)
  })

  it('derives key ids as SHA-256(name || "\\n" || 0x04 || key)[:4], and the vkey and signer key carry type 0x04', async () => {
    const { signer, signerKey } = await witness('witness.example/w1')
    const expected = sha256(concat(utf8('witness.example/w1\n'), Uint8Array.of(4), signer.publicKey)).subarray(0, 4)
    expect(toHex(signer.keyId)).toBe(toHex(expected))
    expect(cosignatureVerifierKeyOf(signer)).toBe(`witness.example/w1+${toHex(expected)}+${toBase64(concat(Uint8Array.of(4), signer.publicKey))}`)
    expect(signerKey.startsWith(`PRIVATE+KEY+witness.example/w1+${toHex(expected)}+`)).toBe(true)
    expect(fromStdBase64(signerKey.split('+').slice(4).join('+'))[0]).toBe(4)
    expect(toHex(noteKeyId('witness.example/w1', signer.publicKey))).not.toBe(toHex(expected)) // a log key id differs
  })

  it('refuses a log signer key (type 0x01) as a witness key, and a key id that is not the key', async () => {
    const seed = randomSeed()
    const { publicKey } = await signerFromSeed(seed)
    await expect(cosignatureSignerFromKey(formatSignerKey('w', seed, publicKey))).rejects.toThrow(/not 0x04/)
    const good = formatCosignatureSignerKey('w', seed, publicKey)
    await expect(cosignatureSignerFromKey(good.replace(/\+[0-9a-f]{8}\+/, '+00000000+'))).rejects.toThrow(/does not match/)
  })

  it('writes a line whose signature verifies over the message with Ed25519, timestamp big-endian', async () => {
    const { signer } = await witness('w.example/1')
    const text = formatCheckpoint(checkpoint(5, 1))
    const line = await cosign(text, signer, 1679315147)
    expect(line).toMatch(/^\u2014 w\.example\/1 [A-Za-z0-9+/]+=*\n$/)
    const raw = fromStdBase64(line.trim().split(' ')[2]!)
    expect(toHex(raw.subarray(0, 4))).toBe(toHex(signer.keyId))
    expect(toHex(raw.subarray(4, 12))).toBe('00000000641850cb')
    const key = await crypto.subtle.importKey('raw', signer.publicKey.slice(), { name: 'Ed25519' }, false, ['verify'])
    expect(await crypto.subtle.verify('Ed25519', key, raw.slice(12), cosignatureMessage(text, 1679315147).slice())).toBe(true)
  })
})

describe('verifyCosignatures', () => {
  async function cosigned(c: Checkpoint, ...signers: CosignatureSigner[]) {
    const log = await logSigner(c.origin)
    let note = await signCheckpoint(c, log)
    for (const s of signers) note = addCosignatures(note, await cosign(note, s, NOW - 10))
    return note
  }

  it('counts each witness once, ignores unknown keys and the log signature', async () => {
    const [a, b, c] = await Promise.all([witness('a.example'), witness('b.example'), witness('c.example')])
    const note = await cosigned(checkpoint(7, 2), a.signer, b.signer, c.signer)
    const result = await verifyCosignatures(note, [a.key, b.key], { threshold: 2, now })
    expect(result.cosigners.map((x) => x.key.name).sort()).toEqual(['a.example', 'b.example'])
    expect(result.checkpoint.size).toBe(7)
    expect(result.cosigners.every((x) => x.timestamp === NOW - 10 && x.coversExtensions)).toBe(true)
  })

  it('refuses below k, and two lines from one witness count once', async () => {
    const [a, b] = await Promise.all([witness('a.example'), witness('b.example')])
    let note = await cosigned(checkpoint(7, 2), a.signer)
    note = addCosignatures(note, await cosign(note, a.signer, NOW - 5))
    const err = await verifyCosignatures(note, [a.key, b.key], { threshold: 2, now }).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(CosignatureError)
    expect((err as CosignatureError).code).toBe('below_threshold')
    expect((err as Error).message).toMatch(/1 of the 2/)
    const one = await verifyCosignatures(note, [a.key, b.key], { threshold: 1, now })
    expect(one.cosigners).toHaveLength(1)
    expect(one.cosigners[0]!.timestamp).toBe(NOW - 5) // the latest of the two
  })

  it('refuses a policy where two names share one public key (one signature would count twice)', async () => {
    const a = await witness('a.example')
    const alias = parseCosignatureVerifierKey(cosignatureVerifierKeyOf({ ...a.signer, name: 'alias.example', keyId: noteKeyId('alias.example', a.signer.publicKey, 'cosignature/v1') }))
    await expect(verifyCosignatures(await cosigned(checkpoint(1, 1), a.signer), [a.key, alias], { threshold: 2, now })).rejects.toThrow(/share the public key/)
  })

  it('refuses a cosignature moved to another tree size, root or origin', async () => {
    const a = await witness('a.example')
    const original = await cosigned(checkpoint(7, 2), a.signer)
    const line = original.slice(original.lastIndexOf('\u2014 a.example'))
    for (const other of [checkpoint(8, 2), checkpoint(7, 3), checkpoint(7, 2, [], 'other.example/log')]) {
      const moved = addCosignatures(await signCheckpoint(other, await logSigner(other.origin)), line)
      const err = await verifyCosignatures(moved, [a.key], { threshold: 1, now }).catch((e: unknown) => e)
      expect((err as CosignatureError).code).toBe('bad_cosignature')
    }
  })

  it('refuses a known witness line that does not verify even if another of its lines does', async () => {
    const a = await witness('a.example')
    const note = await cosigned(checkpoint(7, 2), a.signer)
    const forged = `\u2014 a.example ${toBase64(concat(a.signer.keyId, new Uint8Array(8).fill(0), new Uint8Array(64).fill(7)))}\n`
    const err = await verifyCosignatures(addCosignatures(note, forged), [a.key], { threshold: 1, now }).catch((e: unknown) => e)
    expect((err as CosignatureError).code).toBe('bad_cosignature')
    const short = `\u2014 a.example ${toBase64(concat(a.signer.keyId, new Uint8Array(64)))}\n`
    const err2 = await verifyCosignatures(addCosignatures(note, short), [a.key], { threshold: 1, now }).catch((e: unknown) => e)
    expect((err2 as CosignatureError).code).toBe('malformed')
  })

  it('refuses a timestamp past the skew, and leaves out (but reports) cosignatures past maxAge', async () => {
    const a = await witness('a.example')
    const log = await logSigner('example.com/log')
    const note = await signCheckpoint(checkpoint(3, 3), log)
    const future = addCosignatures(note, await cosign(note, a.signer, NOW + 3600))
    const err = await verifyCosignatures(future, [a.key], { threshold: 1, now, maxSkewSeconds: 60 }).catch((e: unknown) => e)
    expect((err as CosignatureError).code).toBe('future_timestamp')
    const old = addCosignatures(note, await cosign(note, a.signer, NOW - 7200))
    const stale = await verifyCosignatures(old, [a.key], { threshold: 0, now, maxAgeSeconds: 3600 })
    expect(stale.cosigners).toHaveLength(0)
    expect(stale.stale.map((c) => c.key.name)).toEqual(['a.example'])
    await expect(verifyCosignatures(old, [a.key], { threshold: 1, now, maxAgeSeconds: 3600 })).rejects.toThrow(/older than 3600 s/)
  })

  it('binds extension lines when the witness signed the body; a three-line (torchwood) cosignature vouches for the tree only', async () => {
    const a = await witness('a.example')
    const withState = checkpoint(9, 4, ['state AAAA'])
    const note = await cosigned(withState, a.signer)
    const line = note.slice(note.lastIndexOf('\u2014 a.example'))
    // The same tree with a different extension line: the body-cosignature no longer verifies.
    const altered = addCosignatures(await signCheckpoint(checkpoint(9, 4, ['state BBBB']), await logSigner('example.com/log')), line)
    await expect(verifyCosignatures(altered, [a.key], { threshold: 1, now })).rejects.toMatchObject({ code: 'bad_cosignature' })
    // torchwood signs origin, size and root only: it verifies, and says that it does not cover the extension.
    const text = formatCheckpoint(withState)
    const treeOnly = await a.signer.sign(cosignatureMessage(text, NOW - 1, 'tree'))
    const tsBytes = new Uint8Array(8)
    new DataView(tsBytes.buffer).setBigUint64(0, BigInt(NOW - 1))
    const torchwoodLine = `\u2014 a.example ${toBase64(concat(a.signer.keyId, tsBytes, treeOnly))}\n`
    const log = await logSigner('example.com/log')
    for (const ext of [['state AAAA'], ['state BBBB']]) {
      const n = addCosignatures(await signCheckpoint(checkpoint(9, 4, ext), log), torchwoodLine)
      const result = await verifyCosignatures(n, [a.key], { threshold: 1, now })
      expect(result.cosigners[0]!.coversExtensions).toBe(false)
    }
  })

  it('refuses thresholds out of range and a log key given as a witness key', async () => {
    const a = await witness('a.example')
    const note = await cosigned(checkpoint(1, 1), a.signer)
    await expect(verifyCosignatures(note, [a.key], { threshold: 2, now })).rejects.toThrow(/threshold/)
    await expect(verifyCosignatures(note, [a.key], { threshold: -1, now })).rejects.toThrow(/threshold/)
    const asLog = { ...a.key, type: 'ed25519' } as unknown as CosignatureVerifierKey
    await expect(verifyCosignatures(note, [asLog], { threshold: 1, now })).rejects.toThrow(/not a cosignature/)
  })

  it('refuses a note that is not a checkpoint', async () => {
    const a = await witness('a.example')
    await expect(verifyCosignatures('hello\n\n\u2014 x AAAAAAA=\n', [a.key], { threshold: 0, now })).rejects.toMatchObject({ code: 'malformed' })
  })
})
