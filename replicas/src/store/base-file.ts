/**
 * The base file: every record of the state at one tree size, in ascending subject order, written
 * once (at bootstrap or compaction) and never modified. A sequence of checksummed frames
 * (`[u32 length][u32 crc32][body]`, little-endian), each body starting with a u32 tag:
 * ```
 * 1 header: tag, "WHODIS-BASE-1\n\0\0" (16 bytes), f64 treeSize, f64 records, f64 bindings
 * 2 block (≤ 65536 records): tag, u32 records, u32 bindings, u32 fingerprints,
 *           f64 subjects[records], u16 counts[records] (padded to 4 bytes),
 *           u32 bindings[bindings × 4] (the index's binding layout),
 *           fingerprints × (u32 binding ordinal in block, 32 bytes)
 * 3 footer: tag, f64 records, f64 bindings
 * ```
 * The blocks are the index's own layout, so loading is a checksum and a copy per block.
 * @module
 */
import { closeSync, openSync, readSync } from 'node:fs'
import { open, rename } from 'node:fs/promises'
import { FRAME_HEADER, checksum, readFrameHeader } from './bytes.ts'
import { StoreError } from './errors.ts'
import { fsyncDir } from './fsutil.ts'
import { BINDING_WORDS, decodeBinding, IndexBuilder, type LoadPolicy, type ReadonlyIndex, type SubjectIndex } from './subject-index.ts'
import type { Binding, SubjectRecord } from './types.ts'

const MAGIC = new TextEncoder().encode('WHODIS-BASE-1\n\0\0')
const TAG_HEADER = 1
const TAG_BLOCK = 2
const TAG_FOOTER = 3
const HEADER_LENGTH = 4 + MAGIC.length + 24
/** Records per block. */
export const BLOCK_RECORDS = 65_536

/** What a base file holds. */
export interface BaseInfo {
  treeSize: number
  records: number
  bindings: number
  /** File length in bytes. */
  bytes: number
}

/** One block of a base file, as views over a reused buffer (valid until the next block). */
export interface BaseBlock {
  subjects: Float64Array
  counts: Uint16Array
  words: Uint32Array
  /** Binding ordinal within the block → key fingerprint. */
  fingerprints: Map<number, Uint8Array>
}

/**
 * The subjects (ascending) and binding counts of an index fresh from `IndexBuilder.finish`,
 * as the builder was given them: with them and `payloadInBuildOrder()`, a base file is written
 * sequentially, without sorting the subjects or looking each one up.
 */
export interface BuildOrder {
  subjects: Float64Array
  counts: ArrayLike<number>
}

/**
 * Writes the index's state as base file `path` (via `path.tmp`, fsync, rename, fsync dir).
 * The index must not change until the returned promise settles.
 */
export async function writeBase(path: string, treeSize: number, index: ReadonlyIndex, order?: BuildOrder): Promise<BaseInfo> {
  const tmp = `${path}.tmp`
  const handle = await open(tmp, 'w')
  let bytes = 0
  let bindings = 0
  try {
    const write = async (data: Uint8Array): Promise<void> => {
      await handle.write(data, 0, data.length)
      bytes += data.length
    }
    const ordered = order && index.payloadInBuildOrder()
    if (order && ordered && order.subjects.length !== index.size) throw new StoreError('invalid', 'the build order does not match the index')
    const subjects = order && ordered ? order.subjects : index.sortedSubjects()
    const header = new Uint8Array(HEADER_LENGTH)
    const hv = new DataView(header.buffer)
    hv.setUint32(0, TAG_HEADER, true)
    header.set(MAGIC, 4)
    hv.setFloat64(4 + MAGIC.length, treeSize, true)
    hv.setFloat64(12 + MAGIC.length, subjects.length, true)
    hv.setFloat64(20 + MAGIC.length, index.bindingCount, true)
    await write(framed(header))

    let words = new Uint32Array(BLOCK_RECORDS * 4 * BINDING_WORDS)
    const counts = new Uint16Array(BLOCK_RECORDS)
    const slots = new Int32Array(BLOCK_RECORDS)
    let ordinal = 0 // binding ordinal of the block's first record, in build order
    for (let from = 0; from < subjects.length; from += BLOCK_RECORDS) {
      const to = Math.min(subjects.length, from + BLOCK_RECORDS)
      let used = 0
      const fingerprints = new Map<number, Uint8Array>()
      if (order && ordered) {
        // The payload is in subject order: the block's bindings are one contiguous run.
        for (let r = from; r < to; r++) {
          const count = order.counts[r]!
          counts[r - from] = count
          used += count
        }
        for (let k = 0; k < used; k++) {
          const key = index.keyFingerprint(ordinal + k)
          if (key) fingerprints.set(k, key)
        }
        await write(encodeBlock(subjects.subarray(from, to), counts.subarray(0, to - from), ordered.subarray(ordinal * BINDING_WORDS, (ordinal + used) * BINDING_WORDS), fingerprints))
        ordinal += used
        bindings += used
        continue
      }
      index.findMany(subjects.subarray(from, to), slots)
      for (let r = from; r < to; r++) {
        const slot = slots[r - from]!
        const count = index.count(slot)
        if ((used + count) * BINDING_WORDS > words.length) {
          const next = new Uint32Array(Math.max((used + count) * BINDING_WORDS, words.length * 2))
          next.set(words.subarray(0, used * BINDING_WORDS))
          words = next
        }
        index.copyEncoded(slot, words, used)
        const first = index.first(slot)
        for (let k = 0; k < count; k++) {
          const key = index.keyFingerprint(first + k)
          if (key) fingerprints.set(used + k, key)
        }
        counts[r - from] = count
        used += count
      }
      await write(encodeBlock(subjects.subarray(from, to), counts.subarray(0, to - from), words.subarray(0, used * BINDING_WORDS), fingerprints))
      bindings += used
    }

    const footer = new Uint8Array(20)
    const fv = new DataView(footer.buffer)
    fv.setUint32(0, TAG_FOOTER, true)
    fv.setFloat64(4, subjects.length, true)
    fv.setFloat64(12, bindings, true)
    await write(framed(footer))
    await handle.sync()
    await handle.close()
    await rename(tmp, path)
    await fsyncDir(path.slice(0, path.lastIndexOf('/')) || '.')
    return { treeSize, records: subjects.length, bindings, bytes }
  } catch (err) {
    await handle.close().catch(() => {})
    throw err
  }
}

