/**
 * Every refusal of the sync engine, driven by a fake directory serving tampered, stale, forked,
 * truncated, garbled and failing responses. Each asserts the refusal's code and exit code, that
 * nothing stored changed, and that lookups still answer from the last verified state.
 */
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest'
import { fromBase64 } from '../../src/protocol/bytes.ts'
import { formatCheckpoint } from '../../src/protocol/checkpoint.ts'
import { encodeEntry } from '../../src/protocol/entry.ts'
import { checkTree } from '../../src/protocol/merkle.ts'
import { signNote } from '../../src/protocol/note.ts'
import { parseVerifierKey } from '../../src/protocol/note-keys.ts'
import { verifyReceipt } from '../../src/protocol/receipt.ts'
import { encodeSnapshot, formatManifest, gzip, snapshotDigest } from '../../src/protocol/snapshot.ts'
import { EXIT_CODES, MirrorError, type MirrorErrorCode } from '../src/errors.ts'
import type { Mirror } from '../src/mirror.ts'
import { FakeDirectory } from './fixtures/fake-directory.ts'
import { buildLog, extendLog, generateEntries, makeSigner, type FakeLog } from './fixtures/fake-log.ts'
import { cleanupTemp, evidenceFiles, expectedLookup, mirrorOf, poolNumbers, storedFingerprint, tempDir } from './fixtures/helpers.ts'

let fake: FakeDirectory
let log: FakeLog
let dir: string
let mirror: Mirror
const open: Mirror[] = []

beforeEach(async () => {
  log = await buildLog(600, { seed: 21 })
  fake = await FakeDirectory.start(log)
  dir = tempDir()
})
afterEach(async () => {
  for (const m of open.splice(0)) await m.close()
  await fake.stop()
})
afterAll(cleanupTemp)

/** A mirror on `dir` synced to the whole current log. */
async function synced(options: Parameters<typeof mirrorOf>[2] = {}): Promise<Mirror> {
  mirror = await mirrorOf(fake, dir, options)
  open.push(mirror)
  await mirror.sync()
  expect(mirror.treeSize).toBe(log.size)
  return mirror
}

/** Runs a sync that must be refused with `code`, changing nothing stored or served. */
async function refused(code: MirrorErrorCode, m: Mirror = mirror): Promise<MirrorError> {
  const before = storedFingerprint(dir)
  const size = m.treeSize
  const sample = poolNumbers().slice(0, 40).map((p) => m.lookup(p))
  const err = await m.sync().then(
    () => null,
    (e: unknown) => e,
  )
  expect(err, `expected a ${code} refusal`).toBeInstanceOf(MirrorError)
  const e = err as MirrorError
  expect({ code: e.code, message: e.message }).toMatchObject({ code })
  expect(e.exitCode).toBe(EXIT_CODES[code])
  expect(storedFingerprint(dir)).toEqual(before)
  expect(m.treeSize).toBe(size)
  expect(poolNumbers().slice(0, 40).map((p) => m.lookup(p))).toEqual(sample)
  return e
}

function flipByte(body: Uint8Array, at: number): Uint8Array {
  const out = body.slice()
  out[at] = out[at]! ^ 0x01
  return out
}

