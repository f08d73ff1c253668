/**
 * SHA-256 of four messages at once with WebAssembly SIMD (each 32-bit lane of a v128 carries one
 * message), for the mirror's bulk hashing: the leaf hashes of snapshot bindings and entry
 * bundles, and the interior nodes of hash tiles. Same results as `src/protocol/sha256.ts` (the
 * tests compare them); about twice its throughput for queued messages (≈0.18 µs a leaf, ≈0.29 µs
 * a node, layout included: `npx tsx bench/hashing.ts`) and nearly three times for a whole tile
 * (≈0.21 µs a node, all in WebAssembly). JavaScript has no vector instructions and WebAssembly
 * no SHA instructions: four lanes of plain 32-bit operations are the best a portable program
 * can do.
 *
 * The module is generated here (no toolchain, no binary in the repository) and has two
 * functions. `hash(groups, blocks)` compresses `groups` groups of four messages of `blocks`
 * 64-byte blocks each; its input is message words, not bytes: word `i` of block `b` of lane `j`
 * of group `g` is the u32 at `IN + ((g·blocks + b)·16 + i)·16 + 4j`, holding the word's
 * big-endian value (so the JavaScript side does the byte order and the padding), and the digests
 * come out the same way, 8 words × 4 lanes per group at `OUT + g·128`. `nodes(src, dst, count)`
 * hashes consecutive pairs of hashes as bytes, entirely in WebAssembly (`hashTileLevels`).
 *
 * Node only: workerd does not compile WebAssembly at run time (the directory uses
 * `src/protocol/sha256.ts`).
 * @module
 */
import { leafHashInto } from '../../src/protocol/sha256.ts'

// prettier-ignore
const K = [
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
  0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
  0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
  0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
  0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
  0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
  0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
  0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
]
const IV = [0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19]

/** Groups of four messages per call. */
export const GROUPS = 64
/** Most blocks per message. */
export const MAX_BLOCKS = 2
/** Byte offsets of the input and output areas in the module's memory. */
const IN = 0
const OUT = GROUPS * MAX_BLOCKS * 256
/** The levels of one hash tile (see {@link hashTileLevels}): level l at TILE + l · TILE_LEVEL_STRIDE. */
const TILE = 65536
/** Bytes between the levels of {@link hashTileLevels}'s result (room for 256 hashes each). */
export const TILE_LEVEL_STRIDE = 256 * 32
const MEMORY_PAGES = Math.ceil((TILE + 9 * TILE_LEVEL_STRIDE) / 65536)

// ---- a tiny WebAssembly assembler: just what the one function needs ----

const uleb = (n: number): number[] => {
  const out: number[] = []
  do {
    let byte = n & 0x7f
    n >>>= 7
    if (n !== 0) byte |= 0x80
    out.push(byte)
  } while (n !== 0)
  return out
}
const sleb = (n: number): number[] => {
  const out: number[] = []
  for (;;) {
    const byte = n & 0x7f
    n >>= 7
    if ((n === 0 && (byte & 0x40) === 0) || (n === -1 && (byte & 0x40) !== 0)) {
      out.push(byte)
      return out
    }
    out.push(byte | 0x80)
  }
}
const section = (id: number, body: number[]): number[] => [id, ...uleb(body.length), ...body]
const vec = (items: number[][]): number[] => [...uleb(items.length), ...items.flat()]
const name = (s: string): number[] => [...uleb(s.length), ...Array.from(s, (c) => c.charCodeAt(0))]

const I32 = 0x7f
const V128 = 0x7b
const op = {
  localGet: (i: number) => [0x20, ...uleb(i)],
  localSet: (i: number) => [0x21, ...uleb(i)],
  localTee: (i: number) => [0x22, ...uleb(i)],
  i32Const: (n: number) => [0x41, ...sleb(n | 0)],
  i32Add: [0x6a],
  i32Mul: [0x6c],
  i32LtU: [0x49],
  loop: [0x03, 0x40],
  end: [0x0b],
  brIf: (depth: number) => [0x0d, ...uleb(depth)],
  simd: (code: number, ...imm: number[]) => [0xfd, ...uleb(code), ...imm],
}
const memarg = (offset: number) => [4, ...uleb(offset)] // align 2^4
const v = {
  load: (offset: number) => op.simd(0x00, ...memarg(offset)),
  store: (offset: number) => op.simd(0x0b, ...memarg(offset)),
  splat32: (value: number) => [...op.i32Const(value), ...op.simd(0x11)],
  and: op.simd(0x4e),
  or: op.simd(0x50),
  xor: op.simd(0x51),
  bitselect: op.simd(0x52),
  shl: op.simd(0xab),
  shrU: op.simd(0xad),
  add: op.simd(0xae),
}