function framed(body: Uint8Array): Uint8Array {
  const out = new Uint8Array(FRAME_HEADER + body.length)
  out.set(body, FRAME_HEADER)
  const view = new DataView(out.buffer)
  view.setUint32(0, body.length, true)
  view.setUint32(4, checksum(body), true)
  return out
}

function align4(n: number): number {
  return (n + 3) & ~3
}

/** One block frame; the body sits at offset 8 of the result so its arrays are aligned. */
function encodeBlock(subjects: Float64Array, counts: Uint16Array, words: Uint32Array, fingerprints: Map<number, Uint8Array>): Uint8Array {
  const n = subjects.length
  const countsAt = 16 + 8 * n
  const wordsAt = align4(countsAt + 2 * n)
  const keysAt = wordsAt + 4 * words.length
  const length = keysAt + 36 * fingerprints.size
  const out = new Uint8Array(FRAME_HEADER + length)
  const body = out.subarray(FRAME_HEADER)
  const view = new DataView(out.buffer, FRAME_HEADER)
  view.setUint32(0, TAG_BLOCK, true)
  view.setUint32(4, n, true)
  view.setUint32(8, words.length / BINDING_WORDS, true)
  view.setUint32(12, fingerprints.size, true)
  new Float64Array(out.buffer, FRAME_HEADER + 16, n).set(subjects)
  new Uint16Array(out.buffer, FRAME_HEADER + countsAt, n).set(counts)
  new Uint32Array(out.buffer, FRAME_HEADER + wordsAt, words.length).set(words)
  let at = keysAt
  for (const [ordinal, key] of fingerprints) {
    view.setUint32(at, ordinal, true)
    body.set(key, at + 4)
    at += 36
  }
  const head = new DataView(out.buffer, 0, FRAME_HEADER)
  head.setUint32(0, length, true)
  head.setUint32(4, checksum(body), true)
  return out
}

/**
 * Reads base file `path`, which must be exactly `expectedBytes` long: yields its header, then
 * each block, and returns the totals once the footer checks out. Any checksum, framing or
 * length mismatch throws `StoreError('corrupt')`.
 */