describe('signatures and keys', () => {
  it('refuses a checkpoint whose signature does not verify', async () => {
    await synced()
    extendLog(log, 50)
    const note = await log.checkpoint()
    const sigAt = note.lastIndexOf(' ') + 10
    fake.checkpointNote = note.slice(0, sigAt) + (note[sigAt] === 'A' ? 'B' : 'A') + note.slice(sigAt + 1)
    const e = await refused('bad_signature')
    expect(e.message).toMatch(/invalid signature/)
  })

  it('refuses a checkpoint signed by another key with the same name', async () => {
    await synced()
    extendLog(log, 50)
    const other = await makeSigner(log.origin, 9)
    fake.checkpointNote = await signNote(formatCheckpoint({ origin: log.origin, size: log.size, rootHash: log.rootAt(), extensions: [] }), other)
    expect((await refused('bad_signature')).message).toMatch(/no signature by a known key/)
  })

  it('refuses a checkpoint of another log, even signed by the pinned key', async () => {
    await synced()
    fake.checkpointNote = await signNote(formatCheckpoint({ origin: 'other.test/log', size: log.size + 1, rootHash: log.rootAt(), extensions: [] }), log.signer)
    expect((await refused('bad_signature')).message).toMatch(/origin "other.test\/log"/)
  })

  it('refuses a different --log-key than the pinned one, and a directory that changes its key', async () => {
    await synced()
    await mirror.close()
    open.pop()
    const otherKey = (await buildLog(1, { signer: await makeSigner('fake.test/log', 3) })).logKey
    const err = await mirrorOf(fake, dir, { logKey: otherKey }).catch((e: unknown) => e)
    expect(err).toMatchObject({ code: 'key_mismatch' })
    expect((err as MirrorError).exitCode).toBe(10)

    mirror = await mirrorOf(fake, dir)
    open.push(mirror)
    fake.wellKnownKey = otherKey
    const e = await refused('key_mismatch')
    expect(e.message).toContain('now advertises log key')
  })

  it('refuses to pin when --log-key disagrees with the directory on first run, pinning nothing', async () => {
    const otherKey = (await buildLog(1, { signer: await makeSigner('fake.test/log', 3) })).logKey
    mirror = await mirrorOf(fake, dir, { logKey: otherKey })
    open.push(mirror)
    await refused('key_mismatch')
    expect(mirror.logKey).toBeNull()
  })

  it('pins the --log-key given on first run when the directory advertises the same key', async () => {
    mirror = await mirrorOf(fake, dir, { logKey: log.logKey })
    open.push(mirror)
    await mirror.sync()
    expect(mirror.logKey).toBe(log.logKey)
  })
})

describe('rollback and forks', () => {
  it('refuses a smaller tree that is consistent (rollback), writing no evidence', async () => {
    await synced()
    fake.checkpointNote = await log.checkpoint(500)
    const e = await refused('rollback')
    expect(e.message).toMatch(/tree size 500, smaller than the held 600/)
    expect(evidenceFiles(dir)).toEqual([])
  })

  it('treats a same-size checkpoint with another root as a fork and writes both notes', async () => {
    await synced()
    const forked = log.fork(300).append(...generateEntries(300, { seed: 99, state: log.fork(300).stateAt() }))
    expect(forked.size).toBe(600)
    fake.checkpointNote = await forked.checkpoint()
    const e = await refused('fork')
    const files = evidenceFiles(dir)
    expect(files).toHaveLength(1)
    expect(e.details.evidence).toBe(join(dir, files[0]!))
    const evidence = JSON.parse(readFileSync(join(dir, files[0]!), 'utf8'))
    expect(evidence).toMatchObject({ kind: 'fork', logKey: log.logKey })
    expect(evidence.held.note).toBe(await log.checkpoint())
    expect(evidence.served.note).toBe(await forked.checkpoint())
  })

  it('proves a fork from a smaller inconsistent tree with the held hashes', async () => {
    await synced()
    const forked = log.fork(300)
    forked.append(...generateEntries(200, { seed: 98, state: forked.stateAt() }))
    fake.checkpointNote = await forked.checkpoint()
    await refused('fork')
    const evidence = JSON.parse(readFileSync(join(dir, evidenceFiles(dir)[0]!), 'utf8'))
    const hashes = evidence.proof.hashes.map(fromBase64)
    // The proof, against the held root, shows the size-500 tree in it is not the served one.
    expect(checkTree(hashes, 600, log.rootAt(600), 500, fromBase64(evidence.proof.impliedOldRoot))).toBe(true)
    expect(checkTree(hashes, 600, log.rootAt(600), 500, forked.rootAt(500))).toBe(false)
  })

  it('proves a fork from a larger tree whose tiles do not extend the held one', async () => {
    await synced()
    const forked = log.fork(300)
    forked.append(...generateEntries(500, { seed: 97, state: forked.stateAt() }))
    fake.log = forked // its checkpoint, bundles and tiles
    const e = await refused('fork')
    expect(e.message).toMatch(/does not extend the signed tree of size 600/)
    const evidence = JSON.parse(readFileSync(join(dir, evidenceFiles(dir)[0]!), 'utf8'))
    expect(evidence.held).toMatchObject({ size: 600, note: await log.checkpoint() })
    expect(evidence.served).toMatchObject({ size: 800, note: await forked.checkpoint() })
    const proof = evidence.proof.hashes.map(fromBase64)
    // A valid proof for the forked tree's own prefix, and not for the held root.
    expect(checkTree(proof, 800, forked.rootAt(800), 600, forked.rootAt(600))).toBe(true)
    expect(checkTree(proof, 800, forked.rootAt(800), 600, log.rootAt(600))).toBe(false)
  })
})