/** Local variable layout shared by both functions: six i32 params and locals first, then these v128 locals. */
const V0 = 6
const A = V0 // a..h
const W = V0 + 8 // w0..w15
const S = V0 + 24 // chaining state h0..h7
const T1 = V0 + 32
const T2 = V0 + 33
const V128_LOCALS = 34

type Emit = (...parts: (number | number[])[]) => void
const get = (l: number) => op.localGet(l)
const set = (l: number) => op.localSet(l)
/** rotr(local, n), pushed. */
const rotr = (l: number, n: number) => [...get(l), ...op.i32Const(n), ...v.shrU, ...get(l), ...op.i32Const(32 - n), ...v.shl, ...v.or]
const shr = (l: number, n: number) => [...get(l), ...op.i32Const(n), ...v.shrU]

/** Emits one compression of the block in w0..w15 into the state h0..h7 (four lanes at once). */
function emitCompression(emit: Emit): void {
  for (let i = 0; i < 8; i++) emit(get(S + i), set(A + i))
  // 64 rounds, the schedule in a ring of 16 locals, the working variables renamed round by round.
  for (let r = 0; r < 64; r++) {
    const role = (k: number) => A + ((k - r + 64 * 8) % 8)
    const [a, b, c, d, e, f, g, h] = [0, 1, 2, 3, 4, 5, 6, 7].map(role) as [number, number, number, number, number, number, number, number]
    const w = W + (r % 16)
    if (r >= 16) {
      const x = W + ((r - 15) % 16)
      const y = W + ((r - 2) % 16)
      // w[r] = w[r-16] + σ0(w[r-15]) + w[r-7] + σ1(w[r-2])
      emit(get(w), rotr(x, 7), rotr(x, 18), v.xor, shr(x, 3), v.xor, v.add)
      emit(get(W + ((r - 7) % 16)), v.add)
      emit(rotr(y, 17), rotr(y, 19), v.xor, shr(y, 10), v.xor, v.add, set(w))
    }
    // t1 = h + Σ1(e) + Ch(e, f, g) + K[r] + w[r]; Ch = bitselect(f, g, e)
    emit(get(h), rotr(e, 6), rotr(e, 11), v.xor, rotr(e, 25), v.xor, v.add)
    emit(get(f), get(g), get(e), v.bitselect, v.add)
    emit(v.splat32(K[r]!), v.add, get(w), v.add, set(T1))
    // t2 = Σ0(a) + Maj(a, b, c); Maj = bitselect(c, b, a ^ b)
    emit(rotr(a, 2), rotr(a, 13), v.xor, rotr(a, 22), v.xor)
    emit(get(c), get(b), get(a), get(b), v.xor, v.bitselect, v.add, set(T2))
    // d += t1; h = t1 + t2 (h becomes the next round's a)
    emit(get(d), get(T1), v.add, set(d))
    emit(get(T1), get(T2), v.add, set(h))
  }
  // After 64 rounds (a multiple of 8) the names are back in place: state += a..h.
  for (let i = 0; i < 8; i++) emit(get(S + i), get(A + i), v.add, set(S + i))
}

/** A code section entry: i32 locals up to index V0 - 1 (after `params` params), the v128s, and the body. */
function functionBody(code: number[], params: number): number[] {
  const body = [...vec([[...uleb(V0 - params), I32], [...uleb(V128_LOCALS), V128]]), ...code, ...op.end]
  return [...uleb(body.length), ...body]
}

/**
 * `hash(groups, blocks)`: params 0 groups, 1 blocks; locals 2 g, 3 b, 4 pointer. Messages as
 * words, lane-interleaved, at IN; digests as words at OUT (see the module comment).
 */
