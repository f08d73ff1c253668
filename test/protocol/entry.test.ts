import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { toHex } from '../../src/protocol/bytes.ts'
import { decodeEntry, e164Of, encodeBindingEntryInto, encodeEntry, EntryError, subjectOf, subjectOfEncoded, ttlDaysOf, type LogEntry } from '../../src/protocol/entry.ts'

const subject = fc.integer({ min: 10, max: 999_999_999_999_999 })
const app = fc.integer({ min: 0, max: 0xffff })
const time = fc.integer({ min: 0, max: 0xffff_ffff })
const appId = fc.stringMatching(/^[a-z0-9.-]{2,64}$/)
const entry: fc.Arbitrary<LogEntry> = fc.oneof(
  fc.record(
    {
      kind: fc.constantFrom('add' as const, 'renew' as const),
      subject,
      app,
      time,
      ttlDays: fc.integer({ min: 1, max: 0xffff }),
      keyFingerprint: fc.uint8Array({ minLength: 32, maxLength: 32 }),
    },
    { requiredKeys: ['kind', 'subject', 'app', 'time', 'ttlDays'] },
  ),
  fc.record({
    kind: fc.constant('remove' as const),
    subject,
    app,
    time,
    reason: fc.constantFrom('app' as const, 'holder' as const, 'reassigned' as const, 'app_revoked' as const),
  }),
  fc.record({ kind: fc.constant('expire' as const), subject, app, time }),
  fc.record({ kind: fc.constant('app-register' as const), app, time, id: appId }),
  fc.record({ kind: fc.constant('app-revoke' as const), app, time }),
)

describe('log entry codec v2', () => {
  it('round-trips every kind', () => {
    fc.assert(
      fc.property(entry, (e) => {
        expect(decodeEntry(encodeEntry(e))).toEqual(e)
      }),
      { numRuns: 2000 },
    )
  })

  it('encodes a minimal add in 17 bytes, exactly as documented', () => {
    const bytes = encodeEntry({ kind: 'add', subject: subjectOf('+16505550011'), app: 2, time: 1_764_000_000, ttlDays: 365 })
    expect(bytes.length).toBe(17)
    // version 2 | kind 1 | subject 16505550011 = 0x3d7ceb4bb as u56 | time 0x69248100 little-endian | app 2 | ttl 365 = 0x16d
    expect(toHex(bytes)).toBe('02' + '01' + '000003d7ceb4bb' + '00812469' + '0002' + '016d')
  })

  it('refuses every truncation, extension and flipped kind/flag of valid entries', () => {
    fc.assert(
      fc.property(entry, fc.integer({ min: 0, max: 60 }), (e, cut) => {
        const bytes = encodeEntry(e)
        if (cut < bytes.length) expect(() => decodeEntry(bytes.subarray(0, cut))).toThrow(EntryError)
        expect(() => decodeEntry(Uint8Array.from([...bytes, 0]))).toThrow(EntryError)
      }),
    )
    const add = encodeEntry({ kind: 'add', subject: 16505550011, app: 1, time: 5, ttlDays: 1 })
    for (const [at, value, why] of [
      [0, 1, 'unsupported entry version'],
      [0, 3, 'unsupported entry version'],
      [1, 0x05, 'unknown entry kind'],
      [1, 0x21, 'keyed-label'],
      [1, 0x41, 'invalid entry flags'],
      [1, 0x11, 'must be 49 bytes'],
    ] as const) {
      const bad = add.slice()
      bad[at] = value
      expect(() => decodeEntry(bad), why).toThrow(why)
    }
  })

  it('reads the subject of an encoded entry without decoding it (0 where there is none)', () => {
    fc.assert(
      fc.property(entry, (e) => {
        expect(subjectOfEncoded(encodeEntry(e))).toBe('subject' in e ? e.subject : 0)
      }),
      { numRuns: 1000 },
    )
    const add = encodeEntry({ kind: 'add', subject: 16505550011, app: 1, time: 5, ttlDays: 1 })
    expect(subjectOfEncoded(add.subarray(0, 14))).toBe(0)
    expect(subjectOfEncoded(Uint8Array.of(1, ...add.subarray(1)))).toBe(0)
  })

  it('refuses out-of-range fields when encoding', () => {
    const base = { kind: 'add' as const, subject: 16505550011, app: 1, time: 5, ttlDays: 1 }
    expect(() => encodeEntry({ ...base, ttlDays: 0 })).toThrow(EntryError)
    expect(() => encodeEntry({ ...base, app: 70_000 })).toThrow(EntryError)
    expect(() => encodeEntry({ ...base, time: -1 })).toThrow(EntryError)
    expect(() => encodeEntry({ ...base, subject: 1e16 })).toThrow(EntryError)
    expect(() => encodeEntry({ ...base, keyFingerprint: new Uint8Array(31) })).toThrow(EntryError)
    expect(() => encodeEntry({ kind: 'app-register', app: 1, time: 1, id: 'Bad App' })).toThrow(EntryError)
  })

  it('maps E.164 numbers to subjects and back', () => {
    expect(subjectOf('+16505550011')).toBe(16505550011)
    expect(e164Of(16505550011)).toBe('+16505550011')
    expect(e164Of(subjectOf('+999999999999999'))).toBe('+999999999999999')
    for (const bad of ['16505550011', '+0123', '+1 650', '+1234567890123456']) expect(() => subjectOf(bad)).toThrow(EntryError)
  })

  it('writes binding entries into a buffer exactly as encodeEntry does, and refuses what it refuses', () => {
    const field = (max: number) => fc.oneof(fc.integer({ min: 0, max }), fc.integer({ min: -2, max: max * 2 + 2 }), fc.constant(0.5))
    fc.assert(
      fc.property(
        fc.constantFrom('add' as const, 'renew' as const),
        fc.oneof(fc.integer({ min: 10, max: 999_999_999_999_999 }), fc.integer({ min: 0, max: 2 ** 53 - 1 })),
        field(0xffff),
        field(0xffff_ffff),
        field(0xffff),
        fc.option(fc.uint8Array({ minLength: 32, maxLength: 32 }), { nil: undefined }),
        fc.nat(7),
        (kind, subject, app, time, ttlDays, key, at) => {
          const e = { kind, subject, app, time, ttlDays, ...(key ? { keyFingerprint: key } : {}) }
          let want: Uint8Array | null = null
          try {
            want = encodeEntry(e)
          } catch (err) {
            expect(err).toBeInstanceOf(EntryError)
          }
          const out = new Uint8Array(64)
          const n = encodeBindingEntryInto(kind, subject, app, time, ttlDays, key, out, at)
          if (want === null) return void expect(n).toBe(-1)
          expect(out.slice(at, at + n)).toEqual(want)
          expect(decodeEntry(out.slice(at, at + n))).toEqual(e)
          expect(ttlDaysOf(want)).toBe(ttlDays)
        },
      ),
      { numRuns: 2000 },
    )
  })
})
