/**
 * Unsigned LEB128 varints over a growable buffer, for compact binary formats.
 * @module
 */

/** Appends bytes and varints to a buffer that grows by doubling. */
export class ByteWriter {
  private buf: Uint8Array
  length = 0

  constructor(initial = 1024) {
    this.buf = new Uint8Array(initial)
  }

  private ensure(n: number): void {
    if (this.length + n <= this.buf.length) return
    let size = this.buf.length * 2
    while (size < this.length + n) size *= 2
    const next = new Uint8Array(size)
    next.set(this.buf.subarray(0, this.length))
    this.buf = next
  }

  /** Appends a non-negative safe integer as an unsigned LEB128 varint. */
  varint(value: number): void {
    if (!Number.isSafeInteger(value) || value < 0) throw new Error(`varint out of range: ${value}`)
    this.ensure(8)
    while (value >= 0x80) {
      this.buf[this.length++] = (value % 0x80) | 0x80
      value = Math.floor(value / 0x80)
    }
    this.buf[this.length++] = value
  }

  /** Appends raw bytes. */
  bytes(data: Uint8Array): void {
    this.ensure(data.length)
    this.buf.set(data, this.length)
    this.length += data.length
  }

  /** The bytes written so far (a copy). */
  finish(): Uint8Array {
    return this.buf.slice(0, this.length)
  }
}

/** Reads bytes and varints, throwing a clear error on truncation. */
export class ByteReader {
  offset = 0
  constructor(private readonly buf: Uint8Array) {}

  /** True when every byte has been read. */
  get done(): boolean {
    return this.offset === this.buf.length
  }

  /** Reads an unsigned LEB128 varint (at most a safe integer). */
  varint(): number {
    let value = 0
    let scale = 1
    for (let i = 0; i < 8; i++) {
      if (this.offset >= this.buf.length) throw new Error('truncated varint')
      const b = this.buf[this.offset++]!
      value += (b & 0x7f) * scale
      if (b < 0x80) {
        if (b === 0 && i > 0) throw new Error('non-canonical varint')
        if (!Number.isSafeInteger(value)) throw new Error('varint too large')
        return value
      }
      scale *= 0x80
    }
    throw new Error('varint too long')
  }

  /** Reads `n` raw bytes (a view, not a copy). */
  bytes(n: number): Uint8Array {
    if (this.offset + n > this.buf.length) throw new Error('truncated data')
    const out = this.buf.subarray(this.offset, this.offset + n)
    this.offset += n
    return out
  }
}