export function* readBase(path: string, expectedBytes: number): Generator<BaseInfo | BaseBlock, BaseInfo> {
  let fd: number
  try {
    fd = openSync(path, 'r')
  } catch (err) {
    throw new StoreError('corrupt', `base file ${path} is missing`, { cause: err })
  }
  try {
    let offset = 0
    let buf = new Uint8Array(1 << 20)
    const header = new Uint8Array(FRAME_HEADER)
    const corrupt = (why: string): StoreError => new StoreError('corrupt', `base file ${path}: ${why} (frame at byte ${offset})`)
    /** Reads the next frame body into `buf` (at offset 0); returns its length and tag. */
    const next = (): { length: number; tag: number } => {
      if (offset + FRAME_HEADER > expectedBytes) throw corrupt('truncated')
      if (readSync(fd, header, 0, FRAME_HEADER, offset) !== FRAME_HEADER) throw corrupt('truncated')
      const { length, crc } = readFrameHeader(header)
      if (length < 4 || offset + FRAME_HEADER + length > expectedBytes) throw corrupt('bad frame length')
      if (length > buf.length) buf = new Uint8Array(Math.max(length, buf.length * 2))
      let got = 0
      while (got < length) {
        const n = readSync(fd, buf, got, length - got, offset + FRAME_HEADER + got)
        if (n === 0) throw corrupt('truncated')
        got += n
      }
      const body = buf.subarray(0, length)
      if (checksum(body) !== crc) throw corrupt('checksum mismatch')
      const tag = new DataView(buf.buffer, 0, 4).getUint32(0, true)
      return { length, tag }
    }

    let frame = next()
    if (frame.tag !== TAG_HEADER || frame.length !== HEADER_LENGTH || !MAGIC.every((b, i) => buf[4 + i] === b)) throw corrupt('bad header')
    const hv = new DataView(buf.buffer)
    const treeSize = hv.getFloat64(4 + MAGIC.length, true)
    const expected = { treeSize, records: hv.getFloat64(12 + MAGIC.length, true), bindings: hv.getFloat64(20 + MAGIC.length, true), bytes: expectedBytes }
    yield expected
    offset += FRAME_HEADER + frame.length
    let records = 0
    let bindings = 0
    for (;;) {
      frame = next()
      if (frame.tag === TAG_FOOTER) {
        const view = new DataView(buf.buffer, 0, frame.length)
        if (frame.length !== 20 || view.getFloat64(4, true) !== records || view.getFloat64(12, true) !== bindings) throw corrupt('bad footer')
        if (records !== expected.records || bindings !== expected.bindings) throw corrupt('totals differ from the header')
        offset += FRAME_HEADER + frame.length
        if (offset !== expectedBytes) throw corrupt('bytes after the footer')
        return { treeSize, records, bindings, bytes: offset }
      }
      if (frame.tag !== TAG_BLOCK || frame.length < 16) throw corrupt('bad block')
      const view = new DataView(buf.buffer, 0, frame.length)
      const n = view.getUint32(4, true)
      const nb = view.getUint32(8, true)
      const nk = view.getUint32(12, true)
      const countsAt = 16 + 8 * n
      const wordsAt = align4(countsAt + 2 * n)
      const keysAt = wordsAt + 4 * BINDING_WORDS * nb
      if (n > BLOCK_RECORDS || keysAt + 36 * nk !== frame.length) throw corrupt('bad block sizes')
      const fingerprints = new Map<number, Uint8Array>()
      for (let k = 0; k < nk; k++) {
        const at = keysAt + 36 * k
        fingerprints.set(view.getUint32(at, true), buf.slice(at + 4, at + 36))
      }
      const block: BaseBlock = {
        subjects: new Float64Array(buf.buffer, 16, n),
        counts: new Uint16Array(buf.buffer, countsAt, n),
        words: new Uint32Array(buf.buffer, wordsAt, nb * BINDING_WORDS),
        fingerprints,
      }
      let total = 0
      for (let r = 0; r < n; r++) total += block.counts[r]!
      if (total !== nb) throw corrupt('block binding count mismatch')
      yield block
      records += n
      bindings += nb
      offset += FRAME_HEADER + frame.length
    }
  } finally {
    closeSync(fd)
  }
}

/** Loads base file `path` into a new index (see `readBase` for the checks). */
export function loadBase(path: string, expectedBytes: number, load?: LoadPolicy): { index: SubjectIndex; info: BaseInfo } {
  let builder = new IndexBuilder(16, 16)
  const blocks = readBase(path, expectedBytes)
  for (;;) {
    const next = blocks.next()
    if (next.done) return { index: builder.finish(load), info: next.value }
    const item = next.value
    if ('subjects' in item) addBlock(builder, item, path)
    else builder = new IndexBuilder(item.records, item.bindings + Math.ceil(item.bindings / 16))
  }
}

function addBlock(builder: IndexBuilder, block: BaseBlock, path: string): void {
  const { subjects, counts, words, fingerprints } = block
  let at = 0
  try {
    for (let r = 0; r < subjects.length; r++) {
      const count = counts[r]!
      builder.addEncoded(subjects[r]!, count, words, at, fingerprints)
      at += count
    }
  } catch (err) {
    if (err instanceof StoreError) throw new StoreError('corrupt', `base file ${path}: ${err.message}`, { cause: err })
    throw err
  }
}

/** Every record of base file `path`, as fresh objects, in subject order, one block at a time. */
export function* baseRecords(path: string, expectedBytes: number): Generator<SubjectRecord> {
  for (const item of readBase(path, expectedBytes)) {
    if (!('subjects' in item)) continue
    let at = 0
    for (let r = 0; r < item.subjects.length; r++) {
      const bindings: Binding[] = []
      for (let k = 0; k < item.counts[r]!; k++, at++) bindings.push(decodeBinding(item.words, at, item.fingerprints.get(at)))
      yield { subject: item.subjects[r]!, bindings }
    }
  }
}
