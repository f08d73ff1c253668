import { runInDurableObject } from 'cloudflare:test'
import { describe, expect, it } from 'vitest'
import { sequencer, shardFor } from '../../src/directory.ts'
import { orRefuse } from '../../src/errors.ts'
import { fromBase64 } from '../../src/protocol/bytes.ts'
import { CheckpointError, openCheckpoint } from '../../src/protocol/checkpoint.ts'
import { CredentialError, verifyCredential } from '../../src/protocol/credential.ts'
import { decodeEntry, e164Of, encodeEntry, subjectOf } from '../../src/protocol/entry.ts'
import { checkTree, leafHash, rootFromLeafHashes } from '../../src/protocol/merkle.ts'
import { NoteError } from '../../src/protocol/note.ts'
import { ReceiptError, verifyReceipt } from '../../src/protocol/receipt.ts'
import { decodeSnapshot, gunzip, parseManifest, snapshotDigest } from '../../src/protocol/snapshot.ts'
import { expiresAt, stateFromSnapshot } from '../../src/protocol/state.ts'
import { proveTreeFromTiles, treeHashFromTiles } from '../../src/protocol/tiles.ts'
import { openNote } from '../../src/protocol/note.ts'
import { call, expectError, freshPhone, registerApp, startVerification, latestCode, testEnv, verify } from './helpers.ts'
import { fetchEntries, fold, latestCheckpoint, pinnedKey, tileFetcher } from './log-client.ts'