function hashFunction(): number[] {
  const G = 2
  const B = 3
  const PTR = 4
  const code: number[] = []
  const emit: Emit = (...parts) => {
    for (const p of parts) typeof p === 'number' ? code.push(p) : code.push(...p)
  }
  emit(op.i32Const(0), set(G), op.i32Const(IN), set(PTR))
  emit(op.loop) // per group
  for (let i = 0; i < 8; i++) emit(v.splat32(IV[i]!), set(S + i))
  emit(op.i32Const(0), set(B))
  emit(op.loop) // per block
  for (let i = 0; i < 16; i++) emit(get(PTR), v.load(i * 16), set(W + i))
  emitCompression(emit)
  emit(get(PTR), op.i32Const(256), op.i32Add, set(PTR))
  emit(get(B), op.i32Const(1), op.i32Add, op.localTee(B), get(1), op.i32LtU, op.brIf(0))
  emit(op.end)
  for (let i = 0; i < 8; i++) emit(get(G), op.i32Const(128), op.i32Mul, get(S + i), v.store(OUT + i * 16))
  emit(get(G), op.i32Const(1), op.i32Add, op.localTee(G), get(0), op.i32LtU, op.brIf(0))
  emit(op.end)
  return functionBody(code, 2)
}

/** Byte lanes of i8x16.shuffle picking, from (x, y), 32-bit lanes `lanes` (0-3 of x, 4-7 of y), byte-swapped if asked. */
function lanes(picks: number[], swap: boolean): number[] {
  return picks.flatMap((l) => (swap ? [4 * l + 3, 4 * l + 2, 4 * l + 1, 4 * l] : [4 * l, 4 * l + 1, 4 * l + 2, 4 * l + 3]))
}

/**
 * `nodes(src, dst, count)`: RFC 6962 node hashes of `count` (rounded up to 4) consecutive pairs
 * of 32-byte hashes, as bytes: dst[32k ..] = SHA-256(0x01 || src[64k .. 64k + 64)). Params 0 src,
 * 1 dst, 2 count; locals 3 k (pair), 4 pointer, 5 block. The message words are loaded straight from the
 * hash bytes (the 0x01 prefix shifts them by one byte: a shuffle per 16 bytes), the four lanes
 * transposed and byte-swapped with shuffles, and word 0's top byte set to 0x01.
 */
