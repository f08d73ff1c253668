import { appendFileSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import fc from 'fast-check'
import { afterAll, describe, expect, it } from 'vitest'
import { StoreError } from '../src/store/errors.ts'
import { sortSubjects } from '../src/store/radix-sort.ts'
import { type MirrorStore, openStore } from '../src/store/store.ts'
import { IndexBuilder, type LoadPolicy, SubjectIndex } from '../src/store/subject-index.ts'
import type { Binding, CommitMeta, SubjectChange, SubjectRecord } from '../src/store/types.ts'

// Subjects: a small pool so batches replace and delete, spread over both halves of the key.
const POOL = [1, 2, 3, 16505550011, 16505550012, 447700900123, 491711234567, 33612345678, 919876543210, 8613800138000,
  5511987654321, 2348031234567, 999_999_999_999_999, 2 ** 32 - 1, 2 ** 32, 2 ** 32 + 1, 2 ** 40, 123456789012345]
const subjectArb = fc.oneof(fc.constantFrom(...POOL), fc.integer({ min: 1, max: 2_000 }), fc.integer({ min: 1, max: 999_999_999_999_999 }))
const fingerprintArb = fc.uint8Array({ minLength: 32, maxLength: 32 })
const bindingArb = fc.record({
  index: fc.oneof(fc.integer({ min: 0, max: 1000 }), fc.integer({ min: 0, max: 2 ** 40 - 1 })),
  verifiedAt: fc.oneof(fc.integer({ min: 0, max: 0xffffffff }), fc.constant(1_700_000_000)),
  ttlDays: fc.integer({ min: 0, max: 0xffff }),
  keyFingerprint: fc.option(fingerprintArb, { nil: undefined, freq: 8 }),
})
const bindingsArb = fc
  .uniqueArray(fc.integer({ min: 0, max: 0xffff }), { minLength: 0, maxLength: 4 })
  .chain((apps) => fc.tuple(...apps.sort((a, b) => a - b).map((app) => bindingArb.map((b) => ({ ...b, app })))))
  .map((bs) => bs.map(clean))
const changeArb = fc.record({ subject: subjectArb, bindings: fc.oneof(bindingsArb, fc.constant([] as Binding[])) })
const batchesArb = fc.array(fc.array(changeArb, { maxLength: 30 }), { minLength: 1, maxLength: 12 })
const policyArb = fc.constantFrom<LoadPolicy | undefined>(undefined, { max: 0.95, target: 0.9, min: 0.3 }, { max: 0.99, target: 0.98, min: 0.01 })

function clean(b: Binding): Binding {
  const out: Binding = { app: b.app, index: b.index, verifiedAt: b.verifiedAt, ttlDays: b.ttlDays }
  if (b.keyFingerprint) out.keyFingerprint = b.keyFingerprint
  return out
}

function applyToMap(ref: Map<number, Binding[]>, batch: readonly SubjectChange[]): void {
  for (const c of batch) {
    if (c.bindings.length === 0) ref.delete(c.subject)
    else ref.set(c.subject, c.bindings.map(clean))
  }
}

function expectSame(index: SubjectIndex, ref: Map<number, Binding[]>): void {
  expect(index.size).toBe(ref.size)
  for (const s of [...POOL, ...ref.keys(), 4, 2 ** 33, 777_777_777_777]) {
    expect(index.get(s)).toEqual(ref.get(s))
    expect(index.has(s)).toBe(ref.has(s))
  }
  const sorted = [...ref.keys()].sort((a, b) => a - b)
  const seen: number[] = []
  index.forEach((subject, slot) => {
    seen.push(subject)
    expect(index.subjectAt(slot)).toBe(subject)
    expect(index.bindingsAt(slot)).toEqual(ref.get(subject))
  })
  expect(seen).toEqual(sorted)
  expect([...index.records()]).toEqual(sorted.map((subject) => ({ subject, bindings: ref.get(subject) })))
  const queries = Float64Array.from([...sorted, ...POOL, 5, 6])
  const out = new Int32Array(queries.length)
  index.findMany(queries, out)
  expect([...out]).toEqual([...queries].map((q) => index.find(q)))
}

function buildFrom(records: SubjectRecord[], policy?: LoadPolicy): SubjectIndex {
  const builder = new IndexBuilder(2, 2)
  for (const r of records) builder.add(r)
  return builder.finish(policy)
}

describe('sortSubjects', () => {
  it('sorts like Float64Array.prototype.sort', () => {
    const keyArb = fc.oneof(fc.integer({ min: 0, max: 2 ** 52 - 1 }), fc.integer({ min: 0, max: 70_000 }), fc.constantFrom(...POOL))
    fc.assert(
      fc.property(fc.array(keyArb, { minLength: 0, maxLength: 5000 }), (keys) => {
        const a = Float64Array.from(keys)
        expect([...sortSubjects(a.slice())]).toEqual([...a.sort()])
      }),
      { numRuns: 60 },
    )
  })
})

describe('SubjectIndex', () => {
  it('matches a Map under random batches (inserts, replacements, deletes, absent lookups)', () => {
    fc.assert(
      fc.property(batchesArb, policyArb, fc.boolean(), (batches, policy, fromBuilder) => {
        const ref = new Map<number, Binding[]>()
        let index = SubjectIndex.empty(policy)
        if (fromBuilder) {
          applyToMap(ref, batches[0]!)
          index = buildFrom([...ref].sort((a, b) => a[0] - b[0]).map(([subject, bindings]) => ({ subject, bindings })), policy)
        }
        for (const batch of fromBuilder ? batches.slice(1) : batches) {
          // Loading ahead (held, absent and deleted numbers alike) only warms the cache.
          const ahead = Float64Array.from(batch, (c) => c.subject)
          index.prefetch(ahead, ahead.length)
          index.apply(batch)
          applyToMap(ref, batch)
          index.prefetch(ahead, ahead.length)
          expectSame(index, ref)
        }
      }),
      { numRuns: 300 },
    )
  })

  it('keeps colliding clusters intact through deletions at high load', () => {
    // A nearly full table makes long clusters that wrap around; deleting from them must keep
    // every other subject reachable.
    fc.assert(
      fc.property(fc.uniqueArray(fc.integer({ min: 1, max: 10_000 }), { minLength: 10, maxLength: 200 }), fc.array(fc.nat(), { maxLength: 200 }), (subjects, picks) => {
        const policy = { max: 0.99, target: 0.98, min: 0.001 }
        const ref = new Map<number, Binding[]>()
        const index = SubjectIndex.empty(policy)
        const b = [{ app: 1, index: 2, verifiedAt: 3, ttlDays: 4 }]
        index.apply(subjects.map((subject) => ({ subject, bindings: b })))
        for (const s of subjects) ref.set(s, b)
        for (const p of picks) {
          const s = subjects[p % subjects.length]!
          index.apply([{ subject: s, bindings: [] }])
          ref.delete(s)
          for (const t of subjects) expect(index.has(t)).toBe(ref.has(t))
        }
        expectSame(index, ref)
      }),
    )
  })

  it('answers through the allocation-free accessors', () => {
    const key = new Uint8Array(32).fill(7)
    const index = buildFrom([
      { subject: 16505550011, bindings: [{ app: 3, index: 2 ** 40 - 1, verifiedAt: 0xffffffff, ttlDays: 0xffff, keyFingerprint: key }, { app: 9, index: 5, verifiedAt: 1_700_000_000, ttlDays: 365 }] },
    ])
    const slot = index.find(16505550011)
    expect(slot).toBeGreaterThanOrEqual(0)
    expect(index.count(slot)).toBe(2)
    const p = index.first(slot)
    expect([index.app(p), index.logIndex(p), index.verifiedAt(p), index.ttlDays(p)]).toEqual([3, 2 ** 40 - 1, 0xffffffff, 0xffff])
    expect(index.keyFingerprint(p)).toEqual(key)
    expect(index.keyFingerprint(p + 1)).toBeUndefined()
    expect(index.expiresAt(p + 1)).toBe(1_700_000_000 + 365 * 86_400)
    expect(index.find(16505550012)).toBe(-1)
  })

  it('rejects malformed input without applying any of the batch', () => {
    const index = SubjectIndex.empty()
    const good = { subject: 5, bindings: [{ app: 1, index: 1, verifiedAt: 1, ttlDays: 1 }] }
    const bad: SubjectChange[] = [
      { subject: 0, bindings: good.bindings },
      { subject: 1e15, bindings: good.bindings },
      { subject: 1.5, bindings: good.bindings },
      { subject: 6, bindings: [{ app: 2, index: 1, verifiedAt: 1, ttlDays: 1 }, { app: 2, index: 1, verifiedAt: 1, ttlDays: 1 }] },
      { subject: 6, bindings: [{ app: 0x10000, index: 1, verifiedAt: 1, ttlDays: 1 }] },
      { subject: 6, bindings: [{ app: 1, index: 2 ** 40, verifiedAt: 1, ttlDays: 1 }] },
      { subject: 6, bindings: [{ app: 1, index: 1, verifiedAt: 2 ** 32, ttlDays: 1 }] },
      { subject: 6, bindings: [{ app: 1, index: 1, verifiedAt: 1, ttlDays: -1 }] },
      { subject: 6, bindings: [{ app: 1, index: 1, verifiedAt: 1, ttlDays: 1, keyFingerprint: new Uint8Array(31) }] },
    ]
    for (const change of bad) {
      expect(() => index.apply([good, change])).toThrow(StoreError)
      expect(index.size).toBe(0)
    }
    const builder = new IndexBuilder()
    builder.add(good)
    expect(() => builder.add(good)).toThrow(/ascending/)
    expect(() => builder.add({ subject: 9, bindings: [] })).toThrow(/no bindings/)
  })

  it('reclaims payload garbage and keeps the table within 24 bytes per record', () => {
    const index = SubjectIndex.empty()
    const n = 50_000
    const grow = (k: number) => Array.from({ length: k }, (_, app) => ({ app, index: k, verifiedAt: k, ttlDays: k }))
    for (let round = 1; round <= 4; round++) {
      index.apply(Array.from({ length: n }, (_, i) => ({ subject: 1e10 + i * 7919, bindings: grow(round) })))
    }
    const mem = index.memoryBytes()
    expect(index.size).toBe(n)
    expect(mem.index / n).toBeLessThanOrEqual(24)
    expect(mem.payload / (n * 4 * 16)).toBeLessThan(2.5)
    expect(index.get(1e10 + 7919 * 3)).toEqual(grow(4))
    index.apply(Array.from({ length: n - 100 }, (_, i) => ({ subject: 1e10 + i * 7919, bindings: [] })))
    expect(index.size).toBe(100)
    expect(index.memoryBytes().index / 100).toBeLessThanOrEqual(24)
    expect(index.get(1e10 + 7919 * (n - 1))).toEqual(grow(4))
  })
})

const root = mkdtempSync(join(tmpdir(), 'whodis-store-test-'))
afterAll(() => rmSync(root, { recursive: true, force: true }))
let dirs = 0
const freshDir = (): string => join(root, `s${dirs++}`)

function meta(treeSize: number, entries?: Uint8Array[]): CommitMeta {
  return {
    treeSize,
    checkpoint: `whodis.example/log\n${treeSize}\nroot${treeSize}=\n\n— whodis sig\n`,
    rightEdge: [new Uint8Array(32).fill(treeSize & 0xff), new Uint8Array(32).fill(1)],
    apps: [{ num: 1, id: 'signal', revoked: false }, { num: 2, id: 'whatsapp', revoked: treeSize % 2 === 0 }],
    entries,
  }
}

function stateOf(store: MirrorStore): SubjectRecord[] {
  return [...store.index.records()]
}

function sortedRecords(ref: Map<number, Binding[]>): SubjectRecord[] {
  return [...ref].sort((a, b) => a[0] - b[0]).map(([subject, bindings]) => ({ subject, bindings }))
}

async function expectCode(promise: Promise<unknown>, code: string): Promise<void> {
  await expect(promise).rejects.toSatisfy((err: unknown) => err instanceof StoreError && err.code === code)
}

const b1 = (app: number, v = 1_700_000_000): Binding => ({ app, index: app * 10, verifiedAt: v, ttlDays: 365 })

describe('MirrorStore', () => {
  it('round-trips commits, metadata, entries, compaction and bootstrap across reopen', async () => {
    const dir = freshDir()
    let store = await openStore(dir)
    expect(store.treeSize).toBe(0)
    await store.pin({ logKey: 'whodis.example/log+abcd+AAAA', directoryUrl: 'https://whodis.example' })
    const key = new Uint8Array(32).fill(9)
    await store.commit([{ subject: 16505550011, bindings: [b1(1), { ...b1(2), keyFingerprint: key }] }, { subject: 447700900123, bindings: [b1(3)] }], meta(2, [new Uint8Array([1, 2]), new Uint8Array([3])]))
    await store.commit([{ subject: 447700900123, bindings: [] }, { subject: 33612345678, bindings: [b1(1, 5)] }], meta(4, [new Uint8Array([4]), new Uint8Array(300).fill(5)]))
    await store.commit([], meta(4))
    const expected = [
      { subject: 33612345678, bindings: [b1(1, 5)] },
      { subject: 16505550011, bindings: [b1(1), { ...b1(2), keyFingerprint: key }] },
    ].sort((a, b) => a.subject - b.subject)
    expect(stateOf(store)).toEqual(expected)
    await store.close()

    store = await openStore(dir)
    expect(stateOf(store)).toEqual(expected)
    expect(store.treeSize).toBe(4)
    expect(store.checkpoint).toBe(meta(4).checkpoint)
    expect(store.rightEdge).toEqual(meta(4).rightEdge)
    expect(store.apps).toEqual(meta(4).apps)
    expect(store.pinned).toEqual({ logKey: 'whodis.example/log+abcd+AAAA', directoryUrl: 'https://whodis.example' })
    expect([...store.entryBatches()]).toEqual([
      { treeSize: 2, entries: [new Uint8Array([1, 2]), new Uint8Array([3])] },
      { treeSize: 4, entries: [new Uint8Array([4]), new Uint8Array(300).fill(5)] },
    ])
    expect(store.stats()).toMatchObject({ treeSize: 4, records: 2, bindings: 3, journalCommits: 3, baseBytes: 0 })

    await store.compact()
    expect(store.stats()).toMatchObject({ generation: 1, journalBytes: 0, journalCommits: 0 })
    await store.commit([{ subject: 5511987654321, bindings: [b1(7)] }], meta(5, [new Uint8Array([6])]))
    await store.close()
    store = await openStore(dir)
    const afterCompact = [...expected, { subject: 5511987654321, bindings: [b1(7)] }].sort((a, b) => a.subject - b.subject)
    expect(stateOf(store)).toEqual(afterCompact)
    expect([...store.entryBatches()].map((b) => b.treeSize)).toEqual([2, 4, 5])
    expect([...store.originRecords()]).toEqual([])
    expect(readdirSync(dir).sort()).toEqual(['HEAD', 'LOCK', 'base-1.bin', 'entries-0.log', 'journal-1.log'])

    const snapshot = [{ subject: 12025550100, bindings: [b1(1)] }, { subject: 12025550101, bindings: [b1(1), b1(4)] }]
    await store.bootstrap(snapshot, meta(100))
    expect(stateOf(store)).toEqual(snapshot)
    expect(store.entriesFrom).toBe(100)
    await store.commit([{ subject: 12025550100, bindings: [] }], meta(101, [new Uint8Array([7])]))
    await store.close()
    store = await openStore(dir)
    expect(stateOf(store)).toEqual(snapshot.slice(1))
    expect([...store.originRecords()]).toEqual(snapshot)
    expect([...store.entryBatches()]).toEqual([{ treeSize: 101, entries: [new Uint8Array([7])] }])
    expect(store.pinned?.logKey).toBe('whodis.example/log+abcd+AAAA')
    await store.compact()
    await store.close()
    store = await openStore(dir)
    expect(stateOf(store)).toEqual(snapshot.slice(1))
    expect([...store.originRecords()]).toEqual(snapshot)
    expect(readdirSync(dir).sort()).toEqual(['HEAD', 'LOCK', 'base-2.bin', 'base-3.bin', 'entries-2.log', 'journal-3.log'])
    await store.close()
  })

  it('matches a model under random commits, compactions, bootstraps and reopens', async () => {
    const opArb = fc.oneof(
      { weight: 6, arbitrary: fc.array(changeArb, { maxLength: 8 }).map((changes) => ({ kind: 'commit' as const, changes })) },
      { weight: 1, arbitrary: fc.constant({ kind: 'compact' as const }) },
      { weight: 2, arbitrary: fc.constant({ kind: 'reopen' as const }) },
      { weight: 1, arbitrary: fc.array(changeArb, { maxLength: 8 }).map((changes) => ({ kind: 'bootstrap' as const, changes })) },
    )
    await fc.assert(
      fc.asyncProperty(fc.array(opArb, { maxLength: 12 }), async (ops) => {
        const dir = freshDir()
        let store = await openStore(dir)
        const ref = new Map<number, Binding[]>()
        let treeSize = 0
        try {
          for (const op of ops) {
            if (op.kind === 'commit') {
              treeSize += op.changes.length
              await store.commit(op.changes, meta(treeSize, op.changes.map((c) => new Uint8Array([c.bindings.length]))))
              applyToMap(ref, op.changes)
            } else if (op.kind === 'compact') {
              await store.compact()
            } else if (op.kind === 'reopen') {
              await store.close()
              store = await openStore(dir)
            } else {
              ref.clear()
              applyToMap(ref, op.changes)
              treeSize += 1
              await store.bootstrap(sortedRecords(ref), meta(treeSize))
            }
            expect(store.treeSize).toBe(treeSize)
            expect(stateOf(store)).toEqual(sortedRecords(ref))
          }
          await store.close()
          store = await openStore(dir)
          expect(stateOf(store)).toEqual(sortedRecords(ref))
        } finally {
          await store.close()
          rmSync(dir, { recursive: true, force: true })
        }
      }),
      { numRuns: 40 },
    )
  })

  it('discards a torn or uncommitted journal tail', async () => {
    const dir = freshDir()
    let store = await openStore(dir)
    await store.commit([{ subject: 16505550011, bindings: [b1(1)] }], meta(1, [new Uint8Array([1])]))
    await store.close()
    const journal = join(dir, 'journal-0.log')
    const entries = join(dir, 'entries-0.log')
    const committed = statSync(journal).size
    const committedEntries = statSync(entries).size

    // A whole frame that was written but never named by HEAD (crash before the rename)…
    store = await openStore(dir)
    const head = readFileSync(join(dir, 'HEAD'))
    await store.commit([{ subject: 16505550012, bindings: [b1(2)] }], meta(2, [new Uint8Array([2])]))
    await store.close()
    writeFileSync(join(dir, 'HEAD'), head)
    // …followed by half of another frame (a torn write).
    appendFileSync(journal, new Uint8Array([40, 0, 0, 0, 1, 2, 3]))
    appendFileSync(entries, new Uint8Array([9, 9, 9]))

    store = await openStore(dir)
    expect(stateOf(store)).toEqual([{ subject: 16505550011, bindings: [b1(1)] }])
    expect(store.treeSize).toBe(1)
    expect(statSync(journal).size).toBe(committed)
    expect(statSync(entries).size).toBe(committedEntries)
    await store.commit([{ subject: 16505550013, bindings: [b1(3)] }], meta(3))
    await store.close()
    store = await openStore(dir)
    expect(stateOf(store).map((r) => r.subject)).toEqual([16505550011, 16505550013])
    await store.close()
  })

  it('refuses corrupted committed bytes with code corrupt', async () => {
    const make = async (): Promise<string> => {
      const dir = freshDir()
      const store = await openStore(dir)
      await store.bootstrap([{ subject: 12025550100, bindings: [b1(1)] }, { subject: 12025550101, bindings: [b1(2)] }], meta(10))
      await store.commit([{ subject: 16505550011, bindings: [b1(1)] }], meta(11, [new Uint8Array([1, 2, 3])]))
      await store.commit([{ subject: 16505550012, bindings: [b1(1)] }], meta(12))
      await store.close()
      return dir
    }
    const flip = (path: string, at: number): void => {
      const bytes = readFileSync(path)
      bytes[at < 0 ? bytes.length + at : at]! ^= 0x40
      writeFileSync(path, bytes)
    }
    const cases: [string, (dir: string) => void][] = [
      ['journal body byte', (d) => flip(join(d, 'journal-1.log'), 10)],
      ['journal last byte', (d) => flip(join(d, 'journal-1.log'), -1)],
      ['journal length field', (d) => flip(join(d, 'journal-1.log'), 1)],
      ['journal cut short', (d) => writeFileSync(join(d, 'journal-1.log'), readFileSync(join(d, 'journal-1.log')).subarray(0, 12))],
      ['journal missing', (d) => rmSync(join(d, 'journal-1.log'))],
      ['base byte', (d) => flip(join(d, 'base-1.bin'), 60)],
      ['base last byte', (d) => flip(join(d, 'base-1.bin'), -1)],
      ['base missing', (d) => rmSync(join(d, 'base-1.bin'))],
      ['entries cut short', (d) => writeFileSync(join(d, 'entries-1.log'), new Uint8Array(2))],
      ['HEAD byte', (d) => flip(join(d, 'HEAD'), 20)],
      ['HEAD missing', (d) => rmSync(join(d, 'HEAD'))],
    ]
    for (const [name, damage] of cases) {
      const dir = await make()
      damage(dir)
      await expectCode(openStore(dir), 'corrupt').catch((err: unknown) => {
        throw new Error(`${name}: ${String(err)}`)
      })
    }
    // Damage in the entries file surfaces when the entries are read.
    const dir = await make()
    flip(join(dir, 'entries-1.log'), 9)
    const store = await openStore(dir)
    expect(() => [...store.entryBatches()]).toThrow(expect.objectContaining({ code: 'corrupt' }))
    await store.close()
  })

  it('locks the directory, takes over a dead holder, and rejects bad commits without writing', async () => {
    const dir = freshDir()
    const store = await openStore(dir)
    await expectCode(openStore(dir), 'locked')
    await store.commit([{ subject: 1, bindings: [b1(1)] }], meta(5))
    const head = readFileSync(join(dir, 'HEAD'), 'utf8')
    await expectCode(store.commit([], meta(4)), 'stale')
    await expectCode(store.commit([{ subject: 2, bindings: [b1(3), b1(3)] }], meta(6)), 'invalid')
    await expectCode(store.commit([], { ...meta(6), rightEdge: [new Uint8Array(31)] }), 'invalid')
    await expectCode(store.bootstrap([{ subject: 3, bindings: [b1(1)] }, { subject: 2, bindings: [b1(1)] }], meta(7)), 'invalid')
    expect(readFileSync(join(dir, 'HEAD'), 'utf8')).toBe(head)
    await store.pin({ logKey: 'k', directoryUrl: 'u' })
    await store.pin({ logKey: 'k', directoryUrl: 'u' })
    await expectCode(store.pin({ logKey: 'k2', directoryUrl: 'u' }), 'pinned')
    await store.close()
    await expectCode(store.commit([], meta(9)), 'closed')

    // A lock left behind by a process that no longer exists is taken over.
    writeFileSync(join(dir, 'LOCK'), `999999999 ${(await import('node:os')).hostname()}\n`)
    const again = await openStore(dir)
    expect(again.get(1)).toEqual([b1(1)])
    await again.close()
    expect(readdirSync(dir)).not.toContain('LOCK')
  })
})
