import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  decodeSnapshot,
  encodeSnapshot,
  formatManifest,
  gunzip,
  gzip,
  parseManifest,
  type SnapshotContent,
} from '../../src/protocol/snapshot.ts'

// Random valid contents: sorted unique subjects, sorted unique apps, unique log indexes below treeSize.
const content: fc.Arbitrary<SnapshotContent> = fc
  .record({
    subjects: fc.uniqueArray(fc.integer({ min: 10, max: 999_999_999_999_999 }), { maxLength: 40 }),
    appSets: fc.array(fc.uniqueArray(fc.integer({ min: 1, max: 6 }), { minLength: 1, maxLength: 4 }), { minLength: 40, maxLength: 40 }),
    extra: fc.nat(50),
    times: fc.array(fc.integer({ min: 0, max: 0xffff_ffff }), { minLength: 200, maxLength: 200 }),
    key: fc.uint8Array({ minLength: 32, maxLength: 32 }),
    edge: fc.array(fc.uint8Array({ minLength: 32, maxLength: 32 }), { maxLength: 5 }),
    seed: fc.nat(),
  })
  .map(({ subjects, appSets, extra, times, key, edge, seed }) => {
    subjects.sort((a, b) => a - b)
    const bindingCount = subjects.reduce((n, _, i) => n + appSets[i]!.length, 0)
    const treeSize = bindingCount + extra
    // A deterministic shuffle of [0, treeSize) gives each binding a unique index.
    const pool = Array.from({ length: treeSize }, (_, i) => i)
    let x = seed
    for (let i = pool.length - 1; i > 0; i--) {
      x = (x * 1103515245 + 12345) % 2 ** 31
      const j = x % (i + 1)
      ;[pool[i], pool[j]] = [pool[j]!, pool[i]!]
    }
    let k = 0
    return {
      treeSize,
      rightEdge: edge,
      apps: Array.from({ length: 6 }, (_, i) => ({ num: i + 1, id: `app-${i + 1}`, revoked: i === 5 })),
      records: subjects.map((subject, i) => ({
        subject,
        bindings: appSets[i]!
          .sort((a, b) => a - b)
          .map((app) => {
            const n = k++
            return { app, index: pool[n]!, verifiedAt: times[n % times.length]!, ttlDays: 1 + (n % 400), ...(n % 7 === 0 ? { keyFingerprint: key } : {}) }
          }),
      })),
    }
  })

describe('snapshot codec', () => {
  it('round-trips any valid content', () => {
    fc.assert(
      fc.property(content, (c) => {
        expect(decodeSnapshot(encodeSnapshot(c).bytes)).toEqual(c)
      }),
      { numRuns: 300 },
    )
  })

  it('round-trips through gzip', async () => {
    const c = fc.sample(content, { numRuns: 1, seed: 7 })[0]!
    const gz = await gzip(encodeSnapshot(c).bytes)
    expect(decodeSnapshot(await gunzip(gz))).toEqual(c)
    await expect(gunzip(gz, 10)).rejects.toThrow('larger than 10 bytes')
    const garbled = gz.slice()
    garbled[gz.length - 6]! ^= 0xff
    await expect(gunzip(garbled)).rejects.toThrow()
  })

  it('refuses anything malformed: any truncation, extension, bad magic or flipped byte that breaks a rule', () => {
    const c = fc.sample(content.filter((x) => x.records.length > 3), { numRuns: 1, seed: 3 })[0]!
    const bytes = encodeSnapshot(c).bytes
    for (let cut = 0; cut < bytes.length; cut += Math.max(1, Math.floor(bytes.length / 200))) {
      expect(() => decodeSnapshot(bytes.subarray(0, cut))).toThrow()
    }
    expect(() => decodeSnapshot(Uint8Array.from([...bytes, 0]))).toThrow('trailing')
    const magic = bytes.slice()
    magic[0] = 0x58
    expect(() => decodeSnapshot(magic)).toThrow('bad magic')
    // A flipped byte either fails to decode or decodes to different content: never silently equal.
    for (let at = 0; at < bytes.length; at++) {
      const flipped = bytes.slice()
      flipped[at]! ^= 0x01
      let decoded: SnapshotContent | null = null
      try {
        decoded = decodeSnapshot(flipped)
      } catch {
        continue
      }
      expect(decoded).not.toEqual(c)
    }
  })

  it('refuses unsorted records, duplicate indexes and indexes beyond the tree', () => {
    const base: SnapshotContent = {
      treeSize: 10,
      rightEdge: [],
      apps: [{ num: 1, id: 'appa', revoked: false }],
      records: [
        { subject: 16505550011, bindings: [{ app: 1, index: 3, verifiedAt: 5, ttlDays: 1 }] },
        { subject: 16505550012, bindings: [{ app: 1, index: 4, verifiedAt: 6, ttlDays: 1 }] },
      ],
    }
    expect(() => encodeSnapshot({ ...base, records: [...base.records].reverse() })).toThrow('sorted')
    const dup = structuredClone(base)
    dup.records[1]!.bindings[0]!.index = 3
    expect(() => encodeSnapshot(dup)).toThrow('same log index')
    const beyond = structuredClone(base)
    beyond.records[1]!.bindings[0]!.index = 10
    expect(() => encodeSnapshot(beyond)).toThrow('beyond the tree size')
  })

  it('is small: times ordered by log index cost almost nothing', async () => {
    const records = Array.from({ length: 5000 }, (_, i) => ({
      subject: 16500000000 + i * 997,
      bindings: [{ app: 1, index: (i * 7919) % 5000, verifiedAt: 1_764_000_000 + ((i * 7919) % 5000) * 60, ttlDays: 365 }],
    }))
    const { sections } = encodeSnapshot({ treeSize: 5000, rightEdge: [], apps: [{ num: 1, id: 'appa', revoked: false }], records })
    // 13 bits of index per binding; constant time deltas and key flags compress to almost nothing.
    expect((await gzip(sections.provenance)).length).toBeLessThan(5000 * (13 / 8) * 1.1)
  })
})

describe('snapshot manifest', () => {
  const m = { origin: 'whodis.localhost/log', treeSize: 42, rootHash: new Uint8Array(32).fill(1), records: 7, bytes: 1234, sha256: new Uint8Array(32).fill(2) }

  it('formats and parses exactly', () => {
    const text = formatManifest(m)
    expect(text).toBe(
      'whodis.snapshot/v1\nwhodis.localhost/log\n42\nAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=\nrecords 7\nbytes 1234\nsha256 AgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgI=\n',
    )
    expect(parseManifest(text)).toEqual(m)
  })

  it('refuses any deviation', () => {
    const text = formatManifest(m)
    for (const bad of [text.replace('\n42\n', '\n042\n'), text.replace('records 7', 'records -7'), text.slice(0, -1), text + 'x\n', text.replace('whodis.snapshot/v1', 'whodis.snapshot/v2')]) {
      expect(() => parseManifest(bad)).toThrow('malformed snapshot manifest')
    }
  })
})
