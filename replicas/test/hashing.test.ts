/**
 * The mirror's bulk hashing: four-lane WebAssembly SHA-256 (sha256x4.ts), whole-tile tree
 * hashing (tile-hash.ts), a snapshot prepared in a worker thread (snapshot-worker.ts) and
 * hashes.bin's background writes, each against the scalar protocol code it must equal.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import fc from 'fast-check'
import { afterAll, describe, expect, it } from 'vitest'
import { encodeEntry } from '../../src/protocol/entry.ts'
import { HashAppender } from '../../src/protocol/hash-appender.ts'
import { leafHash, RightEdge } from '../../src/protocol/merkle.ts'
import { sha256Leaf, sha256Node } from '../../src/protocol/sha256.ts'
import { signNote, verifierKeyOf } from '../../src/protocol/note.ts'
import { encodeSnapshot, formatManifest, gzip, snapshotDigest, type SnapshotContent } from '../../src/protocol/snapshot.ts'
import { prepareSnapshot } from '../src/snapshot-worker.ts'
import { parseLogKey } from '../src/trust.ts'
import { makeSigner } from './fixtures/fake-log.ts'
import { HashFile } from '../src/hashes.ts'
import { HashBatch, hashTileLevels, simdAvailable, TILE_LEVEL_STRIDE } from '../src/sha256x4.ts'
import { TILE_STORED_BYTES, TreeAppender } from '../src/tile-hash.ts'

const dirs: string[] = []
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true })
})

describe('four-lane SHA-256', () => {
  it('is available here (Node 20 has WebAssembly SIMD)', () => {
    expect(simdAvailable()).toBe(true)
  })

  it('hashes leaves of every length and random nodes exactly as the scalar code', () => {
    const batch = new HashBatch()
    const datas = Array.from({ length: 600 }, (_, i) => Uint8Array.from({ length: i % 90 }, (_, k) => (k * 31 + i * 7) & 0xff))
    const out = new Uint8Array(datas.length * 32 + 7)
    // Inside a larger buffer, at an odd offset, across several flushes (256 messages a batch).
    datas.forEach((d, i) => {
      const src = new Uint8Array(d.length + 5)
      src.set(d, 3)
      batch.leaf(src, 3, 3 + d.length, out, 7 + i * 32)
    })
    batch.flush()
    datas.forEach((d, i) => expect(out.subarray(7 + i * 32, 7 + i * 32 + 32)).toEqual(sha256Leaf(d)))
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.uint8Array({ minLength: 32, maxLength: 32 }), fc.uint8Array({ minLength: 32, maxLength: 32 })), { minLength: 1, maxLength: 40 }), (pairs) => {
        const got = new Uint8Array(pairs.length * 32)
        pairs.forEach(([l, r], i) => batch.node(l, 0, r, 0, got, i * 32))
        batch.flush()
        pairs.forEach(([l, r], i) => expect(got.subarray(i * 32, i * 32 + 32)).toEqual(sha256Node(l, r)))
      }),
      { numRuns: 100 },
    )
  })

  it('computes every level of a tile as the scalar node hash does', () => {
    const leaves = new Uint8Array(256 * 32).map((_, i) => (i * 131 + 7) & 0xff)
    const levels = hashTileLevels(leaves, 0)
    let below: Uint8Array[] = Array.from({ length: 256 }, (_, i) => leaves.slice(i * 32, i * 32 + 32))
    for (let l = 1; l <= 8; l++) {
      const level = Array.from({ length: below.length / 2 }, (_, k) => sha256Node(below[2 * k]!, below[2 * k + 1]!))
      level.forEach((h, k) => expect(levels.subarray(l * TILE_LEVEL_STRIDE + k * 32, l * TILE_LEVEL_STRIDE + k * 32 + 32)).toEqual(h))
      below = level
    }
  })
})

describe('TreeAppender', () => {
  it('writes the stored hashes RightEdge.append does, for whole tiles and odd runs, from any start', () => {
    for (const start of [0, 1, 255, 256, 768, 1000]) {
      const edge = new RightEdge()
      for (let i = 0; i < start; i++) edge.append(leafHash(Uint8Array.of(i & 0xff, i >> 8)))
      const tree = new TreeAppender(new HashAppender(edge))
      const runs = [256, 256, 3, 253, 256, 100]
      let n = start
      for (const count of runs) {
        const leaves = new Uint8Array(count * 32)
        for (let i = 0; i < count; i++) leaves.set(leafHash(Uint8Array.of(5, (n + i) & 0xff, (n + i) >> 8)), i * 32)
        const out = new Uint8Array(TILE_STORED_BYTES)
        const written = tree.append(leaves, 0, count, out)
        const want: Uint8Array[] = []
        for (let i = 0; i < count; i++) want.push(...edge.append(leaves.slice(i * 32, i * 32 + 32)))
        expect(written).toBe(want.length)
        want.forEach((h, k) => expect(out.subarray(k * 32, k * 32 + 32)).toEqual(h))
        n += count
      }
      expect(tree.edge.root()).toEqual(edge.root())
    }
  })
})

describe('a large snapshot prepared in a worker thread', () => {
  // A snapshot of 3,000 bindings whose entries are the log's first 3,000 entries (adds).
  const records: SnapshotContent['records'] = []
  const entries: Uint8Array[] = []
  for (let i = 0; i < 1500; i++) {
    const subject = 16505550000 + i
    const bindings = [1, 2].map((app) => ({ app, index: 2 * i + app - 1, verifiedAt: 1_800_000_000 + i, ttlDays: 365 }))
    records.push({ subject, bindings })
    for (const b of bindings) entries.push(encodeEntry({ kind: 'add', subject, app: b.app, time: b.verifiedAt, ttlDays: b.ttlDays }))
  }
  const leaves = new Uint8Array(entries.length * 32)
  const edge = new RightEdge()
  entries.forEach((e, i) => {
    leaves.set(leafHash(e), i * 32)
    edge.append(leafHash(e))
  })
  const apps = [{ num: 1, id: 'appa', revoked: false }, { num: 2, id: 'appb', revoked: false }]
  /** A signed snapshot file of `recs`, optionally damaged after signing. */
  const file = async (recs: SnapshotContent['records'], damage = false) => {
    const signer = await makeSigner('fake.test/log')
    const data = await gzip(encodeSnapshot({ treeSize: entries.length, rightEdge: edge.hashes, apps, records: recs }).bytes)
    const body = { origin: 'fake.test/log', treeSize: entries.length, rootHash: edge.root(), records: recs.length, bytes: data.length, sha256: snapshotDigest(data) }
    const note = await signNote(formatManifest(body), signer)
    if (damage) data[data.length - 10] = data[data.length - 10]! ^ 1
    return { file: { manifest: { ...body, note }, data }, keyText: verifierKeyOf(signer) }
  }
  const prepare = async (recs: SnapshotContent['records'], damage = false) => {
    const { file: f, keyText } = await file(recs, damage)
    return prepareSnapshot(f, parseLogKey(keyText, 'test'), keyText, 2 ** 31, { worker: true })
  }
  const feed = async (p: Awaited<ReturnType<typeof prepare>>) => {
    for (let t = 0; t < entries.length; t += 256) p.check.leaves(t, leaves.subarray(t * 32), Math.min(256, entries.length - t))
    await p.check.done()
  }

  it('decodes it, builds the index and checks every binding there', async () => {
    const p = await prepare(records)
    try {
      await feed(p)
      const decoded = await p.decoded
      expect(decoded.treeSize).toBe(entries.length)
      expect(decoded.edge.root()).toEqual(edge.root())
      const { index, order } = await p.index()
      expect(index.size).toBe(1500)
      expect(index.get(16505551234)).toEqual(records[1234]!.bindings)
      expect(order.subjects[1234]).toBe(16505551234)
      expect(index.payloadInBuildOrder()).not.toBeNull()
    } finally {
      p.close()
    }
  })

  it('refuses a binding that is not its log entry (bad_snapshot), as the main-thread check does', async () => {
    const tampered = records.map((r, i) => (i === 1234 ? { subject: r.subject, bindings: [r.bindings[0]!, { ...r.bindings[1]!, ttlDays: 30 }] } : r))
    const p = await prepare(tampered)
    try {
      const refusal = await feed(p).catch((err: Error) => err)
      expect(refusal).toMatchObject({ code: 'bad_snapshot', message: expect.stringContaining('a binding to app 2 is not log entry 2469') })
      // It is logged: the entry names the binding, the number does not appear.
      expect((refusal as Error).message).not.toContain('6505551234')
    } finally {
      p.close()
    }
  })

  it('refuses a file that does not match its manifest (bad_snapshot), at every stage', async () => {
    const p = await prepare(records, true)
    try {
      await expect(p.decoded).rejects.toMatchObject({ code: 'bad_snapshot', message: expect.stringContaining('SHA-256') })
      await expect(p.index()).rejects.toMatchObject({ code: 'bad_snapshot' })
      await expect(feed(p)).rejects.toMatchObject({ code: 'bad_snapshot' })
    } finally {
      p.close()
    }
  })
})

describe('hashes.bin background writes', () => {
  it('writes runs over 8 MiB in the background, refuses synchronous use until drained, and reads back', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'whodis-hashes-'))
    dirs.push(dir)
    const file = HashFile.open(join(dir, 'hashes.bin'), 0)
    const count = 300_000 // 9.6 MB: one background write and a remainder
    const run = new Uint8Array(count * 32)
    for (let i = 0; i < run.length; i++) run[i] = (i * 7) & 0xff
    file.writeRun(0, run, 0, count)
    expect(() => file.reader([0])).toThrow(/in flight/)
    await file.drain()
    file.sync()
    expect(file.reader([0, count - 1])).toEqual([run.slice(0, 32), run.slice((count - 1) * 32)])
    file.close()
    // (Buffer.equals: a deep equality over 9.6 MB would take the test's whole time.)
    expect(readFileSync(join(dir, 'hashes.bin')).equals(Buffer.from(run.buffer))).toBe(true)
  })
})