describe('the log', () => {
  it('answers a check with a credential and a receipt that verify offline with the pinned key', async () => {
    const key = await pinnedKey()
    const app = await registerApp()
    const phone = freshPhone()
    const publicKey = 'BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc'
    const { binding, index, credential, receipt } = await verify(app.token, phone, { publicKey })

    const c = await verifyCredential(credential, key, { nowSeconds: Math.floor(Date.now() / 1000) })
    expect(c).toMatchObject({ phone, app: app.id, publicKey, index, origin: key.name })
    expect(c.verifiedAt * 1000).toBe(Date.parse(binding.verifiedAt!))
    expect(c.expiresAt * 1000).toBe(Date.parse(binding.expiresAt!))
    const entry = decodeEntry(c.entry)
    expect(entry).toMatchObject({ kind: 'add', subject: subjectOf(phone), ttlDays: 365 })

    const proven = await verifyReceipt(receipt, c.entry, key)
    expect(proven.index).toBe(index)
    expect(proven.checkpoint.size).toBeGreaterThan(index)

    // Another app checks it too, and it cannot be stretched: a tampered field or another key fails.
    await expect(verifyCredential(credential.replace(`app ${app.id}`, 'app someone-else'), key)).rejects.toThrow(CredentialError)
    await expect(verifyCredential(credential, key, { nowSeconds: c.expiresAt })).rejects.toThrow('expired')
    const other = encodeEntry({ ...entry, time: entry.time + 1 } as never)
    await expect(verifyReceipt(receipt, other, key)).rejects.toThrow(ReceiptError)
  })

  it('serves a checkpoint whose root is the tree hash of the served tiles and of the served entries', async () => {
    const key = await pinnedKey()
    const app = await registerApp()
    for (let i = 0; i < 3; i++) await verify(app.token, freshPhone())
    const { checkpoint } = await latestCheckpoint(key, app.token)
    expect(await treeHashFromTiles(checkpoint.size, tileFetcher(app.token))).toEqual(checkpoint.rootHash)
    const entries = await fetchEntries(app.token, checkpoint.size)
    expect(entries.length).toBe(checkpoint.size)
    expect(rootFromLeafHashes(entries.map(leafHash))).toEqual(checkpoint.rootHash)

    const res = await call('GET', '/log/checkpoint', { token: app.token })
    expect(res.headers.get('Cache-Control')).toBe('private, max-age=2')
    expect(res.headers.get('Content-Type')).toMatch(/^text\/plain/)
    const tile = await call('GET', '/log/tile/0/000.p/1', { token: app.token })
    expect(tile.headers.get('Cache-Control')).toBe('private, max-age=31536000, immutable')
  })

  it('needs an app token for everything under /log/, and 404s what is not a tile or not yet in the tree', async () => {
    const app = await registerApp()
    await verify(app.token, freshPhone())
    for (const path of ['/log/checkpoint', '/log/tile/0/000.p/2', '/log/tile/entries/000.p/2', '/log/snapshot/latest', '/log/snapshot/2/manifest', '/log/snapshot/2/data', '/log/tile/x']) {
      await expectError(await call('GET', path), 401, 'unauthorized')
      await expectError(await call('GET', path, { token: 'not-a-token' }), 401, 'unauthorized')
    }
    await expectError(await call('GET', '/log/tile/entries/x999/000', { token: app.token }), 404, 'not_found')
    await expectError(await call('GET', '/log/tile/0/x999/000', { token: app.token }), 404, 'not_found')
    for (const bad of ['/log/tile/0/1', '/log/tile/0/000.p/0', '/log/tile/0/000.p/256', '/log/tile/0/x000/001', '/log/tile/x']) {
      await expectError(await call('GET', bad, { token: app.token }), 404, 'not_found')
    }
  })

  it('keeps tiles and bundles in R2 alone: the sequencer holds only its pool, edge and partial tiles', async () => {
    const app = await registerApp()
    await verify(app.token, freshPhone())
    const { checkpoint } = await latestCheckpoint(await pinnedKey(), app.token)
    await runInDurableObject(testEnv.SEQUENCER.getByName('log'), (_, state) => {
      const tables = state.storage.sql.exec<{ name: string }>("SELECT name FROM sqlite_master WHERE type = 'table'").toArray().map((t) => t.name)
      expect(tables).not.toContain('entries')
      expect(tables).not.toContain('tree_hashes')
      // Everything sequenced has left the pool.
      expect(state.storage.sql.exec<{ n: number }>('SELECT COUNT(*) AS n FROM pool WHERE idx < ?', checkpoint.size).one().n).toBe(0)
    })
    const path = `tile/0/000.p/${checkpoint.size}`
    expect((await call('GET', `/log/${path}`, { token: app.token })).status).toBe(200)
    await testEnv.LOG.delete(path)
    await expectError(await call('GET', `/log/${path}`, { token: app.token }), 404, 'not_found')
  })

  it('gzips an entry bundle for a client that accepts it, decompressing to exactly the stored bytes', async () => {
    const app = await registerApp()
    for (let i = 0; i < 5; i++) await verify(app.token, freshPhone())
    const { checkpoint } = await latestCheckpoint(await pinnedKey(), app.token)
    const bundle = `tile/entries/000.p/${checkpoint.size}`
    const plain = await call('GET', `/log/${bundle}`, { token: app.token })
    expect(plain.headers.get('Content-Encoding')).toBeNull()
    expect(plain.headers.get('Vary')).toBe('Accept-Encoding')
    const raw = new Uint8Array(await plain.arrayBuffer())
    const stored = await testEnv.LOG.get(bundle)
    expect(new Uint8Array(await stored!.arrayBuffer())).toEqual(raw)

    for (const accept of ['gzip', 'gzip, deflate, br', 'br;q=1, gzip;q=0.5', '*', 'identity, x-gzip']) {
      const res = await call('GET', `/log/${bundle}`, { token: app.token, headers: { 'Accept-Encoding': accept } })
      expect({ accept, encoding: res.headers.get('Content-Encoding'), vary: res.headers.get('Vary') }).toEqual({ accept, encoding: 'gzip', vary: 'Accept-Encoding' })
      const wire = new Uint8Array(await res.arrayBuffer())
      expect(wire.subarray(0, 2)).toEqual(Uint8Array.of(0x1f, 0x8b))
      expect(await gunzip(wire)).toEqual(raw)
    }
    for (const accept of ['identity', 'br', 'gzip;q=0', 'gzip;q=0, *', '*;q=0', 'deflate, gzip;q=0.000']) {
      const res = await call('GET', `/log/${bundle}`, { token: app.token, headers: { 'Accept-Encoding': accept } })
      expect({ accept, encoding: res.headers.get('Content-Encoding') }).toEqual({ accept, encoding: null })
      expect(new Uint8Array(await res.arrayBuffer())).toEqual(raw)
    }

    // What R2 holds is still the uncompressed bundle.
    expect(new Uint8Array(await (await testEnv.LOG.get(bundle))!.arrayBuffer())).toEqual(raw)
    const hashTile = await call('GET', `/log/tile/0/000.p/${checkpoint.size}`, { token: app.token, headers: { 'Accept-Encoding': 'gzip' } })
    expect(hashTile.headers.get('Content-Encoding')).toBeNull() // 32-byte hashes do not compress
  })

  it('detects a changed tile, a changed bundle and a forged checkpoint signature', async () => {
    const key = await pinnedKey()
    const app = await registerApp()
    await verify(app.token, freshPhone())
    const { note, checkpoint } = await latestCheckpoint(key, app.token)
    const tampered = async (tile: Parameters<ReturnType<typeof tileFetcher>>[0]) => {
      const data = await tileFetcher(app.token)(tile)
      data[5]! ^= 1
      return data
    }
    expect(await treeHashFromTiles(checkpoint.size, tampered)).not.toEqual(checkpoint.rootHash)
    const entries = await fetchEntries(app.token, checkpoint.size)
    entries[0]![3]! ^= 1
    expect(rootFromLeafHashes(entries.map(leafHash))).not.toEqual(checkpoint.rootHash)
    const sig = note.lastIndexOf(' ') + 5
    const forged = note.slice(0, sig) + (note[sig] === 'A' ? 'B' : 'A') + note.slice(sig + 1)
    await expect(openNote(forged, [key])).rejects.toThrow(NoteError)
    const otherSize = note.replace(`\n${checkpoint.size}\n`, `\n${checkpoint.size + 1}\n`)
    await expect(openNote(otherSize, [key])).rejects.toThrow(NoteError)
    await expect(openCheckpoint(note, key, 'other.example/log')).rejects.toThrow(CheckpointError)
  })

  it('gives concurrent verifications distinct indexes in one consistent log', async () => {
    const key = await pinnedKey()
    const app = await registerApp()
    const { checkpoint: before } = await latestCheckpoint(key, app.token)
    const results = await Promise.all(Array.from({ length: 20 }, () => verify(app.token, freshPhone())))
    const indexes = results.map((r) => r.index)
    expect(new Set(indexes).size).toBe(20)
    for (const r of results) {
      const c = await verifyCredential(r.credential, key)
      await verifyReceipt(r.receipt, c.entry, key)
    }
    const { checkpoint: after } = await latestCheckpoint(key, app.token)
    const proof = await proveTreeFromTiles(after.size, before.size, tileFetcher(app.token))
    expect(checkTree(proof, after.size, after.rootHash, before.size, before.rootHash)).toBe(true)
  })

  it('loses nothing when the sequencer and the shard restart between a check and its retry', async () => {
    const key = await pinnedKey()
    const app = await registerApp()
    const { checkpoint: before } = await latestCheckpoint(key, app.token)
    const phone = freshPhone()
    const id = await startVerification(app.token, phone)
    const code = await latestCode(phone)
    const first = await call('POST', `/v1/verifications/${id}/check`, { token: app.token, json: { code } })
    expect(first.status).toBe(200)
    const firstBody = (await first.json()) as { index: number }
    // Both objects lose their memory (as after an eviction or a crash); their SQLite stays.
    await expect(runInDurableObject(testEnv.SEQUENCER.getByName('log'), (_, state) => state.abort())).rejects.toThrow('abort')
    await expect(runInDurableObject(shardFor(testEnv, phone).rpc as unknown as DurableObjectStub, (_, state) => state.abort())).rejects.toThrow('abort')
    // The retried check answers with the same entry, in a checkpoint consistent with the old one.
    const retried = await call('POST', `/v1/verifications/${id}/check`, { token: app.token, json: { code } })
    expect(retried.status).toBe(200)
    const body = (await retried.json()) as { index: number; credential: string; receipt: string }
    expect(body.index).toBe(firstBody.index)
    const c = await verifyCredential(body.credential, key)
    await verifyReceipt(body.receipt, c.entry, key)
    const { checkpoint: after } = await latestCheckpoint(key, app.token)
    expect(await treeHashFromTiles(after.size, tileFetcher(app.token))).toEqual(after.rootHash)
    const proof = await proveTreeFromTiles(after.size, before.size, tileFetcher(app.token))
    expect(checkTree(proof, after.size, after.rootHash, before.size, before.rootHash)).toBe(true)
  })
})

