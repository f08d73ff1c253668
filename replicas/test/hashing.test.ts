/**
 * The mirror's bulk hashing: four-lane WebAssembly SHA-256 (sha256x4.ts), whole-tile tree
 * hashing (tile-hash.ts), a snapshot prepared in a worker thread (snapshot-worker.ts) and
 * hashes.bin's background writes, each against the scalar protocol code it must equal.
 */
import { createHash } from 'node:crypto'
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

/** SHA-256(prefix || parts) by node:crypto: the reference the WebAssembly hasher must equal. */
function nodeCrypto(prefix: number, ...parts: Uint8Array[]): Uint8Array {
  const hash = createHash('sha256').update(Uint8Array.of(prefix))
  for (const p of parts) hash.update(p)
  return new Uint8Array(hash.digest())
}

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

  it('keeps a queued leaf when a full batch of nodes flushes before it', () => {
    const batch = new HashBatch()
    const leafOut = new Uint8Array(32)
    const data = Uint8Array.of(1, 2, 3)
    batch.leaf(data, 0, 3, leafOut, 0)
    const nodesOut = new Uint8Array(256 * 32)
    const l = new Uint8Array(32).fill(7)
    const r = new Uint8Array(32).fill(9)
    for (let i = 0; i < 256; i++) batch.node(l, 0, r, 0, nodesOut, i * 32)
    batch.flush()
    expect(leafOut).toEqual(nodeCrypto(0x00, data))
    expect(nodesOut.subarray(255 * 32)).toEqual(nodeCrypto(0x01, l, r))
  })

  it('equals node:crypto for any interleaving of leaves, nodes, flushes, batches and tile hashing', () => {
    const bytes = (min: number, max: number) => fc.uint8Array({ minLength: min, maxLength: max })
    const step = fc.oneof(
      { arbitrary: fc.record({ op: fc.constant('leaf' as const), batch: fc.nat(1), data: bytes(0, 100) }), weight: 6 },
      { arbitrary: fc.record({ op: fc.constant('node' as const), batch: fc.nat(1), l: bytes(32, 32), r: bytes(32, 32) }), weight: 6 },
      { arbitrary: fc.record({ op: fc.constant('flush' as const), batch: fc.nat(1) }), weight: 1 },
      { arbitrary: fc.record({ op: fc.constant('tile' as const), seed: fc.nat(255) }), weight: 1 },
      // A run long enough to fill a batch (256 messages) and flush on its own, mid-sequence.
      { arbitrary: fc.record({ op: fc.constant('burst' as const), batch: fc.nat(1), kind: fc.constantFrom('leaf', 'node'), count: fc.integer({ min: 200, max: 600 }) }), weight: 1 },
    )
    fc.assert(
      fc.property(fc.array(step, { minLength: 1, maxLength: 60 }), (steps) => {
        const batches = [new HashBatch(), new HashBatch()]
        const expected: { out: Uint8Array; at: number; digest: Uint8Array }[] = []
        const queue = (b: HashBatch, kind: 'leaf' | 'node', i: number) => {
          const out = new Uint8Array(32 + (i % 5))
          const at = i % 5
          if (kind === 'leaf') {
            const data = Uint8Array.from({ length: i % 60 }, (_, k) => (k * 13 + i) & 0xff)
            b.leaf(data, 0, data.length, out, at)
            expected.push({ out, at, digest: nodeCrypto(0x00, data) })
          } else {
            const l = new Uint8Array(32).fill(i & 0xff)
            const r = new Uint8Array(32).fill((i * 7) & 0xff)
            b.node(l, 0, r, 0, out, at)
            expected.push({ out, at, digest: nodeCrypto(0x01, l, r) })
          }
        }
        let n = 0
        for (const s of steps) {
          if (s.op === 'leaf') {
            const out = new Uint8Array(40)
            const src = new Uint8Array(s.data.length + 2)
            src.set(s.data, 1)
            batches[s.batch]!.leaf(src, 1, 1 + s.data.length, out, 3)
            src.fill(0xee) // inputs may be reused at once
            expected.push({ out, at: 3, digest: nodeCrypto(0x00, s.data) })
          } else if (s.op === 'node') {
            const out = new Uint8Array(32)
            const l = s.l.slice()
            const r = s.r.slice()
            batches[s.batch]!.node(l, 0, r, 0, out, 0)
            l.fill(0)
            r.fill(0)
            expected.push({ out, at: 0, digest: nodeCrypto(0x01, s.l, s.r) })
          } else if (s.op === 'flush') {
            batches[s.batch]!.flush()
          } else if (s.op === 'tile') {
            const leaves = new Uint8Array(256 * 32).map((_, i) => (i * 31 + s.seed) & 0xff)
            const levels = hashTileLevels(leaves, 0)
            expect(levels.subarray(TILE_LEVEL_STRIDE, TILE_LEVEL_STRIDE + 32)).toEqual(nodeCrypto(0x01, leaves.subarray(0, 32), leaves.subarray(32, 64)))
          } else {
            for (let k = 0; k < s.count; k++) queue(batches[s.batch]!, s.kind, n++)
          }
        }
        for (const b of batches) b.flush()
        for (const [i, e] of expected.entries()) expect({ i, digest: e.out.subarray(e.at, e.at + 32) }).toEqual({ i, digest: e.digest })
      }),
      { numRuns: 150 },
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
