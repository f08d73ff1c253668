/**
 * Which binding shard owns a subject. Fixed for the life of a log: a subject's bindings, its
 * history, its projection and the verifications that made them all live in that one shard, so
 * each change to it is checked and written by a single thread.
 * @module
 */
import type { Subject } from '../protocol/entry.ts'

/** Most shards a log may have. */
export const MAX_SHARDS = 1024

/** The shard of `subject` among `count`: a mix of its bits, so that adjacent numbers spread out. */
export function shardOf(subject: Subject, count: number): number {
  const lo = subject % 2 ** 32
  const hi = (subject - lo) / 2 ** 32
  let h = Math.imul(lo ^ Math.imul(hi, 0x9e3779b1), 0x85ebca6b)
  h ^= h >>> 13
  h = Math.imul(h, 0xc2b2ae35)
  h ^= h >>> 16
  return (h >>> 0) % count
}
