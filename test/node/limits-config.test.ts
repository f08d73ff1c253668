/**
 * The limits as deployed: both wrangler environments declare the same caps and the holder
 * shield as the code expects it, the code's defaults are wrangler.toml's, and docs/abuse.md
 * states the worst cases those defaults allow.
 */
import { readFileSync } from 'node:fs'
import { unstable_readConfig } from 'wrangler'
import { describe, expect, it } from 'vitest'
import { DEFAULT_METER } from '../../src/core/meter.ts'
import { readLimits, readMeterConfig, type Env } from '../../src/env.ts'
import { HOLDER_CLIENT_SHIELD } from '../../src/routes/holder-flow.ts'

const config = (env?: string) => unstable_readConfig({ config: new URL('../../wrangler.toml', import.meta.url).pathname, env })
const LIMIT_VARS = /^(SMS_PER_|SMS_HOLDER_|LOOKUPS_PER_)/

describe('wrangler.toml limits', () => {
  it('declares the holder shield as HOLDER_CLIENT_SHIELD says, in both environments', () => {
    for (const env of [undefined, 'production']) {
      expect(config(env).ratelimits).toEqual([
        { name: 'HOLDER_CLIENT_LIMIT', namespace_id: '1001', simple: { limit: HOLDER_CLIENT_SHIELD.limit, period: HOLDER_CLIENT_SHIELD.periodS } },
      ])
    }
  })

  it('gives both environments the same caps, and the code the same defaults', () => {
    const local = Object.fromEntries(Object.entries(config().vars).filter(([k]) => LIMIT_VARS.test(k)))
    const production = Object.fromEntries(Object.entries(config('production').vars).filter(([k]) => LIMIT_VARS.test(k)))
    expect(Object.keys(local)).toContain('SMS_HOLDER_PER_CLIENT_HOUR')
    expect(production).toEqual(local)
    expect(readLimits(local as Partial<Env> as Env)).toEqual(readLimits({} as Env))
  })

  it('gives the directory and the key holder, in both environments, the evaluation budget the code defaults to', () => {
    const keyholder = (env?: string) => unstable_readConfig({ config: new URL('../../keyholder/wrangler.toml', import.meta.url).pathname, env })
    for (const [name, read] of [['directory', config], ['key holder', keyholder]] as const) {
      for (const env of [undefined, 'production']) {
        const { EVALUATIONS_BURST, EVALUATIONS_PER_HOUR } = read(env).vars as Record<string, string>
        expect({ EVALUATIONS_BURST, EVALUATIONS_PER_HOUR }, `${name} ${env ?? 'top level'}`).toEqual({ EVALUATIONS_BURST: '50000', EVALUATIONS_PER_HOUR: '1000' })
        expect(readMeterConfig({ EVALUATIONS_BURST, EVALUATIONS_PER_HOUR })).toEqual(DEFAULT_METER)
      }
    }
    expect(readMeterConfig({})).toEqual(DEFAULT_METER)
    for (const bad of ['0', '-1', '1.5', 'lots', '1000000001']) expect(() => readMeterConfig({ EVALUATIONS_BURST: bad }), bad).toThrow(/EVALUATIONS_BURST/)
  })

  it('docs/abuse.md states the worst cases the defaults allow', () => {
    const l = readLimits({} as Env)
    const n = (x: number) => x.toLocaleString('en-US')
    const doc = readFileSync(new URL('../../docs/abuse.md', import.meta.url), 'utf8')
    expect(doc).toContain(`| to one number | ${n(l.smsHolderPerNumberHour)} | ${n(l.smsHolderPerNumberDay)} |`)
    expect(doc).toContain(`| from one client address | ${n(l.smsHolderPerClientHour)} | ${n(24 * l.smsHolderPerClientHour)} |`)
    expect(doc).toContain(`| in all | ${n(60 * l.smsHolderPerMinute)} | ${n(24 * 60 * l.smsHolderPerMinute)} |`)
    expect(doc).toContain(`${HOLDER_CLIENT_SHIELD.limit} requests a minute`)
  })
})