function nodesFunction(): number[] {
  const K_ = 3
  const PTR = 4
  const B = 5
  const code: number[] = []
  const emit: Emit = (...parts) => {
    for (const p of parts) typeof p === 'number' ? code.push(p) : code.push(...p)
  }
  // Scratch v128s: the 16 loads of a group go to w0..w15 first (lane j, chunk t at W + 4t + j),
  // then are transposed into t1/t2 and a..h, which are free before the compression.
  emit(op.i32Const(0), set(K_))
  emit(op.loop) // per group of four pairs
  // PTR = src + 64k
  emit(get(0), get(K_), op.i32Const(64), op.i32Mul, op.i32Add, set(PTR))
  for (let j = 0; j < 4; j++) for (let t = 0; t < 4; t++) emit(get(PTR), v.load(64 * j + 16 * t), set(W + 4 * t + j))
  // Message word i = BE32(m[4i .. 4i+3]) with m = 0x01 || pair: for i ≥ 1, pair bytes 4i-1 .. 4i+2.
  // Build, per lane j and chunk t, the words 4t..4t+3 of m: from pair bytes [16t-1 .. 16t+14], i.e.
  // the previous chunk's last byte then this chunk's first 15 bytes.
  for (let t = 3; t >= 0; t--) {
    for (let j = 0; j < 4; j++) {
      const cur = W + 4 * t + j
      if (t > 0) {
        // shuffle(prev, cur): byte 15 of prev, then bytes 0..14 of cur.
        emit(get(W + 4 * (t - 1) + j), get(cur), op.simd(0x0d, 15, ...Array.from({ length: 15 }, (_, i) => 16 + i)), set(cur))
      } else {
        // The first chunk: the prefix byte (0x01, set below), then bytes 0..14.
        emit(get(cur), get(cur), op.simd(0x0d, 0, ...Array.from({ length: 15 }, (_, i) => i)), set(cur))
      }
    }
  }
  // Now W + 4t + j holds m[16t .. 16t+15] of lane j (byte 0 of t=0 still to fix). Transpose and
  // byte-swap each 4×4 block of words into the schedule w(4t) .. w(4t+3) across lanes.
  // t0 = [a0,b0,a1,b1], t1 = [a2,b2,a3,b3], t2 = [c0,d0,c1,d1], t3 = [c2,d2,c3,d3] (byte-swapped),
  // then w(4t) = [t0_0,t0_1,t2_0,t2_1], w(4t+1) = [t0_2,t0_3,t2_2,t2_3], w(4t+2), w(4t+3) likewise from t1, t3.
  const tmp = [A, A + 1, A + 2, A + 3]
  for (let t = 0; t < 4; t++) {
    const [a, b, c, d] = [0, 1, 2, 3].map((j) => W + 4 * t + j) as [number, number, number, number]
    emit(get(a), get(b), op.simd(0x0d, ...lanes([0, 4, 1, 5], true)), set(tmp[0]!))
    emit(get(a), get(b), op.simd(0x0d, ...lanes([2, 6, 3, 7], true)), set(tmp[1]!))
    emit(get(c), get(d), op.simd(0x0d, ...lanes([0, 4, 1, 5], true)), set(tmp[2]!))
    emit(get(c), get(d), op.simd(0x0d, ...lanes([2, 6, 3, 7], true)), set(tmp[3]!))
    emit(get(tmp[0]!), get(tmp[2]!), op.simd(0x0d, ...lanes([0, 1, 4, 5], false)), set(W + 4 * t))
    emit(get(tmp[0]!), get(tmp[2]!), op.simd(0x0d, ...lanes([2, 3, 6, 7], false)), set(W + 4 * t + 1))
    emit(get(tmp[1]!), get(tmp[3]!), op.simd(0x0d, ...lanes([0, 1, 4, 5], false)), set(W + 4 * t + 2))
    emit(get(tmp[1]!), get(tmp[3]!), op.simd(0x0d, ...lanes([2, 3, 6, 7], false)), set(W + 4 * t + 3))
  }
  // Word 0: its top byte is the 0x01 prefix.
  emit(get(W), v.splat32(0x00ffffff), v.and, v.splat32(0x01000000), v.or, set(W))
  for (let i = 0; i < 8; i++) emit(v.splat32(IV[i]!), set(S + i))
  // Two blocks through one copy of the compression code (half the machine code of two copies):
  // after block 1, lay out block 2 and go round again. B counts the blocks done.
  emit(op.i32Const(0), set(B))
  emit(op.loop)
  emitCompression(emit)
  emit(get(B), op.i32Const(1), op.i32Add, op.localTee(B), op.i32Const(1), [0x46 /* i32.eq */], [0x04, 0x40 /* if */])
  // Block 2: pair byte 63, 0x80, zeros, bit length 520. Word 0 per lane from a byte load.
  emit(v.splat32(0), set(W))
  for (let j = 0; j < 4; j++) {
    emit(get(W), get(PTR), [0x2d, 0, ...uleb(64 * j + 63)], op.i32Const(24), [0x74], op.i32Const(0x800000), [0x72], op.simd(0x1c, j), set(W))
  }
  for (let i = 1; i < 15; i++) emit(v.splat32(0), set(W + i))
  emit(v.splat32(520), set(W + 15))
  emit([0x0c, 1 /* br to the loop */])
  emit(op.end) // if
  emit(op.end) // loop
  // Digests: transpose the state back to lanes and byte-swap, 16 bytes at a time, to dst + 32k + 32j.
  emit(get(1), get(K_), op.i32Const(32), op.i32Mul, op.i32Add, set(PTR))
  for (let half = 0; half < 2; half++) {
    const [a, b, c, d] = [0, 1, 2, 3].map((i) => S + 4 * half + i) as [number, number, number, number]
    // Same transpose: out lane j = [a_j, b_j, c_j, d_j].
    emit(get(a), get(b), op.simd(0x0d, ...lanes([0, 4, 1, 5], true)), set(tmp[0]!))
    emit(get(a), get(b), op.simd(0x0d, ...lanes([2, 6, 3, 7], true)), set(tmp[1]!))
    emit(get(c), get(d), op.simd(0x0d, ...lanes([0, 4, 1, 5], true)), set(tmp[2]!))
    emit(get(c), get(d), op.simd(0x0d, ...lanes([2, 6, 3, 7], true)), set(tmp[3]!))
    const outs: [number, number, number[]][] = [
      [tmp[0]!, tmp[2]!, lanes([0, 1, 4, 5], false)],
      [tmp[0]!, tmp[2]!, lanes([2, 3, 6, 7], false)],
      [tmp[1]!, tmp[3]!, lanes([0, 1, 4, 5], false)],
      [tmp[1]!, tmp[3]!, lanes([2, 3, 6, 7], false)],
    ]
    outs.forEach(([x, y, pick], j) => emit(get(PTR), get(x), get(y), op.simd(0x0d, ...pick), v.store(32 * j + 16 * half)))
  }
  // k += 4; loop while k < count
  emit(get(K_), op.i32Const(4), op.i32Add, op.localTee(K_), get(2), op.i32LtU, op.brIf(0))
  emit(op.end)
  return functionBody(code, 3)
}