describe('tampered, truncated and garbled data', () => {
  it('refuses entry bundles that do not hash to the checkpoint (the tiles show no fork)', async () => {
    await synced()
    extendLog(log, 300)
    fake.hook = (path, body) => (path.startsWith('/log/tile/entries/003') && body ? { body: flipByte(body, 2 + 4) } : undefined)
    const e = await refused('bad_data')
    expect(e.message).toMatch(/the bundles are corrupt/)
    expect(evidenceFiles(dir)).toEqual([])
    fake.hook = null
    await mirror.sync()
    expect(mirror.treeSize).toBe(900)
  })

  it('refuses when neither bundles nor tiles hash to the checkpoint', async () => {
    await synced()
    extendLog(log, 300)
    fake.hook = (path, body) =>
      (path.startsWith('/log/tile/entries/003') || path.startsWith('/log/tile/0/')) && body ? { body: flipByte(body, 7) } : undefined
    const e = await refused('bad_data')
    expect(e.message).toMatch(/hash tiles served for tree size 900 do not hash to its signed root/)
  })

  it('refuses hash tiles that do not hash to the snapshot root at bootstrap', async () => {
    fake.snapshotSize = 400
    fake.hook = (path, body) => (path === '/log/tile/0/001.p/144' && body ? { body: flipByte(body, 40) } : undefined)
    mirror = await mirrorOf(fake, dir)
    open.push(mirror)
    const e = await refused('bad_data')
    expect(e.message).toMatch(/level-0 hash tiles up to tree size 400/)
    expect(mirror.checkpoint).toBeNull()
  })

  it('refuses a truncated bundle', async () => {
    await synced()
    extendLog(log, 300)
    fake.hook = (path, body) => (path.startsWith('/log/tile/entries/') && body ? { body: body.slice(0, body.length - 3) } : undefined)
    expect((await refused('malformed')).message).toMatch(/truncated/)
  })

  it('refuses a bundle with fewer entries than its width', async () => {
    await synced()
    extendLog(log, 300)
    fake.hook = (path, body) => (path === '/log/tile/entries/002' && body ? { body: body.slice(0, body.length - 19) } : undefined)
    expect((await refused('malformed')).message).toMatch(/expected 256|truncated/)
  })

  it('refuses a hash tile of the wrong length', async () => {
    fake.snapshotSize = 400
    fake.hook = (path, body) => (path === '/log/tile/0/000' && body ? { body: body.slice(0, 100) } : undefined)
    mirror = await mirrorOf(fake, dir)
    open.push(mirror)
    expect((await refused('malformed')).message).toMatch(/is 100 bytes, expected 8192/)
  })

  it('refuses a truncated checkpoint and a garbled one', async () => {
    await synced()
    extendLog(log, 10)
    const note = await log.checkpoint()
    fake.checkpointNote = note.slice(0, note.length - 30)
    await refused('malformed')
    fake.checkpointNote = null
    fake.hook = (path) => (path === '/log/checkpoint' ? { body: Uint8Array.of(0xff, 0xfe, 0x00, 0x41) } : undefined)
    await refused('malformed')
    fake.hook = (path) => (path === '/log/checkpoint' ? { body: 'hello\n\nworld\n' } : undefined)
    await refused('malformed')
  })

  it('refuses an oversized response', async () => {
    await synced()
    fake.hook = (path) => (path === '/log/checkpoint' ? { body: new Uint8Array(100_000).fill(0x41) } : undefined)
    expect((await refused('malformed')).message).toMatch(/exceeds the 65536-byte limit/)
  })
})

