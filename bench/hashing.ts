/**
 * The Merkle hash functions side by side, per call: @noble/hashes (what merkle.ts used before),
 * node:crypto's one-shot `hash`, `src/protocol/sha256.ts` (merkle.ts's default now) and the
 * mirror's four-lane WebAssembly batches (replicas/src/sha256x4.ts), on a minimal 17-byte entry's
 * leaf and on a node. Medians of 3 passes.
 *
 *   npx tsx bench/hashing.ts
 * @module
 */
import * as crypto from 'node:crypto'
import { HashBatch } from '../replicas/src/sha256x4.ts'
import { DEFAULT_HASHER, NOBLE_HASHER } from '../src/protocol/merkle.ts'
const N = 1_000_000
const entry = new Uint8Array(17).map((_, i) => i * 11)
const l = new Uint8Array(32).fill(1), r = new Uint8Array(32).fill(2)
const batch = new HashBatch(); const out = new Uint8Array(256 * 32)
// node:crypto on the same messages (prefix byte and all), one call each.
const nodeLeaf = (d: Uint8Array) => { const b = new Uint8Array(d.length + 1); b.set(d, 1); return (crypto as unknown as { hash: (alg: string, data: Uint8Array, enc: string) => Buffer }).hash('sha256', b, 'buffer') }
const nodeNode = (a: Uint8Array, c: Uint8Array) => { const b = new Uint8Array(65); b[0] = 1; b.set(a, 1); b.set(c, 33); return (crypto as unknown as { hash: (alg: string, data: Uint8Array, enc: string) => Buffer }).hash('sha256', b, 'buffer') }
const cases: [string, () => void][] = [
  ['noble leaf', () => NOBLE_HASHER.leaf(entry)], ['noble node', () => NOBLE_HASHER.node(l, r)],
  ['node:crypto leaf', () => nodeLeaf(entry)], ['node:crypto node', () => nodeNode(l, r)],
  ['sha256.ts leaf', () => DEFAULT_HASHER.leaf(entry)], ['sha256.ts node', () => DEFAULT_HASHER.node(l, r)],
]
const res = new Map<string, number[]>()
for (let rep = 0; rep < 3; rep++) {
  for (const [name, fn] of cases) { const t = performance.now(); for (let i = 0; i < N / 4; i++) fn(); const ns = (performance.now() - t) / (N / 4) * 1e6; res.set(name, [...(res.get(name) ?? []), ns]) }
  let t = performance.now(); for (let i = 0; i < N; i++) batch.leaf(entry, 0, 17, out, (i & 255) * 32); batch.flush(); res.set('sha256x4 leaf', [...(res.get('sha256x4 leaf') ?? []), (performance.now() - t) / N * 1e6])
  t = performance.now(); for (let i = 0; i < N; i++) batch.node(l, 0, r, 0, out, (i & 255) * 32); batch.flush(); res.set('sha256x4 node', [...(res.get('sha256x4 node') ?? []), (performance.now() - t) / N * 1e6])
}
for (const [k, v] of res) console.log(k.padEnd(20), Math.round([...v].sort((a, b) => a - b)[1]!), 'ns (median of 3)')
