/**
 * Reading the whole state in order from every shard at once: each shard returns its own records
 * (or bindings) in order, a page at a time, and a heap merges the pages into one ordered stream.
 * Memory is a page per shard, whatever the size of the state.
 * @module
 */
import type { Subject } from '../protocol/entry.ts'
import type { ShardClient, StoredBinding, SubjectRecord } from './ports.ts'

/** Records (or bindings) a merge holds at most, over all its shards' pages together. */
export const MERGE_RECORDS = 32_768

/** The page a merge fetches from each of `count` shards: memory stays {@link MERGE_RECORDS} whatever the count. */
export function mergePage(count: number): number {
  return Math.max(64, Math.floor(MERGE_RECORDS / count))
}

interface Cursor<T> {
  shard: number
  page: T[]
  at: number
  done: boolean
}

/** A k-way merge of ordered pages; `key` orders items, `fetch` reads a shard's page after a key. */
class Merge<T, K extends number> {
  readonly #cursors: Cursor<T>[]
  readonly #page: number
  readonly #heap: Cursor<T>[] = []
  #started = false

  constructor(
    count: number,
    private readonly after: K | null,
    private readonly key: (item: T) => K,
    private readonly fetch: (shard: number, after: K | null, limit: number) => Promise<T[]>,
  ) {
    this.#page = mergePage(count)
    this.#cursors = Array.from({ length: count }, (_, shard) => ({ shard, page: [], at: 0, done: false }))
  }

  /** The next item in order, or null at the end. */
  async next(): Promise<T | null> {
    if (!this.#started) {
      this.#started = true
      await Promise.all(this.#cursors.map((c) => this.#refill(c, this.after)))
      for (const c of this.#cursors) if (!c.done) this.#push(c)
    }
    const top = this.#heap[0]
    if (!top) return null
    const item = top.page[top.at++]!
    if (top.at === top.page.length) {
      await this.#refill(top, this.key(item))
      if (top.done) this.#popTop()
      else this.#siftDown(0)
    } else {
      this.#siftDown(0)
    }
    return item
  }

  async #refill(c: Cursor<T>, after: K | null): Promise<void> {
    if (c.done) return
    const last = c.page.length < this.#page && c.page.length > 0 && c.at === c.page.length
    if (last) {
      c.done = true
      return
    }
    c.page = await this.fetch(c.shard, after, this.#page)
    c.at = 0
    if (c.page.length === 0) c.done = true
  }

  #less(a: Cursor<T>, b: Cursor<T>): boolean {
    return this.key(a.page[a.at]!) < this.key(b.page[b.at]!)
  }

  #push(c: Cursor<T>): void {
    const h = this.#heap
    h.push(c)
    let i = h.length - 1
    while (i > 0) {
      const p = (i - 1) >> 1
      if (!this.#less(h[i]!, h[p]!)) break
      ;[h[i], h[p]] = [h[p]!, h[i]!]
      i = p
    }
  }

  #popTop(): void {
    const h = this.#heap
    const last = h.pop()!
    if (h.length === 0) return
    h[0] = last
    this.#siftDown(0)
  }

  #siftDown(i: number): void {
    const h = this.#heap
    for (;;) {
      const l = 2 * i + 1
      const r = l + 1
      let m = i
      if (l < h.length && this.#less(h[l]!, h[m]!)) m = l
      if (r < h.length && this.#less(h[r]!, h[m]!)) m = r
      if (m === i) return
      ;[h[i], h[m]] = [h[m]!, h[i]!]
      i = m
    }
  }
}

/** Every shard's records as of tree size `size`, in subject order, after subject `after`. */
export function mergedRecords(shards: ShardClient, size: number, after: Subject | null): { next(): Promise<SubjectRecord | null> } {
  return new Merge<SubjectRecord, Subject>(shards.count, after, (r) => r.subject, (shard, a, limit) => shards.recordsAsOf(shard, size, a, limit))
}

/** Every shard's bindings as of tree size `size`, in log order, after log index `after`. */
export function mergedBindingsByIndex(shards: ShardClient, size: number, after: number): { next(): Promise<StoredBinding | null> } {
  return new Merge<StoredBinding, number>(shards.count, after, (b) => b.index, (shard, a, limit) => shards.bindingsByIndexAsOf(shard, size, a ?? -1, limit))
}
