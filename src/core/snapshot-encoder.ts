/**
 * The snapshot format (src/protocol/snapshot.ts) written as a stream: each column is produced by
 * a pass over records in subject order (or, for verification times, bindings in log order), so
 * that nothing the size of the snapshot is ever held. Column encoders keep their running state
 * as plain numbers, which a writer saves between steps. Every column is written twice: once to
 * count its bytes (the format puts each column's length before it), then for real; both runs
 * go through the same code, so the lengths cannot disagree with the bytes.
 * @module
 */
import type { Subject } from '../protocol/entry.ts'
import type { StoredBinding, SubjectRecord } from './ports.ts'

/** The columns, in file order. */
export const COLUMNS = ['numbers', 'counts', 'apps', 'ttl', 'index', 'verified', 'keys', 'fingerprints'] as const
/** Index of the one column written in log order. */
export const VERIFIED_COLUMN = 5
/** Index of the bit-packed log-index column. */
export const INDEX_COLUMN = 4

/** Where encoded bytes go: a counter, or a buffer on its way to gzip. */
export interface ByteSink {
  byte(b: number): void
  bytes(data: Uint8Array): void
}

/** Counts what it is given. */
export class CountingSink implements ByteSink {
  count = 0
  byte(): void {
    this.count++
  }
  bytes(data: Uint8Array): void {
    this.count += data.length
  }
}

/** Writes an unsigned LEB128 varint, as {@link ByteWriter} does. */
export function varint(sink: ByteSink, value: number): void {
  if (!Number.isSafeInteger(value) || value < 0) throw new Error(`varint out of range: ${value}`)
  while (value >= 0x80) {
    sink.byte((value % 0x80) | 0x80)
    value = Math.floor(value / 0x80)
  }
  sink.byte(value)
}

/** Bits of a log index below `treeSize`, as the format packs them. */
export function indexWidth(treeSize: number): number {
  return treeSize <= 1 ? 0 : Math.ceil(Math.log2(treeSize))
}

/** A column encoder's running state: plain numbers, saved between steps. */
export interface EncoderState {
  /** The previous subject (numbers) or verification time (verified). */
  previous: number
  /** Bits packed but not yet written (index), and how many. */
  bits: number
  bitCount: number
  /** Whether the column's header (the index width) is written. */
  started: boolean
  /** Whether the column's length prefix is written (the file, not the measuring pass). */
  opened: boolean
}

/** A fresh encoder state. */
export function freshEncoder(): EncoderState {
  return { previous: 0, bits: 0, bitCount: 0, started: false, opened: false }
}

/** Encodes one record into subject-order column `column` (every column but {@link VERIFIED_COLUMN}). */
export function encodeRecord(column: number, state: EncoderState, record: SubjectRecord, treeSize: number, sink: ByteSink): void {
  switch (column) {
    case 0:
      if (record.subject <= state.previous) throw new Error('records must be sorted by subject, without duplicates')
      varint(sink, record.subject - state.previous)
      state.previous = record.subject
      return
    case 1:
      if (record.bindings.length === 0) throw new Error('a record must have at least one binding')
      varint(sink, record.bindings.length)
      return
    case 2:
      for (const b of record.bindings) varint(sink, b.app)
      return
    case 3:
      for (const b of record.bindings) varint(sink, b.ttlDays)
      return
    case INDEX_COLUMN: {
      const width = indexWidth(treeSize)
      startIndexColumn(state, width, sink)
      for (const b of record.bindings) {
        if (!Number.isSafeInteger(b.index) || b.index < 0 || b.index >= treeSize) throw new Error('binding index beyond the tree size')
        for (let bit = width - 1; bit >= 0; bit--) {
          state.bits = (state.bits << 1) | (Math.floor(b.index / 2 ** bit) % 2)
          if (++state.bitCount === 8) {
            sink.byte(state.bits)
            state.bits = 0
            state.bitCount = 0
          }
        }
      }
      return
    }
    case 6:
      for (const b of record.bindings) varint(sink, b.keyFingerprint ? 1 : 0)
      return
    case 7:
      for (const b of record.bindings) {
        if (!b.keyFingerprint) continue
        if (b.keyFingerprint.length !== 32) throw new Error('key fingerprints must be 32 bytes')
        sink.bytes(b.keyFingerprint)
      }
      return
    default:
      throw new Error(`column ${column} is not written in subject order`)
  }
}

/** Encodes one binding, in log order, into the verification-time column. */
export function encodeTime(state: EncoderState, binding: StoredBinding, sink: ByteSink): void {
  const delta = binding.verifiedAt - state.previous
  varint(sink, delta >= 0 ? delta * 2 : -delta * 2 - 1)
  state.previous = binding.verifiedAt
}

/** Writes what a column holds back at its end (the index column's last bits, or its header when empty). */
export function finishColumn(column: number, state: EncoderState, treeSize: number, sink: ByteSink): void {
  if (column !== INDEX_COLUMN) return
  startIndexColumn(state, indexWidth(treeSize), sink)
  if (state.bitCount > 0) {
    sink.byte((state.bits << (8 - state.bitCount)) & 0xff)
    state.bits = 0
    state.bitCount = 0
  }
}

function startIndexColumn(state: EncoderState, width: number, sink: ByteSink): void {
  if (state.started) return
  varint(sink, width)
  state.started = true
}

/** The subject a record pass resumes after (null: from the start). */
export type RecordCursor = Subject | null