describe('snapshots', () => {
  beforeEach(() => {
    fake.snapshotSize = 400
  })

  async function fresh(): Promise<Mirror> {
    mirror = await mirrorOf(fake, dir)
    open.push(mirror)
    return mirror
  }

  it('refuses snapshot data whose SHA-256 does not match the manifest', async () => {
    await fresh()
    fake.hook = (path, body) => (path === '/log/snapshot/400/data' && body ? { body: flipByte(body, body.length - 5) } : undefined)
    expect((await refused('bad_snapshot')).message).toMatch(/SHA-256/)
  })

  it('refuses snapshot data of another length than the manifest says', async () => {
    await fresh()
    fake.hook = (path, body) => (path === '/log/snapshot/400/data' && body ? { body: body.slice(0, body.length - 1) } : undefined)
    expect((await refused('bad_snapshot')).message).toMatch(/bytes, manifest says/)
    fake.hook = (path, body) => (path === '/log/snapshot/400/data' && body ? { body: new Uint8Array([...body, 0]) } : undefined)
    expect((await refused('bad_snapshot')).message).toMatch(/limit/)
  })

  it('refuses a manifest whose signature does not verify', async () => {
    await fresh()
    const { manifest } = await log.snapshot(400)
    const at = manifest.lastIndexOf(' ') + 12
    const bad = manifest.slice(0, at) + (manifest[at] === 'A' ? 'B' : 'A') + manifest.slice(at + 1)
    fake.hook = (path) => (path === '/log/snapshot/latest' ? { body: bad } : undefined)
    expect((await refused('bad_snapshot')).message).toMatch(/signature/)
  })

  it('refuses a signed snapshot whose bindings are not the log entries they name', async () => {
    await fresh()
    const { content } = await log.snapshot(400)
    const lying = structuredClone(content)
    lying.records[0]!.bindings[0]!.verifiedAt -= 1
    const data = await gzip(encodeSnapshot(lying).bytes)
    const manifest = await signNote(
      formatManifest({ origin: log.origin, treeSize: 400, rootHash: log.rootAt(400), records: lying.records.length, bytes: data.length, sha256: snapshotDigest(data) }),
      log.signer,
    )
    fake.hook = (path) => (path === '/log/snapshot/latest' ? { body: manifest } : path === '/log/snapshot/400/data' ? { body: data } : undefined)
    expect((await refused('bad_snapshot')).message).toMatch(/is not log entry/)
  })

  it("refuses a signed snapshot whose app table is not the log's registrations", async () => {
    for (const lie of [(apps: { num: number; id: string }[]) => void (apps[0]!.id = 'appz'), (apps: { num: number; id: string }[]) => void ([apps[0]!.id, apps[1]!.id] = [apps[1]!.id, apps[0]!.id])]) {
      await fresh()
      const { content } = await log.snapshot(400)
      const lying = structuredClone(content)
      lie(lying.apps)
      const data = await gzip(encodeSnapshot(lying).bytes)
      const manifest = await signNote(
        formatManifest({ origin: log.origin, treeSize: 400, rootHash: log.rootAt(400), records: lying.records.length, bytes: data.length, sha256: snapshotDigest(data) }),
        log.signer,
      )
      fake.hook = (path) => (path === '/log/snapshot/latest' ? { body: manifest } : path === '/log/snapshot/400/data' ? { body: data } : undefined)
      expect((await refused('bad_snapshot')).message).toMatch(/names app 1 "app[bz]"/)
      await mirror.close()
    }
  })

  it('refuses a checkpoint older than the signed snapshot', async () => {
    await fresh()
    fake.checkpointNote = await log.checkpoint(300)
    await refused('rollback')
  })
})