/** The module's bytes. */
function moduleBytes(): Uint8Array {
  return Uint8Array.from([
    ...[0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00],
    // types: 0 (i32, i32) → (), 1 (i32, i32, i32) → ()
    ...section(1, vec([[0x60, ...vec([[I32], [I32]]), ...vec([])], [0x60, ...vec([[I32], [I32], [I32]]), ...vec([])]])),
    ...section(3, vec([uleb(0), uleb(1)])),
    ...section(5, vec([[0x00, ...uleb(MEMORY_PAGES)]])),
    ...section(7, vec([[...name('hash'), 0x00, 0], [...name('nodes'), 0x00, 1], [...name('memory'), 0x02, 0]])),
    ...section(10, vec([hashFunction(), nodesFunction()])),
  ])
}

interface Exports {
  hash: (groups: number, blocks: number) => void
  nodes: (src: number, dst: number, count: number) => void
  memory: WebAssembly.Memory
}

let instance: Exports | null | undefined

/** The compiled module, or null where WebAssembly SIMD is unavailable. */
function wasm() {
  if (instance !== undefined) return instance
  try {
    // (Casts: the Workers type definitions this repository compiles with declare these abstract.)
    const Module = WebAssembly.Module as unknown as new (bytes: Uint8Array) => WebAssembly.Module
    const Instance = WebAssembly.Instance as unknown as new (m: WebAssembly.Module) => { exports: unknown }
    const module = new Module(moduleBytes())
    const exports = new Instance(module).exports as Exports
    instance = exports
  } catch {
    instance = null
  }
  return instance
}

/** True when the SIMD hasher runs here (else the callers fall back to the scalar one). */
export function simdAvailable(): boolean {
  return wasm() !== null
}

let tileView: Uint8Array | null = null

/**
 * The Merkle levels above 256 leaf hashes (`leaves[at .. at + 8192)`), all in WebAssembly: returns
 * a view of the module's memory where level l (0: the leaves, 8: the tile's root) holds its
 * 256 / 2^l hashes from byte l · {@link TILE_LEVEL_STRIDE}. Valid until the next call.
 */
export function hashTileLevels(leaves: Uint8Array, at: number): Uint8Array {
  const w = wasm()
  if (!w) throw new Error('WebAssembly SIMD is not available')
  tileView ??= new Uint8Array(w.memory.buffer, TILE, 9 * TILE_LEVEL_STRIDE)
  tileView.set(leaves.subarray(at, at + 256 * 32), 0)
  for (let l = 1, pairs = 128; l <= 8; l++, pairs /= 2) w.nodes(TILE + (l - 1) * TILE_LEVEL_STRIDE, TILE + l * TILE_LEVEL_STRIDE, pairs)
  return tileView
}

/**
 * Batches of RFC 6962 hashes, four at a time. Queue messages with {@link leaf} / {@link node},
 * each with where its digest goes, then {@link flush} (also done automatically when the batch
 * is full). Digests are written to the caller's buffers on flush, so inputs may be reused at
 * once and outputs are complete only after flush. Each batch lays its messages out in memory of
 * its own and holds the module's shared input and output areas only inside a flush, so leaves and
 * nodes may be queued in any order, and several batches (and {@link hashTileLevels}) used in turn.
 */
export class HashBatch {
  readonly #input: Uint32Array
  readonly #out: Uint32Array
  /** Leaves and nodes fill separate batches (one block and two blocks a message), laid out as the module's input. */
  readonly #leafWords = new Uint32Array(GROUPS * 64)
  readonly #leafDest: (Uint8Array | null)[] = new Array(GROUPS * 4).fill(null)
  readonly #leafDestAt = new Int32Array(GROUPS * 4)
  #leaves = 0
  readonly #nodeWords = new Uint32Array(GROUPS * 2 * 64)
  readonly #nodeDest: (Uint8Array | null)[] = new Array(GROUPS * 4).fill(null)
  readonly #nodeDestAt = new Int32Array(GROUPS * 4)
  #nodes = 0

  constructor() {
    const w = wasm()
    if (!w) throw new Error('WebAssembly SIMD is not available')
    this.#input = new Uint32Array(w.memory.buffer, IN, (GROUPS * MAX_BLOCKS * 256) / 4)
    this.#out = new Uint32Array(w.memory.buffer, OUT, (GROUPS * 128) / 4)
    // Node messages are 65 bytes: block 2 is the last byte of `right`, 0x80, zeros and the bit
    // length 520; only its first word varies. Lay the constant words out once.
    for (let m = 0; m < GROUPS * 4; m++) {
      const g = m >>> 2
      const j = m & 3
      for (let i = 1; i < 16; i++) this.#nodeWords[((g * 2 + 1) * 16 + i) * 4 + j] = i === 15 ? 520 : 0
    }
  }

