import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { chooseApp } from '../../src/protocol/choose-app.ts'

const apps: fc.Arbitrary<string[]> = fc.uniqueArray(fc.constantFrom<string>('appa', 'appb', 'appc', 'appd', 'appe', 'signal.example', 'x-chat'), { maxLength: 6 })

describe('chooseApp', () => {
  it('answers the essay example: Alice on A, Bob on B and A → A, from both sides', () => {
    expect(chooseApp(['appa'], ['appb', 'appa'])).toBe('appa')
    expect(chooseApp(['appb', 'appa'], ['appa'])).toBe('appa')
    expect(chooseApp(['appa'], ['appb'])).toBeNull()
  })

  it('weighs both sides equally, then prefers the fairer compromise, then the id', () => {
    // Sums: appa 0+2 = 2, appb 1+1 = 2, appc 2+0 = 2; worst ranks 2, 1, 2 → appb.
    expect(chooseApp(['appa', 'appb', 'appc'], ['appc', 'appb', 'appa'])).toBe('appb')
    // Sums: appa 0+1, appb 1+0; worst 1 and 1 → id order.
    expect(chooseApp(['appa', 'appb'], ['appb', 'appa'])).toBe('appa')
    expect(chooseApp(['appb', 'appa'], ['appa', 'appb'])).toBe('appa')
  })

  it('is symmetric, picks a shared app, and is null only without one', () => {
    fc.assert(
      fc.property(apps, apps, (a, b) => {
        const x = chooseApp(a, b)
        expect(chooseApp(b, a)).toBe(x)
        const shared = a.filter((app) => b.includes(app))
        if (shared.length === 0) expect(x).toBeNull()
        else expect(shared).toContain(x)
      }),
      { numRuns: 2000 },
    )
  })

  it('never picks an app that another shared app beats for both sides', () => {
    fc.assert(
      fc.property(apps, apps, (a, b) => {
        const x = chooseApp(a, b)
        if (x === null) return
        for (const y of a.filter((app) => b.includes(app))) {
          const dominates = a.indexOf(y) <= a.indexOf(x) && b.indexOf(y) <= b.indexOf(x) && y !== x
          const strictly = a.indexOf(y) < a.indexOf(x) || b.indexOf(y) < b.indexOf(x)
          expect(dominates && strictly).toBe(false)
        }
      }),
    )
  })

  it('ignores repeated entries after their first rank', () => {
    expect(chooseApp(['appb', 'appa', 'appb'], ['appa', 'appb'])).toBe(chooseApp(['appb', 'appa'], ['appa', 'appb']))
  })
})
