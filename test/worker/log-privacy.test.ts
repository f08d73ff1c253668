/**
 * The attack on the log's hashes: a leaf is SHA-256 of about 17 bytes of low-entropy fields
 * (number, app, time, kind), so whoever reads a new partial tile, or a checkpoint whose tree is
 * known subtrees plus a few new leaves, can brute-force which number was just bound. The attack
 * is run twice over the same candidates: with an app token it finds every binding (so the search
 * is able to), and with what the directory serves without a token it finds none.
 */
import { describe, expect, it } from 'vitest'
import { fromBase64, toHex } from '../../src/protocol/bytes.ts'
import { encodeEntry, subjectOf } from '../../src/protocol/entry.ts'
import { leafHash } from '../../src/protocol/merkle.ts'
import { TILE_WIDTH, tilePath } from '../../src/protocol/tiles.ts'
import { appNum, call, expectError, freshPhone, registerApp, verify } from './helpers.ts'

const TTL_DAYS = 365 // the published default policy: the attacker knows it

/** Every add entry's leaf hash over candidate numbers × apps × seconds, by hex. */
function candidateLeaves(phones: string[], apps: number[], from: number, to: number): Map<string, string> {
  const leaves = new Map<string, string>()
  for (const phone of phones) {
    for (const app of apps) {
      for (let time = from; time <= to; time++) {
        const entry = encodeEntry({ kind: 'add', subject: subjectOf(phone), app, time, ttlDays: TTL_DAYS })
        leaves.set(toHex(leafHash(entry)), phone)
      }
    }
  }
  return leaves
}

/** The candidates whose leaf hash appears in `bodies`, as raw bytes, hex or base64. */
function found(leaves: Map<string, string>, bodies: Uint8Array[]): Set<string> {
  const hits = new Set<string>()
  for (const body of bodies) {
    const text = new TextDecoder().decode(body)
    const decoded = [...text.matchAll(/[A-Za-z0-9+/_-]{43,}={0,2}/g)].flatMap((m) => {
      try {
        return [fromBase64(m[0].replace(/-/g, '+').replace(/_/g, '/'))]
      } catch {
        return []
      }
    })
    for (const bytes of [body, ...decoded]) {
      for (let i = 0; i + 32 <= bytes.length; i++) {
        const phone = leaves.get(toHex(bytes.subarray(i, i + 32)))
        if (phone) hits.add(phone)
      }
    }
    for (const m of text.matchAll(/[0-9a-f]{64}/g)) {
      const phone = leaves.get(m[0])
      if (phone) hits.add(phone)
    }
  }
  return hits
}

describe('the hashes the log serves', () => {
  it('give a brute force every new binding with an app token, and none without one', async () => {
    const a = await registerApp()
    const b = await registerApp()
    const candidates = Array.from({ length: 40 }, freshPhone)
    const bound = [candidates[3]!, candidates[17]!, candidates[29]!, candidates[38]!]
    const from = Math.floor(Date.now() / 1000) - 1
    for (const [i, phone] of bound.entries()) await verify(i % 2 ? b.token : a.token, phone)
    const to = Math.floor(Date.now() / 1000) + 1
    const leaves = candidateLeaves(candidates, [await appNum(a.id), await appNum(b.id)], from, to)

    const checkpoint = await (await call('GET', '/log/checkpoint', { token: a.token })).text()
    const size = Number(checkpoint.split('\n')[1])
    const tilePaths = Array.from({ length: Math.ceil(size / TILE_WIDTH) }, (_, n) => tilePath(0, n, Math.min(TILE_WIDTH, size - n * TILE_WIDTH)))

    // An app reads the level-0 tiles, and the brute force names every number just bound.
    const withToken = await Promise.all(tilePaths.map(async (p) => new Uint8Array(await (await call('GET', `/log/${p}`, { token: b.token })).arrayBuffer())))
    expect([...found(leaves, withToken)].sort()).toEqual([...bound].sort())

    // An outsider gets everything the directory answers without a token: the log refuses it all.
    const logPaths = ['/log/checkpoint', '/log/snapshot/latest', ...tilePaths.map((p) => `/log/${p}`)]
    for (let n = 1; n <= size; n++) logPaths.push(`/log/tile/entries/000.p/${n}`, `/log/snapshot/${n}/manifest`)
    for (const path of logPaths) await expectError(await call('GET', path), 401, 'unauthorized')
    const open = ['/.well-known/whodis', '/openapi.json', '/docs', '/', '/me', `/v1/apps/${a.id}`]
    const anonymous = await Promise.all(open.map(async (p) => new Uint8Array(await (await call('GET', p)).arrayBuffer())))
    expect(found(leaves, anonymous).size).toBe(0)
  })

  it('gives nothing under another spelling of a /log/ path', async () => {
    const a = await registerApp()
    await verify(a.token, freshPhone())
    for (const path of ['//log/checkpoint', '/log//checkpoint', '/log/./checkpoint', '/x/../log/checkpoint', '/log%2Fcheckpoint', '/%6Cog/checkpoint', '/LOG/checkpoint', '/log/checkpoint/', '/log/tile/0//000.p/2', '/log/tile/%30/000.p/2']) {
      const res = await call('GET', path)
      const body = await res.text()
      expect([401, 404], `${path} answered ${res.status}`).toContain(res.status)
      expect(body, path).not.toMatch(/^whodis/) // a checkpoint starts with its origin
    }
  })
})