describe('lookups with ?proof=1', () => {
  it('carry, for each binding, the entry that made it and a receipt for it', async () => {
    const key = await pinnedKey()
    const a = await registerApp()
    const b = await registerApp()
    const phone = freshPhone()
    const va = await verify(a.token, phone)
    const vb = await verify(b.token, phone)
    const plain = (await (await call('GET', `/v1/numbers/${phone}`, { token: a.token })).json()) as any
    expect(plain.apps[0]).not.toHaveProperty('receipt')
    const res = await call('GET', `/v1/numbers/${phone}?proof=1`, { token: a.token })
    expect(res.status).toBe(200)
    const body = (await res.json()) as { apps: { app: string; index: number; entry: string; receipt: string }[] }
    expect(body.apps.map((x) => x.index).sort()).toEqual([va.index, vb.index].sort())
    for (const x of body.apps) {
      const entry = fromBase64(x.entry)
      expect(decodeEntry(entry)).toMatchObject({ subject: subjectOf(phone) })
      await verifyReceipt(x.receipt, entry, key)
    }
    await expectError(await call('GET', `/v1/numbers/${phone}?proof=yes`, { token: a.token }), 400, 'invalid_request')
  })
})

describe('snapshots', () => {
  it('plus the entries after them reproduce the directory state exactly', async () => {
    const key = await pinnedKey()
    const a = await registerApp()
    const b = await registerApp()
    const phones = Array.from({ length: 6 }, freshPhone)
    for (const p of phones) await verify(a.token, p)
    await verify(b.token, phones[0]!, { publicKey: 'BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc' })
    await call('DELETE', `/v1/numbers/${phones[1]}/apps/${a.id}`, { token: a.token })

    const written = orRefuse(await sequencer(testEnv).snapshot())
    expect(written).not.toBeNull()
    const manifestNote = await (await call('GET', '/log/snapshot/latest', { token: a.token })).text()
    const manifest = parseManifest((await openNote(manifestNote, [key])).text)
    expect(manifest).toMatchObject({ origin: key.name, treeSize: written!.size, records: written!.records })
    expect(await (await call('GET', `/log/snapshot/${manifest.treeSize}/manifest`, { token: a.token })).text()).toBe(manifestNote)
    await expectError(await call('GET', `/log/snapshot/${manifest.treeSize}/data`), 401, 'unauthorized')
    const data = new Uint8Array(await (await call('GET', `/log/snapshot/${manifest.treeSize}/data`, { token: a.token })).arrayBuffer())
    expect(data.length).toBe(manifest.bytes)
    expect(snapshotDigest(data)).toEqual(manifest.sha256)
    const content = decodeSnapshot(await gunzip(data))
    expect(content.treeSize).toBe(manifest.treeSize)

    // More changes after the snapshot.
    await verify(b.token, phones[2]!)
    await verify(a.token, phones[3]!)
    await call('DELETE', `/v1/numbers/${phones[4]}/apps/${a.id}`, { token: a.token })
    const { checkpoint } = await latestCheckpoint(key, a.token)

    const fromSnapshot = fold(await fetchEntries(a.token, checkpoint.size, content.treeSize), stateFromSnapshot(content))
    const fromScratch = fold(await fetchEntries(a.token, checkpoint.size))
    expect(fromSnapshot.size).toBe(checkpoint.size)
    expect([...(fromSnapshot.records as any).map.entries()].sort()).toEqual([...(fromScratch.records as any).map.entries()].sort())

    // ... and equal what the directory answers for every number.
    const now = Math.floor(Date.now() / 1000)
    for (const p of phones) {
      const res = await call('GET', `/v1/numbers/${p}`, { token: a.token })
      const served = res.status === 200 ? ((await res.json()) as any).apps : []
      const replayed = fromSnapshot.lookup(subjectOf(p), now).map((x) => ({
        app: fromSnapshot.apps.get(x.app)!.id,
        verifiedAt: new Date(x.verifiedAt * 1000).toISOString().replace('.000Z', 'Z'),
        expiresAt: new Date(expiresAt(x) * 1000).toISOString().replace('.000Z', 'Z'),
      }))
      expect(served, e164Of(subjectOf(p))).toEqual(replayed.sort((x, y) => x.app.localeCompare(y.app)))
    }
    const next = orRefuse(await sequencer(testEnv).snapshot())
    expect(next?.size).toBe(checkpoint.size)
    expect(await sequencer(testEnv).snapshot()).toBeNull()
    expect(await sequencer(testEnv).snapshotSizes()).toEqual([checkpoint.size, content.treeSize])
  })

  it('404s snapshots that do not exist', async () => {
    const app = await registerApp()
    await expectError(await call('GET', '/log/snapshot/123456789/manifest', { token: app.token }), 404, 'snapshot_not_found')
    await expectError(await call('GET', '/log/snapshot/123456789/data', { token: app.token }), 404, 'snapshot_not_found')
    await expectError(await call('GET', '/log/snapshot/01/manifest', { token: app.token }), 400, 'invalid_request')
  })
})