  /**
   * Queues SHA-256(0x00 || data[from..to)), the leaf hash, to be written at `out[at..at+32)`.
   * Messages over one block are hashed at once by the scalar code.
   */
  leaf(data: Uint8Array, from: number, to: number, out: Uint8Array, at: number): void {
    const n = to - from
    if (n > 54) return leafHashInto(data, from, to, out, at)
    const m = this.#leaves
    const words = this.#leafWords
    const base = (m >>> 2) * 64 + (m & 3) // u32 index of word 0 of lane j in group g (one block: 64 u32 a group)
    // Message bytes: 0x00, data, 0x80, zeros, bit length in the last word.
    let word = 0
    let i = 0
    for (let p = 1; p <= n; p++) {
      word = (word << 8) | data[from + p - 1]!
      if ((p & 3) === 3) {
        words[base + i * 4] = word
        i++
        word = 0
      }
    }
    let p = n + 1
    word = (word << 8) | 0x80
    while ((p & 3) !== 3) {
      word <<= 8
      p++
    }
    words[base + i * 4] = word
    for (i++; i < 15; i++) words[base + i * 4] = 0
    words[base + 15 * 4] = (n + 1) * 8
    this.#leafDest[m] = out
    this.#leafDestAt[m] = at
    if (++this.#leaves === GROUPS * 4) this.#flushLeaves()
  }

  /** Queues SHA-256(0x01 || left || right) of the 32-byte hashes at `l[la..]`, `r[ra..]`, to be written at `out[at..]`. */
  node(l: Uint8Array, la: number, r: Uint8Array, ra: number, out: Uint8Array, at: number): void {
    const m = this.#nodes
    const words = this.#nodeWords
    const base = (m >>> 2) * 128 + (m & 3) // blocks = 2: 128 u32 per group
    words[base] = 0x01000000 | (l[la]! << 16) | (l[la + 1]! << 8) | l[la + 2]!
    for (let k = 1; k < 8; k++) {
      const x = la + 4 * k - 1
      words[base + k * 4] = (l[x]! << 24) | (l[x + 1]! << 16) | (l[x + 2]! << 8) | l[x + 3]!
    }
    words[base + 8 * 4] = (l[la + 31]! << 24) | (r[ra]! << 16) | (r[ra + 1]! << 8) | r[ra + 2]!
    for (let k = 9; k < 16; k++) {
      const x = ra + 4 * (k - 8) - 1
      words[base + k * 4] = (r[x]! << 24) | (r[x + 1]! << 16) | (r[x + 2]! << 8) | r[x + 3]!
    }
    words[base + 64] = (r[ra + 31]! << 24) | 0x800000
    this.#nodeDest[m] = out
    this.#nodeDestAt[m] = at
    if (++this.#nodes === GROUPS * 4) this.#flushNodes()
  }

  /** Computes every queued hash and writes the digests. */
  flush(): void {
    if (this.#leaves > 0) this.#flushLeaves()
    if (this.#nodes > 0) this.#flushNodes()
  }

  #flushLeaves(): void {
    const count = this.#leaves
    this.#leaves = 0
    const groups = Math.ceil(count / 4)
    this.#input.set(this.#leafWords.subarray(0, groups * 64))
    wasm()!.hash(groups, 1)
    this.#scatter(count, this.#leafDest, this.#leafDestAt)
  }

  #flushNodes(): void {
    const count = this.#nodes
    this.#nodes = 0
    const groups = Math.ceil(count / 4)
    this.#input.set(this.#nodeWords.subarray(0, groups * 128))
    wasm()!.hash(groups, 2)
    this.#scatter(count, this.#nodeDest, this.#nodeDestAt)
  }

  #scatter(count: number, dest: (Uint8Array | null)[], destAt: Int32Array): void {
    const out = this.#out
    for (let m = 0; m < count; m++) {
      const o = dest[m]!
      const at = destAt[m]!
      const base = (m >>> 2) * 32 + (m & 3)
      for (let i = 0; i < 8; i++) {
        const word = out[base + i * 4]!
        const x = at + 4 * i
        o[x] = word >>> 24
        o[x + 1] = word >>> 16
        o[x + 2] = word >>> 8
        o[x + 3] = word
      }
      dest[m] = null
    }
  }
}
