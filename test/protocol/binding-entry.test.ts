import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { encodeBindingEntryInto } from '../../src/protocol/binding-entry.ts'
import { encodeEntry, EntryError } from '../../src/protocol/entry.ts'

describe('encodeBindingEntryInto', () => {
  it('writes the bytes encodeEntry returns, and refuses what it refuses', () => {
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
          let want: Uint8Array | null = null
          try {
            want = encodeEntry({ kind, subject, app, time, ttlDays, ...(key ? { keyFingerprint: key } : {}) })
          } catch (err) {
            expect(err).toBeInstanceOf(EntryError)
          }
          const out = new Uint8Array(64)
          const n = encodeBindingEntryInto(kind, subject, app, time, ttlDays, key, out, at)
          if (want === null) expect(n).toBe(-1)
          else expect(out.slice(at, at + n)).toEqual(want)
        },
      ),
      { numRuns: 2000 },
    )
  })
})
