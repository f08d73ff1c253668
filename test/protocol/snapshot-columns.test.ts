import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { columnContent, decodeSnapshotColumns, encodeSnapshot, type SnapshotContent } from '../../src/protocol/snapshot.ts'

// Random valid contents (as in snapshot.test.ts): sorted unique subjects and apps, unique indexes.
const content: fc.Arbitrary<SnapshotContent> = fc
  .record({
    subjects: fc.uniqueArray(fc.integer({ min: 10, max: 999_999_999_999_999 }), { maxLength: 40 }),
    appSets: fc.array(fc.uniqueArray(fc.integer({ min: 1, max: 6 }), { minLength: 1, maxLength: 4 }), { minLength: 40, maxLength: 40 }),
    extra: fc.nat(5000),
    times: fc.array(fc.integer({ min: 0, max: 0xffff_ffff }), { minLength: 200, maxLength: 200 }),
    key: fc.uint8Array({ minLength: 32, maxLength: 32 }),
    edge: fc.array(fc.uint8Array({ minLength: 32, maxLength: 32 }), { maxLength: 5 }),
    seed: fc.nat(),
  })
  .map(({ subjects, appSets, extra, times, key, edge, seed }) => {
    subjects.sort((a, b) => a - b)
    const bindingCount = subjects.reduce((n, _, i) => n + appSets[i]!.length, 0)
    const treeSize = bindingCount + extra
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

/** Checks the columns of `c`'s encoding: its content, and the log-order views. */
function checkColumns(c: SnapshotContent): void {
  const got = decodeSnapshotColumns(encodeSnapshot(c).bytes)
  expect(columnContent(got)).toEqual(c)
  // byIndex lists binding positions by ascending log index.
  const indexes = Array.from(got.byIndex, (p) => got.index[p]!)
  expect(indexes).toEqual([...indexes].sort((a, b) => a - b))
  expect(got.byIndex.length).toBe(got.bindings)
  expect(Array.from(got.logIndex)).toEqual(indexes)
  expect(Array.from(got.logTime)).toEqual(Array.from(got.byIndex, (p) => got.verifiedAt[p]!))
}

describe('snapshot column decoding', () => {
  it('decodes any valid snapshot to its content, with the bindings in log order too', () => {
    fc.assert(
      fc.property(content, (c) => checkColumns(c)),
      { numRuns: 300 },
    )
  })

  it('refuses flipped, cut and extended bytes with a clear Error, never anything else', () => {
    let refused = 0
    fc.assert(
      fc.property(content, fc.nat(), fc.nat(255), fc.constantFrom('flip', 'cut', 'extend', 'zero'), (c, at, value, how) => {
        const bytes = encodeSnapshot(c).bytes
        const i = at % bytes.length
        let damaged: Uint8Array
        if (how === 'flip') {
          damaged = bytes.slice()
          damaged[i] = damaged[i]! ^ (value | 1)
        } else if (how === 'zero') {
          damaged = bytes.slice()
          damaged[i] = 0
        } else if (how === 'cut') damaged = bytes.slice(0, i)
        else damaged = Uint8Array.of(...bytes, value)
        try {
          decodeSnapshotColumns(damaged)
        } catch (err) {
          expect(err).toBeInstanceOf(Error)
          expect((err as Error).constructor).toBe(Error)
          refused++
        }
      }),
      { numRuns: 1000 },
    )
    expect(refused).toBeGreaterThan(300)
  })

  it('refuses an app num or TTL no log entry can carry', () => {
    const c: SnapshotContent = { treeSize: 2, rightEdge: [], apps: [{ num: 1, id: 'app-1', revoked: false }], records: [{ subject: 16505550011, bindings: [{ app: 1, index: 0, verifiedAt: 5, ttlDays: 2 ** 33 }] }] }
    expect(() => decodeSnapshotColumns(encodeSnapshot(c).bytes)).toThrow(/out of range/)
  })
})
