/**
 * Proves the Go reference verifier (test/go/tlogcheck) accepts a log built by our merkle/tiles
 * code and served in the C2SP layout, and rejects it once anything is tampered with.
 */
import { type Server, createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { concat, toBase64, utf8 } from '../../src/protocol/bytes.ts'
import { signerFromSeed } from '../../src/protocol/ed25519.ts'
import { type Hash, type HashReader, storedHashes, treeHash } from '../../src/protocol/merkle.ts'
import { formatVerifierKey, noteKeyId } from '../../src/protocol/note-keys.ts'
import { encodeBundle, parseTilePath, readTileData, tileWidthAt } from '../../src/protocol/tiles.ts'
import { buildTlogCheck, goUnavailableReason, runTlogCheck } from './go-tool.ts'

const unavailable = goUnavailableReason()
const ORIGIN = 'whodis.test/log'
const TOKEN = 'test-app-token'

// 700 random entries: full and partial tiles at level 0, a partial tile at level 1.
const entries = Array.from({ length: 700 }, (_, i) => crypto.getRandomValues(new Uint8Array(i % 97)))
const stored: Hash[] = []
const read: HashReader = (indexes) => indexes.map((i) => stored[i]!)
entries.forEach((entry, n) => stored.push(...storedHashes(n, entry, read)))

/** One published state of the log, and how to spoil it. */
interface LogState {
  size: number
  checkpoint: string
  tamper?: (path: string, body: Uint8Array) => Uint8Array
}

const states = new Map<string, LogState>()
let server: Server
let baseUrl: string
let vkey: string
let signCheckpoint: (body: string) => Promise<string>

/** Serves `<base>/<name>/log/...` for each state, requiring the token for entry bundles. */
function serve(): Promise<void> {
  server = createServer((req, res) => {
    const match = /^\/([^/]+)\/log\/(.*)$/.exec(req.url ?? '')
    const state = match && states.get(match[1]!)
    const path = match?.[2] ?? ''
    const send = (status: number, body: Uint8Array | string) => {
      const bytes = typeof body === 'string' ? utf8(body) : body
      res.writeHead(status, { 'content-type': 'application/octet-stream' }).end(state?.tamper?.(path, bytes) ?? bytes)
    }
    if (!state) return send(404, 'no such log')
    if (path === 'checkpoint') return send(200, state.checkpoint)
    const tile = parseTilePath(path)
    if (!tile || tile.width !== tileWidthAt(tile.kind === 'hash' ? tile.level : 0, tile.index, state.size)) {
      return send(404, 'not found')
    }
    if (tile.kind === 'hash') return send(200, readTileData(tile, read))
    if (req.headers.authorization !== `Bearer ${TOKEN}`) return send(401, 'token required')
    const first = tile.index * 256
    return send(200, encodeBundle(entries.slice(first, first + tile.width)))
  })
  return new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
}

async function publish(name: string, size: number, options: Partial<LogState> & { body?: string } = {}) {
  const body = options.body ?? `${ORIGIN}\n${size}\n${toBase64(treeHash(size, read))}\n`
  states.set(name, { size, checkpoint: await signCheckpoint(body), ...options })
}

function check(name: string, extra: string[] = []) {
  return runTlogCheck(bin, ['-url', `${baseUrl}/${name}/log/`, '-vkey', vkey, '-token', TOKEN, ...extra])
}

function flipByte(at: number) {
  return (body: Uint8Array) => {
    const out = body.slice()
    out[at]! ^= 0x40
    return out
  }
}

let bin: string

it.skipIf(unavailable === null || !process.env.CI)('has Go and golang.org/x/mod, which CI requires', () => {
  expect.fail(`Go interop cannot run in CI: ${unavailable}`)
})

describe.skipIf(unavailable !== null)(`Go sumdb/tlog verifies our log${unavailable ? ` (skipped: ${unavailable})` : ''}`, () => {
  beforeAll(async () => {
    const [built] = await Promise.all([buildTlogCheck(), serve()])
    bin = built!
    baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
    const signer = await signerFromSeed(crypto.getRandomValues(new Uint8Array(32)))
    const keyId = noteKeyId(ORIGIN, signer.publicKey)
    vkey = formatVerifierKey(ORIGIN, signer.publicKey)
    signCheckpoint = async (body) => {
      const signature = await signer.sign(utf8(body))
      return `${body}\n— ${ORIGIN} ${toBase64(concat(keyId, signature))}\n`
    }
  })
  afterAll(() => new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve())))

  it.each([0, 1, 255, 256, 257, 700])('accepts the honest log at size %i', async (size) => {
    await publish(`honest-${size}`, size)
    const result = await check(`honest-${size}`, ['-origin', ORIGIN])
    expect(result.stderr).toBe('')
    expect(result.code).toBe(0)
    // This server sends bundles as they are (no gzip): Go reads both forms (see go-worker-interop.test.ts).
    expect(JSON.parse(result.stdout)).toEqual({ ok: true, size, root: toBase64(treeHash(size, read)), entries: size, bundles: Math.ceil(size / 256), gzipped: 0 })
  })

  it('accepts extension lines and ignores an unknown second signature', async () => {
    const body = `${ORIGIN}\n700\n${toBase64(treeHash(700, read))}\nextension line\n`
    const other = `— witness.example ${toBase64(new Uint8Array(68))}\n`
    await publish('extended', 700, { body })
    states.get('extended')!.checkpoint += other
    const result = await check('extended')
    expect(result.stderr).toBe('')
    expect(result.code).toBe(0)
  })

  const rejections: [string, number, Partial<LogState> & { body?: string }, string[], RegExp][] = [
    // Go v0.7.0's TileHashReader does not authenticate tile/0/000 here (it skips child tiles when
    // root tiles coincide); the inclusion proof of record 0, which covers record 3, catches it.
    ['a flipped byte in a level-0 hash tile', 700, { tamper: (p, b) => (p === 'tile/0/000' ? flipByte(3 * 32 + 5)(b) : b) }, [], /record 0 is not in the tree/],
    ['a flipped byte in the partial level-1 tile', 700, { tamper: (p, b) => (p === 'tile/1/000.p/2' ? flipByte(40)(b) : b) }, [], /tree hash from tiles/],
    ['a flipped byte in the partial level-0 tile', 700, { tamper: (p, b) => (p === 'tile/0/002.p/188' ? flipByte(0)(b) : b) }, [], /tree hash from tiles/],
    ['a flipped byte in an entry bundle', 700, { tamper: (p, b) => (p === 'tile/entries/001' ? flipByte(200)(b) : b) }, [], /record 259: level-0 tile has/],
    ['a flipped byte in the signature', 700, { tamper: (p, b) => (p === 'checkpoint' ? flipByte(b.length - 10)(b) : b) }, [], /checkpoint signature/],
    ['a signed checkpoint with the wrong root', 700, { body: `${ORIGIN}\n700\n${toBase64(treeHash(699, read))}\n` }, [], /tiles hash to|tree hash from tiles/],
    ['a signed checkpoint with a non-canonical size', 700, { body: `${ORIGIN}\n0700\n${toBase64(treeHash(700, read))}\n` }, [], /canonical decimal/],
    ['a signed checkpoint missing its root line', 700, { body: `${ORIGIN}\n700\n` }, [], /at least 3/],
    ['an empty tree whose root is Go\'s zero hash', 0, { body: `${ORIGIN}\n0\n${toBase64(new Uint8Array(32))}\n` }, [], /empty string/],
    ['a different origin than expected', 256, {}, ['-origin', 'other.example/log'], /origin/],
    ['entry bundles fetched without the token', 256, {}, ['-token', ''], /401/],
  ]

  it.each(rejections)('rejects %s', async (name, size, options, extra, message) => {
    const key = name.replace(/\W+/g, '-')
    await publish(key, size, options)
    const result = await check(key, extra)
    expect(result.code, result.stdout).toBe(1)
    expect(result.stdout).toBe('')
    expect(result.stderr).toMatch(message)
  })

  it('rejects a checkpoint signed by another key', async () => {
    await publish('other-key', 256)
    const otherSigner = await signerFromSeed(new Uint8Array(32).fill(9))
    const result = await runTlogCheck(bin, ['-url', `${baseUrl}/other-key/log/`, '-vkey', formatVerifierKey(ORIGIN, otherSigner.publicKey)])
    expect(result.code).toBe(1)
    expect(result.stderr).toMatch(/checkpoint signature/)
  })
})