describe('entries the rules refuse', () => {
  it('refuses a signed entry that breaks a rule and writes evidence with its receipt', async () => {
    await synced()
    // A remove of a binding that does not exist, properly logged and signed.
    log.append({ kind: 'remove', subject: 19995550000, app: 1, time: 1_800_000_000, reason: 'app' })
    const e = await refused('entry_refused')
    expect(e.message).toMatch(/log entry 600: remove of a binding that does not exist/)
    const evidence = JSON.parse(readFileSync(join(dir, evidenceFiles(dir)[0]!), 'utf8'))
    expect(evidence).toMatchObject({ kind: 'invalid-entry', index: 600 })
    const checked = await verifyReceipt(evidence.receipt, fromBase64(evidence.entry), parseVerifierKey(log.logKey))
    expect(checked.index).toBe(600)
  })

  it('refuses a signed entry that does not decode', async () => {
    await synced()
    log.appendRaw([Uint8Array.of(1, 7, 0, 0)])
    expect((await refused('entry_refused')).message).toMatch(/undecodable entry/)
  })

  it('in a long range, keeps the verified chunks before a refused entry and never applies it', async () => {
    await synced({ chunkEntries: 100 })
    extendLog(log, 250)
    log.appendRaw([encodeEntry({ kind: 'renew', subject: 19995550000, app: 1, time: 1_800_000_000, ttlDays: 5 })])
    const err = await mirror.sync().catch((e: unknown) => e)
    expect(err).toMatchObject({ code: 'entry_refused' })
    // Chunks [600,700) and [700,800) were verified against the new checkpoint and committed.
    expect(mirror.treeSize).toBe(800)
    expect(mirror.checkpoint!.size).toBe(851)
    for (const phone of poolNumbers()) expect(mirror.lookup(phone)).toEqual(expectedLookup(log, phone, 800))
    // The next run resumes and refuses again at the same entry.
    expect(await mirror.sync().catch((e: unknown) => e)).toMatchObject({ code: 'entry_refused', details: { index: 850 } })
    expect(mirror.treeSize).toBe(800)
    expect((await mirror.verify()).treeSize).toBe(800)
  })
})

describe('failing network', () => {
  it('retries 5xx and resets, then applies', async () => {
    await synced()
    extendLog(log, 300)
    let failures = 0
    fake.hook = (path) => {
      if (path.startsWith('/log/tile/entries/') && failures < 3) {
        failures++
        return failures === 2 ? { reset: true } : { status: 503, body: 'busy' }
      }
      return undefined
    }
    expect(await mirror.sync()).toMatchObject({ status: 'applied', treeSize: 900 })
    expect(failures).toBe(3)
  })

  it('gives up after the retries with nothing applied', async () => {
    await synced()
    extendLog(log, 300)
    fake.hook = (path) => (path.startsWith('/log/tile/entries/') ? { status: 502, body: 'bad gateway' } : undefined)
    const e = await refused('unavailable')
    expect(e.transient).toBe(true)
    expect(e.message).toMatch(/failed after 3 attempts: HTTP 502/)
    fake.hook = (path) => (path === '/log/checkpoint' ? { reset: true } : undefined)
    await refused('unavailable')
  })

  it('reports a rejected token as an HTTP error', async () => {
    mirror = await mirrorOf(fake, dir, { token: 'wrong' })
    open.push(mirror)
    expect((await refused('http')).message).toMatch(/HTTP 401/)
  })
})

describe('peers', () => {
  it('flags an inconsistent peer checkpoint as a fork and accepts consistent ones', async () => {
    await synced()
    const forked = log.fork(300)
    forked.append(...generateEntries(300, { seed: 96, state: forked.stateAt() }))
    const notes: Record<string, string> = {
      '/same': await log.checkpoint(),
      '/older': await log.checkpoint(450),
      '/unsigned': (await log.checkpoint()).replace(/— .*\n$/, '— fake.test/log AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n'),
      '/forked': await forked.checkpoint(),
    }
    const server = createServer((req, res) => {
      const prefix = Object.keys(notes).find((p) => req.url === `${p}/log/checkpoint`)
      res.writeHead(prefix ? 200 : 404)
      res.end(prefix ? notes[prefix] : '')
    })
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
    try {
      const reports = await mirror.checkPeers([`${base}/same`, `${base}/older`, `${base}/unsigned`, `${base}/missing`])
      expect(reports.map((r) => r.status)).toEqual(['consistent', 'consistent', 'invalid', 'unreachable'])
      const before = storedFingerprint(dir)
      const err = await mirror.checkPeers([`${base}/forked`]).catch((e: unknown) => e)
      expect(err).toMatchObject({ code: 'fork' })
      expect(storedFingerprint(dir)).toEqual(before)
      const evidence = JSON.parse(readFileSync(join(dir, evidenceFiles(dir)[0]!), 'utf8'))
      expect(evidence.served.source).toBe(`peer ${base}/forked`)
    } finally {
      await new Promise<void>((r) => server.close(() => r()))
    }
  })
})
