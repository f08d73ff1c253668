import { describe, expect, it } from 'vitest'
import { MemoryDirectory } from '../../src/core/memory/directory.ts'

describe('smoke', () => {
  it('binds and logs', async () => {
    const d = new MemoryDirectory({ shards: 2 })
    const reg = await d.sequencer.registerApp('appa', 'App A', 'h1')
    expect(reg).toEqual({ ok: true, num: 1 })
    const out = await d.shardFor(16505550011).bind([{ subject: 16505550011, phone: '+16505550011', app: 1, appId: 'appa', publicKey: null, verificationId: 'v1', now: 1_800_000_000_000, ttlDays: 365 }])
    expect(out[0]).toMatchObject({ ok: true, op: 'add', index: 1 })
    const entries = await d.sequencer.entries(0, 10)
    expect(entries.map((e) => e.entry.kind)).toEqual(['app-register', 'add'])
    expect(d.projection.values.get(16505550011)?.length).toBe(1)
    const again = await d.shardFor(16505550011).bind([{ subject: 16505550011, phone: '+16505550011', app: 1, appId: 'appa', publicKey: null, verificationId: 'v1', now: 1_800_000_000_000, ttlDays: 365 }])
    expect(again[0]).toMatchObject({ ok: true, index: 1 })
    const rm = await d.shardFor(16505550011).unbind(16505550011, 'appa', 'holder', 1_800_000_001_000)
    expect(rm).toEqual({ ok: true, index: 2 })
    const third = await d.shardFor(16505550011).bind([{ subject: 16505550011, phone: '+16505550011', app: 1, appId: 'appa', publicKey: null, verificationId: 'v1', now: 1_800_000_000_000, ttlDays: 365 }])
    expect(third[0]).toMatchObject({ ok: false, code: 'binding_removed' })
    const rev = await d.sequencer.revokeApp('appa')
    expect(rev).toEqual({ ok: true, removed: 0 })
    const snap = await d.sequencer.snapshot()
    expect(snap).toMatchObject({ size: 4, records: 0 })
  })
})
