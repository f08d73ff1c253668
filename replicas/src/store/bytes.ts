/**
 * Byte-level helpers for the store's files: CRC-32 framing (`[u32 length][u32 crc32(body)][body]`,
 * little-endian). Varints come from src/protocol/varint.ts.
 * @module
 */
import { closeSync, openSync, readSync } from 'node:fs'
import { crc32 } from 'node:zlib'
import { StoreError } from './errors.ts'

/** Bytes of a frame header. */
export const FRAME_HEADER = 8

/** `[u32 length][u32 crc32(body)][body]`. */
export function frame(body: Uint8Array): Uint8Array {
  const out = new Uint8Array(FRAME_HEADER + body.length)
  const view = new DataView(out.buffer)
  view.setUint32(0, body.length, true)
  view.setUint32(4, crc32(body), true)
  out.set(body, FRAME_HEADER)
  return out
}

/** The body length and checksum a frame header announces. */
export function readFrameHeader(header: Uint8Array): { length: number; crc: number } {
  const view = new DataView(header.buffer, header.byteOffset, FRAME_HEADER)
  return { length: view.getUint32(0, true), crc: view.getUint32(4, true) }
}

/**
 * Reads the frames in the first `length` bytes of file `path`, yielding each body (a view valid
 * until the next step) and its offset. Every byte must belong to a whole frame whose checksum
 * matches: anything else throws `StoreError('corrupt')` naming `what` and the offset.
 */
export function* fileFrames(path: string, length: number, what: string): Generator<{ body: Uint8Array; offset: number }> {
  if (length === 0) return
  const fd = openSync(path, 'r')
  try {
    let buf = new Uint8Array(Math.min(length, 1 << 22))
    let bufStart = 0 // file offset of buf[0]
    let bufEnd = 0 // file offset after the last valid byte in buf
    /** Makes bytes [at, at + n) of the file available in buf; returns their index in buf. */
    const need = (at: number, n: number): number => {
      if (at + n > length) throw new StoreError('corrupt', `${what}: frame at byte ${at} runs past the committed end (${length})`)
      if (at >= bufStart && at + n <= bufEnd) return at - bufStart
      if (n > buf.length) buf = new Uint8Array(n)
      const want = Math.min(buf.length, length - at)
      let got = 0
      while (got < want) {
        const r = readSync(fd, buf, got, want - got, at + got)
        if (r === 0) throw new StoreError('corrupt', `${what}: file ends at byte ${at + got}, before its committed end (${length})`)
        got += r
      }
      bufStart = at
      bufEnd = at + got
      return 0
    }
    let offset = 0
    while (offset < length) {
      const h = need(offset, FRAME_HEADER)
      const { length: n, crc } = readFrameHeader(buf.subarray(h, h + FRAME_HEADER))
      const b = need(offset + FRAME_HEADER, n)
      const body = buf.subarray(b, b + n)
      if (crc32(body) !== crc) throw new StoreError('corrupt', `${what}: checksum mismatch in frame at byte ${offset}`)
      yield { body, offset }
      offset += FRAME_HEADER + n
    }
  } finally {
    closeSync(fd)
  }
}

/** crc32 of `data` (zlib's). */
export function checksum(data: Uint8Array): number {
  return crc32(data)
}
