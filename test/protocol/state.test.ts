import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { decodeEntry, encodeEntry, type LogEntry } from '../../src/protocol/entry.ts'
import { DAY_SECONDS, DirectoryState, FoldError } from '../../src/protocol/state.ts'

const register = (app: number, id: string): LogEntry => ({ kind: 'app-register', app, time: 1, id })
const add = (subject: number, app: number, time = 100, ttlDays = 1): LogEntry => ({ kind: 'add', subject, app, time, ttlDays })

function fold(entries: LogEntry[]): DirectoryState {
  const s = new DirectoryState()
  entries.forEach((e, i) => s.apply(decodeEntry(encodeEntry(e)), i))
  return s
}

describe('the fold of log entries', () => {
  it('builds number → apps, sorted by app, tracking the entry that made each binding', () => {
    const s = fold([register(2, 'appb'), register(1, 'appa'), add(16505550011, 2), add(16505550011, 1, 200, 365)])
    expect(s.size).toBe(4)
    expect(s.records.get(16505550011)).toEqual([
      { app: 1, index: 3, verifiedAt: 200, ttlDays: 365 },
      { app: 2, index: 2, verifiedAt: 100, ttlDays: 1 },
    ])
    expect(s.lookup(16505550011, 100 + DAY_SECONDS).map((b) => b.app)).toEqual([1])
    expect(s.appById('appa')?.bindings).toBe(1)
  })

  it('renews, removes, expires and revokes', () => {
    const s = fold([
      register(1, 'appa'),
      add(10, 1),
      { kind: 'renew', subject: 10, app: 1, time: 300, ttlDays: 2, keyFingerprint: new Uint8Array(32).fill(7) },
      add(11, 1),
      { kind: 'remove', subject: 11, app: 1, time: 400, reason: 'holder' },
      { kind: 'expire', subject: 10, app: 1, time: 300 + 2 * DAY_SECONDS },
      { kind: 'app-revoke', app: 1, time: 500 },
    ])
    expect(s.records.size).toBe(0)
    expect(s.apps.get(1)).toEqual({ num: 1, id: 'appa', revoked: true, bindings: 0 })
  })

  it('refuses entries that break a rule, and changes nothing when it does', () => {
    const cases: [LogEntry[], LogEntry, string][] = [
      [[], add(10, 1), 'not registered'],
      [[register(1, 'appa')], register(1, 'appb'), 'already registered'],
      [[register(1, 'appa')], register(2, 'appa'), 'already registered'],
      [[register(1, 'appa'), add(10, 1)], add(10, 1), 'add of a binding that exists'],
      [[register(1, 'appa')], { kind: 'renew', subject: 10, app: 1, time: 1, ttlDays: 1 }, 'renew of a binding'],
      [[register(1, 'appa')], { kind: 'remove', subject: 10, app: 1, time: 1, reason: 'app' }, 'remove of a binding'],
      [[register(1, 'appa'), add(10, 1)], { kind: 'expire', subject: 10, app: 1, time: 101 }, 'expire before'],
      [[register(1, 'appa'), add(10, 1)], { kind: 'app-revoke', app: 1, time: 1 }, 'still holds 1'],
      [[register(1, 'appa'), { kind: 'app-revoke', app: 1, time: 1 }], add(10, 1), 'is revoked'],
    ]
    for (const [before, bad, why] of cases) {
      const s = fold(before)
      const snapshot = JSON.stringify([...s.apps], (_, v) => v)
      expect(() => s.apply(bad, before.length), why).toThrow(FoldError)
      expect(() => s.apply(bad, before.length)).toThrow(why)
      expect(s.size).toBe(before.length)
      expect(JSON.stringify([...s.apps])).toBe(snapshot)
    }
    expect(() => fold([register(1, 'appa')]).apply(add(10, 1), 5)).toThrow('expected entry 1')
  })

  it('equals a simple model on random valid histories', () => {
    const op = fc.record({ subject: fc.integer({ min: 10, max: 14 }), app: fc.integer({ min: 1, max: 3 }), roll: fc.nat(99) })
    fc.assert(
      fc.property(fc.array(op, { maxLength: 200 }), (ops) => {
        const model = new Map<string, { verifiedAt: number; index: number }>()
        const entries: LogEntry[] = [register(1, 'a1'), register(2, 'a2'), register(3, 'a3')]
        let time = 1000
        for (const { subject, app, roll } of ops) {
          time += 10
          const key = `${subject}/${app}`
          const index = entries.length
          if (!model.has(key)) {
            entries.push(add(subject, app, time, 1))
            model.set(key, { verifiedAt: time, index })
          } else if (roll < 40) {
            entries.push({ kind: 'renew', subject, app, time, ttlDays: 1 })
            model.set(key, { verifiedAt: time, index })
          } else if (roll < 70) {
            entries.push({ kind: 'remove', subject, app, time, reason: 'app' })
            model.delete(key)
          } else {
            time = Math.max(time, model.get(key)!.verifiedAt + DAY_SECONDS)
            entries.push({ kind: 'expire', subject, app, time })
            model.delete(key)
          }
        }
        const s = fold(entries)
        const got = new Map<string, { verifiedAt: number; index: number }>()
        for (let subject = 10; subject <= 14; subject++) {
          for (const b of s.records.get(subject) ?? []) got.set(`${subject}/${b.app}`, { verifiedAt: b.verifiedAt, index: b.index })
        }
        expect(got).toEqual(model)
      }),
    )
  })
})
