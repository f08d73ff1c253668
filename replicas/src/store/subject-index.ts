/**
 * The in-memory lookup index: an open-addressing hash table in one `Uint32Array`, keyed by
 * subject, pointing into a binding payload held in a second `Uint32Array`. No JS object per
 * record: 10 million numbers cost two typed arrays.
 *
 * Slot (3 words, 12 bytes): `[subject low 32 bits, subject high 18 bits | count << 18, first]`;
 * `count` (1..16383) is the record's number of bindings and 0 marks an empty slot; `first` is the
 * position of its first binding in the payload. Linear probing from
 * `home = ⌊fmix32(subject) × capacity / 2^32⌋`; deletion shifts the cluster back (no tombstones).
 * The load factor stays in [0.5, 0.75] (rebuilt to 0.6 when it leaves it), so the table costs
 * 16–24 bytes per record; a lookup reads one slot, usually one cache line.
 *
 * Binding (4 words, 16 bytes): `[app | ttlDays << 16, verifiedAt, index low 32 bits,
 * index high 8 bits | flags << 8]`, flag 1 = has a key fingerprint (kept in a side map by
 * position). A replacement with no more bindings than before overwrites them in place; otherwise
 * it appends. Garbage is reclaimed when it exceeds half the payload.
 *
 * Slot numbers and binding positions are valid until the next `apply`.
 * @module
 */
import { StoreError } from './errors.ts'
import { sortSubjects } from './radix-sort.ts'
import { type Binding, checkBindings, checkSubject, DAY, MAX_BINDINGS, MAX_LOG_INDEX, type SubjectChange, type SubjectRecord } from './types.ts'

function isUint(x: number, max: number): boolean {
  return Number.isSafeInteger(x) && x >= 0 && x <= max
}

const TWO32 = 4294967296
const HI_MASK = 0x3ffff
const COUNT_SHIFT = 18
const FLAG_KEY = 1
const MIN_CAPACITY = 16
/** Uint32 words per hash-table slot. */
export const SLOT_WORDS = 3
/** Uint32 words per binding in the payload. */
export const BINDING_WORDS = 4

/** Load-factor policy of the hash table. */
export interface LoadPolicy {
  /** Rebuild larger when size would exceed capacity × max. */
  max: number
  /** Rebuild to this load factor. */
  target: number
  /** Rebuild smaller when size falls below capacity × min. */
  min: number
}

/** The default policy: at most 24 bytes of table per record, at most 0.75 load. */
export const DEFAULT_LOAD: LoadPolicy = { max: 0.75, target: 0.6, min: 0.5 }

/** What {@link SubjectIndex.parts} returns (structured-cloneable). */
export interface IndexParts {
  slots: Uint32Array
  n: number
  bind: Uint32Array
  used: number
  fingerprints: Map<number, Uint8Array>
  load: LoadPolicy
  inBuildOrder: boolean
}

/** Bytes of typed arrays an index holds. */
export interface IndexMemory {
  /** The hash table (subjects → bindings). */
  index: number
  /** The binding payload, including free headroom and garbage. */
  payload: number
  /** Key fingerprints (32 bytes each, in a side map). */
  fingerprints: number
}

/** The read-only face of the index, for code that must not mutate it. */
export interface ReadonlyIndex {
  readonly size: number
  readonly bindingCount: number
  find(subject: number): number
  findMany(subjects: Float64Array, out: Int32Array): void
  prefetch(subjects: Float64Array, count: number): void
  has(subject: number): boolean
  get(subject: number): Binding[] | undefined
  subjectAt(slot: number): number
  count(slot: number): number
  first(slot: number): number
  app(pos: number): number
  ttlDays(pos: number): number
  verifiedAt(pos: number): number
  expiresAt(pos: number): number
  logIndex(pos: number): number
  keyFingerprint(pos: number): Uint8Array | undefined
  bindingsAt(slot: number): Binding[]
  copyEncoded(slot: number, out: Uint32Array, at: number): number
  forEach(fn: (subject: number, slot: number) => void): void
  sortedSubjects(): Float64Array
  records(): Generator<SubjectRecord>
  memoryBytes(): IndexMemory
  payloadInBuildOrder(): Uint32Array | null
}

/** murmur3's 32-bit finalizer over both halves of the subject. */
function mix(lo: number, hi: number): number {
  let h = Math.imul(lo ^ Math.imul(hi, 0x27d4eb2f), 0x9e3779b1)
  h ^= h >>> 16
  h = Math.imul(h, 0x85ebca6b)
  h ^= h >>> 13
  h = Math.imul(h, 0xc2b2ae35)
  h ^= h >>> 16
  return h >>> 0
}

/** The home slot of (lo, hi) in a table of `capacity` slots. */
function home(lo: number, hi: number, capacity: number): number {
  return Math.floor((mix(lo, hi) * capacity) / TWO32)
}

/** Decodes the binding at `ordinal` of `words` (the payload layout), with its key fingerprint if given. */
export function decodeBinding(words: Uint32Array, ordinal: number, key?: Uint8Array): Binding {
  const j = ordinal * BINDING_WORDS
  const w0 = words[j]!
  const b: Binding = { app: w0 & 0xffff, index: words[j + 2]! + (words[j + 3]! & 0xff) * TWO32, verifiedAt: words[j + 1]!, ttlDays: w0 >>> 16 }
  if (key) b.keyFingerprint = key.slice()
  return b
}

/** Throws `StoreError('invalid')` unless 0 < min < target < max < 1. */
function checkLoad(load: LoadPolicy): LoadPolicy {
  if (!(load.min > 0 && load.min < load.target && load.target < load.max && load.max < 1)) {
    throw new StoreError('invalid', 'load policy needs 0 < min < target < max < 1')
  }
  return load
}

/** The table capacity for `n` records at load factor `load`. */
function capacityFor(n: number, load: number): number {
  return Math.max(MIN_CAPACITY, Math.ceil(n / load))
}

/** A subject → bindings index over typed arrays. Build one with `IndexBuilder` or `SubjectIndex.empty()`. */
export class SubjectIndex implements ReadonlyIndex {
  private slots: Uint32Array
  private capacity: number
  private n: number
  private bind: Uint32Array
  /** Binding positions in use (the payload's high-water mark). */
  private used: number
  /** Positions below `used` that no record points to. */
  private dead = 0
  /**
   * @internal True from `IndexBuilder.finish` (which sets it) until the first change: the
   * payload then holds the records' bindings in subject order, from position 0.
   */
  inBuildOrder = false
  private readonly fingerprints: Map<number, Uint8Array>
  private readonly load: LoadPolicy

  /** @internal Use `IndexBuilder` or `SubjectIndex.empty()`. */
  constructor(
    slots: Uint32Array,
    n: number,
    bind: Uint32Array,
    used: number,
    fingerprints: Map<number, Uint8Array>,
    load: LoadPolicy,
  ) {
    this.slots = slots
    this.capacity = slots.length / SLOT_WORDS
    this.n = n
    this.bind = bind
    this.used = used
    this.fingerprints = fingerprints
    this.load = checkLoad(load)
  }

  /** @internal The index's arrays, to move it to another thread (transfer the two buffers); the index must not be used after. */
  parts(): IndexParts {
    return { slots: this.slots, n: this.n, bind: this.bind, used: this.used, fingerprints: this.fingerprints, load: this.load, inBuildOrder: this.inBuildOrder }
  }

  /** @internal An index from {@link parts} taken in another thread. */
  static fromParts(p: IndexParts): SubjectIndex {
    const index = new SubjectIndex(p.slots, p.n, p.bind, p.used, p.fingerprints, p.load)
    index.inBuildOrder = p.inBuildOrder
    return index
  }

  /** An empty index. */
  static empty(load: LoadPolicy = DEFAULT_LOAD): SubjectIndex {
    return new SubjectIndex(new Uint32Array(MIN_CAPACITY * SLOT_WORDS), 0, new Uint32Array(64 * BINDING_WORDS), 0, new Map(), load)
  }

  /** Takes over `other`'s contents (which must not be used afterwards); keeps this object's identity. */
  adopt(other: SubjectIndex): void {
    this.inBuildOrder = other.inBuildOrder
    other.inBuildOrder = false
    this.slots = other.slots
    this.capacity = other.capacity
    this.n = other.n
    this.bind = other.bind
    this.used = other.used
    this.dead = other.dead
    this.fingerprints.clear()
    for (const [p, key] of other.fingerprints) this.fingerprints.set(p, key)
    other.slots = new Uint32Array(MIN_CAPACITY * SLOT_WORDS)
    other.capacity = MIN_CAPACITY
    other.n = 0
    other.bind = new Uint32Array(0)
    other.used = 0
    other.dead = 0
    other.fingerprints.clear()
  }

  /** Number of subjects. */
  get size(): number {
    return this.n
  }

  /** Number of live bindings. */
  get bindingCount(): number {
    return this.used - this.dead
  }

  /** The slot holding `subject`, or -1. Allocation-free. */
  find(subject: number): number {
    const lo = subject >>> 0
    const hi = (subject - lo) / TWO32
    const s = this.slots
    const cap = this.capacity
    let i = home(lo, hi, cap)
    for (;;) {
      const j = i * SLOT_WORDS
      const w = s[j + 1]!
      if (w === 0) return -1
      if (s[j] === lo && (w & HI_MASK) === hi) return i
      if (++i === cap) i = 0
    }
  }

  /**
   * `out[k] = find(subjects[k])` for every k (out must be at least as long). Faster than a loop
   * of `find` on a large table: it touches every home slot before probing, so the cache misses
   * overlap.
   */
  findMany(subjects: Float64Array, out: Int32Array): void {
    const s = this.slots
    const cap = this.capacity
    const total = subjects.length
    let touch = 0
    for (let from = 0; from < total; from += 32) {
      const to = Math.min(total, from + 32)
      for (let k = from; k < to; k++) {
        const x = subjects[k]!
        const lo = x >>> 0
        const i = home(lo, (x - lo) / TWO32, cap)
        out[k] = i
        touch ^= s[i * SLOT_WORDS + 1]!
      }
      for (let k = from; k < to; k++) {
        const x = subjects[k]!
        const lo = x >>> 0
        const hi = (x - lo) / TWO32
        let i = out[k]!
        for (;;) {
          const j = i * SLOT_WORDS
          const w = s[j + 1]!
          if (w === 0) {
            i = -1
            break
          }
          if (s[j] === lo && (w & HI_MASK) === hi) break
          if (++i === cap) i = 0
        }
        out[k] = i
      }
    }
    if (touch === 0.5) throw new Error('unreachable') // keeps the touching loads alive
  }

  /**
   * Loads the home slots of `subjects[0 .. count)` and the first binding of each one held, so
   * that the finds and reads that follow hit the cache: a large table's misses then overlap
   * instead of coming one after the other (a replay folds, and commits, numbers in log order,
   * which is random order in the table).
   */
  prefetch(subjects: Float64Array, count: number): void {
    const s = this.slots
    const cap = this.capacity
    let touch = 0
    for (let k = 0; k < count; k++) {
      const x = subjects[k]!
      const lo = x >>> 0
      const i = home(lo, (x - lo) / TWO32, cap) * SLOT_WORDS
      if (s[i] === lo) touch ^= this.bind[s[i + 2]! * BINDING_WORDS]!
      else touch ^= s[i + 1]!
    }
    if (touch === 0.5) throw new Error('unreachable') // keeps the touching loads alive
  }

  /** True when `subject` has bindings. */
  has(subject: number): boolean {
    return this.find(subject) >= 0
  }

  /** The subject in an occupied `slot`. */
  subjectAt(slot: number): number {
    const j = slot * SLOT_WORDS
    return this.slots[j]! + (this.slots[j + 1]! & HI_MASK) * TWO32
  }

  /** Number of bindings of the record in `slot`. */
  count(slot: number): number {
    return this.slots[slot * SLOT_WORDS + 1]! >>> COUNT_SHIFT
  }

  /** Payload position of the first binding of the record in `slot`; the others follow it. */
  first(slot: number): number {
    return this.slots[slot * SLOT_WORDS + 2]!
  }

  /** App num of the binding at payload position `pos`. */
  app(pos: number): number {
    return this.bind[pos * BINDING_WORDS]! & 0xffff
  }

  /** ttlDays of the binding at `pos`. */
  ttlDays(pos: number): number {
    return this.bind[pos * BINDING_WORDS]! >>> 16
  }

  /** verifiedAt of the binding at `pos`. */
  verifiedAt(pos: number): number {
    return this.bind[pos * BINDING_WORDS + 1]!
  }

  /** verifiedAt + ttlDays × 86400 of the binding at `pos`. */
  expiresAt(pos: number): number {
    const j = pos * BINDING_WORDS
    return this.bind[j + 1]! + (this.bind[j]! >>> 16) * DAY
  }

  /** Log index of the binding at `pos`. */
  logIndex(pos: number): number {
    const j = pos * BINDING_WORDS
    return this.bind[j + 2]! + (this.bind[j + 3]! & 0xff) * TWO32
  }

  /**
   * The binding payload while it is still in the order the index was built in (records in
   * subject order, their bindings from position 0 on, as `IndexBuilder.finish` leaves it), else
   * null: lets a fresh index be written out sequentially, without a lookup per record. A view,
   * valid until the next change.
   */
  payloadInBuildOrder(): Uint32Array | null {
    return this.inBuildOrder ? this.bind.subarray(0, this.used * BINDING_WORDS) : null
  }

  /** Key fingerprint of the binding at `pos` (a copy), if it has one. */
  keyFingerprint(pos: number): Uint8Array | undefined {
    if (((this.bind[pos * BINDING_WORDS + 3]! >>> 8) & FLAG_KEY) === 0) return undefined
    return this.fingerprints.get(pos)?.slice()
  }

  /**
   * Copies the encoded bindings of the record in `slot` (BINDING_WORDS words each) into `out` at
   * binding ordinal `at`; returns the count. For writing base files.
   */
  copyEncoded(slot: number, out: Uint32Array, at: number): number {
    const count = this.count(slot)
    const from = this.first(slot) * BINDING_WORDS
    const to = at * BINDING_WORDS
    const bind = this.bind
    for (let k = 0; k < count * BINDING_WORDS; k++) out[to + k] = bind[from + k]!
    return count
  }

  /** The bindings of the record in `slot`, as fresh objects. */
  bindingsAt(slot: number): Binding[] {
    const first = this.first(slot)
    const end = first + this.count(slot)
    const out: Binding[] = []
    for (let p = first; p < end; p++) out.push(decodeBinding(this.bind, p, this.fingerprints.get(p)))
    return out
  }

  /** The bindings of `subject` as fresh objects, or undefined. */
  get(subject: number): Binding[] | undefined {
    const slot = this.find(subject)
    return slot < 0 ? undefined : this.bindingsAt(slot)
  }

  /**
   * Calls `fn(subject, slot)` for every record in ascending subject order. Sorts a copy of the
   * keys (8 bytes per record, freed after); `fn` must not mutate the index.
   */
  forEach(fn: (subject: number, slot: number) => void): void {
    const keys = this.sortedSubjects()
    for (let i = 0; i < keys.length; i++) {
      const subject = keys[i]!
      fn(subject, this.find(subject))
    }
  }

  /** Every record in ascending subject order, as fresh objects. */
  *records(): Generator<SubjectRecord> {
    const keys = this.sortedSubjects()
    for (let i = 0; i < keys.length; i++) {
      const subject = keys[i]!
      yield { subject, bindings: this.bindingsAt(this.find(subject)) }
    }
  }

  /** Every subject, ascending (a fresh array). */
  sortedSubjects(): Float64Array {
    const keys = new Float64Array(this.n)
    const s = this.slots
    let k = 0
    for (let j = 0; j < s.length; j += SLOT_WORDS) {
      const w = s[j + 1]!
      if (w !== 0) keys[k++] = s[j]! + (w & HI_MASK) * TWO32
    }
    return sortSubjects(keys)
  }

  /** Exact bytes of the typed arrays held (fingerprints counted at 32 bytes each). */
  memoryBytes(): IndexMemory {
    return { index: this.slots.byteLength, payload: this.bind.byteLength, fingerprints: this.fingerprints.size * 32 }
  }

  /**
   * Applies replacements in order (an empty `bindings` deletes the subject). All changes are
   * validated first: on `StoreError('invalid')` nothing was applied.
   */
  apply(changes: readonly SubjectChange[]): void {
    this.inBuildOrder = false
    for (const c of changes) {
      checkSubject(c.subject)
      checkBindings(c.bindings)
    }
    for (const c of changes) {
      if (c.bindings.length === 0) this.remove(c.subject)
      else this.put(c.subject, c.bindings)
    }
    if (this.dead > 1024 && this.dead * 2 > this.used) this.compactPayload()
  }

  /**
   * @internal For the store, which validates a whole batch first: replaces `subject`'s bindings
   * by the `count` encoded at binding ordinal `at` of `words` (`keys` maps ordinals of `words`
   * to the fingerprints of flagged bindings), or deletes it when `count` is 0. Call
   * {@link endApply} after the batch.
   */
  putEncoded(subject: number, count: number, words: Uint32Array, at: number, keys?: ReadonlyMap<number, Uint8Array>): void {
    this.inBuildOrder = false
    if (count === 0) return this.remove(subject)
    const pos = this.slotFor(subject, count)
    const bind = this.bind
    const from = at * BINDING_WORDS
    const to = pos * BINDING_WORDS
    for (let k = 0; k < count * BINDING_WORDS; k++) bind[to + k] = words[from + k]!
    if (keys && keys.size > 0) {
      for (let k = 0; k < count; k++) {
        const key = keys.get(at + k)
        if (key) this.fingerprints.set(pos + k, key.slice())
      }
    }
  }

  /** @internal Ends a batch of {@link putEncoded} calls (reclaims payload garbage). */
  endApply(): void {
    if (this.dead > 1024 && this.dead * 2 > this.used) this.compactPayload()
  }

  private put(subject: number, bindings: readonly Binding[]): void {
    const pos = this.slotFor(subject, bindings.length)
    for (let k = 0; k < bindings.length; k++) this.writeBinding(pos + k, bindings[k]!)
  }

  /** Points `subject`'s slot (created if absent) at room for `count` bindings; returns its payload position. */
  private slotFor(subject: number, count: number): number {
    let slot = this.find(subject)
    let pos: number
    if (slot >= 0) {
      const old = this.count(slot)
      const oldFirst = this.first(slot)
      this.dropFingerprints(oldFirst, old)
      if (count <= old) {
        pos = oldFirst
        this.dead += old - count
      } else {
        pos = this.allocate(count)
        this.dead += old
      }
    } else {
      if (this.n + 1 > this.capacity * this.load.max) this.rehash(capacityFor(this.n + 1, this.load.target))
      pos = this.allocate(count)
      slot = this.emptySlotFor(subject)
      const lo = subject >>> 0
      this.slots[slot * SLOT_WORDS] = lo
      this.n++
    }
    const lo = subject >>> 0
    const hi = (subject - lo) / TWO32
    this.slots[slot * SLOT_WORDS + 1] = hi + count * 2 ** COUNT_SHIFT
    this.slots[slot * SLOT_WORDS + 2] = pos
    return pos
  }

  private remove(subject: number): void {
    const slot = this.find(subject)
    if (slot < 0) return
    const count = this.count(slot)
    this.dropFingerprints(this.first(slot), count)
    this.dead += count
    this.deleteSlot(slot)
    this.n--
    if (this.capacity > MIN_CAPACITY && this.n < this.capacity * this.load.min) {
      const next = capacityFor(this.n, this.load.target)
      if (next < this.capacity) this.rehash(next)
    }
  }

  /** Backward-shift deletion: moves later members of the cluster into the hole. */
  private deleteSlot(hole: number): void {
    const s = this.slots
    const cap = this.capacity
    let i = hole
    let j = hole
    for (;;) {
      if (++j === cap) j = 0
      const w = s[j * SLOT_WORDS + 1]!
      if (w === 0) break
      const h = home(s[j * SLOT_WORDS]!, w & HI_MASK, cap)
      // Slot j may move to i only if its home is not cyclically within (i, j].
      const stays = i <= j ? i < h && h <= j : i < h || h <= j
      if (stays) continue
      s.copyWithin(i * SLOT_WORDS, j * SLOT_WORDS, j * SLOT_WORDS + SLOT_WORDS)
      i = j
    }
    s.fill(0, i * SLOT_WORDS, i * SLOT_WORDS + SLOT_WORDS)
  }

  /** The empty slot where `subject` (absent) goes. */
  private emptySlotFor(subject: number): number {
    const lo = subject >>> 0
    const s = this.slots
    const cap = this.capacity
    let i = home(lo, (subject - lo) / TWO32, cap)
    while (s[i * SLOT_WORDS + 1] !== 0) if (++i === cap) i = 0
    return i
  }

  private rehash(capacity: number): void {
    const old = this.slots
    const s = new Uint32Array(capacity * SLOT_WORDS)
    for (let j = 0; j < old.length; j += SLOT_WORDS) {
      const w = old[j + 1]!
      if (w === 0) continue
      const lo = old[j]!
      let i = home(lo, w & HI_MASK, capacity)
      while (s[i * SLOT_WORDS + 1] !== 0) if (++i === capacity) i = 0
      s[i * SLOT_WORDS] = lo
      s[i * SLOT_WORDS + 1] = w
      s[i * SLOT_WORDS + 2] = old[j + 2]!
    }
    this.slots = s
    this.capacity = capacity
  }

  /** Reserves `count` binding positions at the end of the payload, growing it by 1.5×. */
  private allocate(count: number): number {
    const need = (this.used + count) * BINDING_WORDS
    if (need > this.bind.length) {
      const next = new Uint32Array(Math.max(need, Math.ceil((this.bind.length * 1.5) / BINDING_WORDS) * BINDING_WORDS))
      next.set(this.bind.subarray(0, this.used * BINDING_WORDS))
      this.bind = next
    }
    const pos = this.used
    this.used += count
    return pos
  }

  private writeBinding(pos: number, b: Binding): void {
    const j = pos * BINDING_WORDS
    const bind = this.bind
    bind[j] = b.app + b.ttlDays * 65536
    bind[j + 1] = b.verifiedAt
    bind[j + 2] = b.index >>> 0
    const key = b.keyFingerprint
    bind[j + 3] = Math.floor(b.index / TWO32) + (key ? FLAG_KEY << 8 : 0)
    if (key) this.fingerprints.set(pos, key.slice())
  }

  private dropFingerprints(first: number, count: number): void {
    if (this.fingerprints.size === 0) return
    for (let p = first; p < first + count; p++) this.fingerprints.delete(p)
  }

  /** Copies live bindings into a right-sized payload (slot order) and repoints the slots. */
  private compactPayload(): void {
    const live = this.used - this.dead
    const next = new Uint32Array(Math.max(64, Math.ceil(live * 1.125)) * BINDING_WORDS)
    const moved = new Map<number, Uint8Array>()
    const s = this.slots
    let pos = 0
    for (let j = 0; j < s.length; j += SLOT_WORDS) {
      const w = s[j + 1]!
      if (w === 0) continue
      const count = w >>> COUNT_SHIFT
      const from = s[j + 2]!
      next.set(this.bind.subarray(from * BINDING_WORDS, (from + count) * BINDING_WORDS), pos * BINDING_WORDS)
      if (this.fingerprints.size > 0) {
        for (let k = 0; k < count; k++) {
          const key = this.fingerprints.get(from + k)
          if (key) moved.set(pos + k, key)
        }
      }
      s[j + 2] = pos
      pos += count
    }
    this.bind = next
    this.used = pos
    this.dead = 0
    this.fingerprints.clear()
    for (const [p, key] of moved) this.fingerprints.set(p, key)
  }
}

/**
 * Builds an index from records in strictly ascending subject order, without a JS object per
 * record: `add` copies each record into growable typed arrays; `finish` builds the table.
 */
export class IndexBuilder {
  private keys: Float64Array
  private counts: Uint16Array
  private bind: Uint32Array
  private n = 0
  private used = 0
  private last = 0
  private readonly fingerprints = new Map<number, Uint8Array>()

  /** Sizes are hints (exact sizes avoid copying). */
  constructor(records = 1024, bindings = records * 2) {
    this.keys = new Float64Array(Math.max(16, records))
    this.counts = new Uint16Array(Math.max(16, records))
    this.bind = new Uint32Array(Math.max(16, bindings) * BINDING_WORDS)
  }

  /** Number of records added. */
  get size(): number {
    return this.n
  }

  /** Adds a record (validated; subjects must be strictly ascending; bindings nonempty). */
  add(record: SubjectRecord): void {
    checkSubject(record.subject)
    checkBindings(record.bindings)
    if (record.bindings.length === 0) throw new StoreError('invalid', `record ${this.n} has no bindings`)
    this.begin(record.subject, record.bindings.length)
    for (const b of record.bindings) {
      const j = this.used * BINDING_WORDS
      this.bind[j] = b.app + b.ttlDays * 65536
      this.bind[j + 1] = b.verifiedAt
      this.bind[j + 2] = b.index >>> 0
      this.bind[j + 3] = Math.floor(b.index / TWO32) + (b.keyFingerprint ? FLAG_KEY << 8 : 0)
      if (b.keyFingerprint) this.fingerprints.set(this.used, b.keyFingerprint.slice())
      this.used++
    }
  }

  /**
   * Adds a record whose `count` bindings are already encoded (BINDING_WORDS words each) at binding
   * ordinal `at` of `words`; `fingerprints` maps ordinals of `words` to key fingerprints. Checks
   * what `add` checks (subject order and range, app order) plus the fingerprint flags.
   */
  addEncoded(subject: number, count: number, words: Uint32Array, at: number, fingerprints?: ReadonlyMap<number, Uint8Array>): void {
    checkSubject(subject)
    if (count < 1) throw new StoreError('invalid', `record ${this.n} has no bindings`)
    if ((at + count) * BINDING_WORDS > words.length) throw new StoreError('invalid', `record ${this.n}: bindings out of range`)
    this.begin(subject, count)
    const bind = this.bind
    let previous = -1
    for (let k = 0; k < count; k++) {
      const from = (at + k) * BINDING_WORDS
      const to = this.used * BINDING_WORDS
      const w0 = words[from]!
      const w3 = words[from + 3]!
      const app = w0 & 0xffff
      if (app <= previous) throw new StoreError('invalid', `record ${this.n - 1}: binding apps not ascending`)
      previous = app
      if (w3 >>> 8 > FLAG_KEY) throw new StoreError('invalid', `record ${this.n - 1}: unknown binding flags`)
      const key = fingerprints?.get(at + k)
      if ((w3 >>> 8 === FLAG_KEY) !== (key !== undefined)) throw new StoreError('invalid', `record ${this.n - 1}: key fingerprint flag mismatch`)
      if (key) this.fingerprints.set(this.used, key)
      bind[to] = w0
      bind[to + 1] = words[from + 1]!
      bind[to + 2] = words[from + 2]!
      bind[to + 3] = w3
      this.used++
    }
  }

  /**
   * Adds a record whose `count` bindings are given column by column, at position `at` of each
   * column (a decoded snapshot's layout); `keys` maps positions to key fingerprints. Checks
   * what `add` checks.
   */
  addColumns(
    subject: number,
    count: number,
    at: number,
    app: ArrayLike<number>,
    ttlDays: ArrayLike<number>,
    verifiedAt: ArrayLike<number>,
    index: ArrayLike<number>,
    keys?: ReadonlyMap<number, Uint8Array>,
  ): void {
    checkSubject(subject)
    if (count < 1) throw new StoreError('invalid', `record ${this.n} has no bindings`)
    if (count > MAX_BINDINGS) throw new StoreError('invalid', `more than ${MAX_BINDINGS} bindings`)
    this.begin(subject, count)
    const bind = this.bind
    let previous = -1
    for (let k = 0; k < count; k++) {
      const p = at + k
      const a = app[p]!
      const i = index[p]!
      const v = verifiedAt[p]!
      const t = ttlDays[p]!
      if (!isUint(a, 0xffff) || a <= previous) throw new StoreError('invalid', `binding apps must be u16, strictly ascending (got ${a})`)
      previous = a
      if (!isUint(i, MAX_LOG_INDEX)) throw new StoreError('invalid', `binding index out of range: ${i}`)
      if (!isUint(v, 0xffffffff)) throw new StoreError('invalid', `verifiedAt out of range: ${v}`)
      if (!isUint(t, 0xffff)) throw new StoreError('invalid', `ttlDays out of range: ${t}`)
      const key = keys?.get(p)
      if (key !== undefined && (!(key instanceof Uint8Array) || key.length !== 32)) throw new StoreError('invalid', 'key fingerprints must be 32 bytes')
      const j = this.used * BINDING_WORDS
      bind[j] = a + t * 65536
      bind[j + 1] = v
      bind[j + 2] = i >>> 0
      bind[j + 3] = Math.floor(i / TWO32) + (key ? FLAG_KEY << 8 : 0)
      if (key) this.fingerprints.set(this.used, key.slice())
      this.used++
    }
  }

  private begin(subject: number, count: number): void {
    if (subject <= this.last) throw new StoreError('invalid', `records must be strictly ascending by subject (record ${this.n} is not)`)
    this.last = subject
    if (this.n === this.keys.length) {
      const size = Math.ceil(this.keys.length * 1.5)
      const keys = new Float64Array(size)
      keys.set(this.keys)
      this.keys = keys
      const counts = new Uint16Array(size)
      counts.set(this.counts)
      this.counts = counts
    }
    const need = (this.used + count) * BINDING_WORDS
    if (need > this.bind.length) {
      const next = new Uint32Array(Math.max(need, Math.ceil((this.bind.length * 1.5) / BINDING_WORDS) * BINDING_WORDS))
      next.set(this.bind.subarray(0, this.used * BINDING_WORDS))
      this.bind = next
    }
    this.keys[this.n] = subject
    this.counts[this.n] = count
    this.n++
  }

  /** Builds the index (at the policy's target load; payload with 1/16 headroom). The builder is spent. */
  finish(load: LoadPolicy = DEFAULT_LOAD): SubjectIndex {
    checkLoad(load)
    const n = this.n
    const capacity = capacityFor(n, load.target)
    const s = new Uint32Array(capacity * SLOT_WORDS)
    const keys = this.keys
    const counts = this.counts
    let pos = 0
    // In groups of 32: compute and touch the home slots first so their cache misses overlap.
    const homes = new Int32Array(32)
    let touch = 0
    for (let from = 0; from < n; from += 32) {
      const to = Math.min(n, from + 32)
      for (let r = from; r < to; r++) {
        const subject = keys[r]!
        const lo = subject >>> 0
        const i = home(lo, (subject - lo) / TWO32, capacity)
        homes[r - from] = i
        touch ^= s[i * SLOT_WORDS + 1]!
      }
      for (let r = from; r < to; r++) {
        const subject = keys[r]!
        const lo = subject >>> 0
        const hi = (subject - lo) / TWO32
        let i = homes[r - from]!
        while (s[i * SLOT_WORDS + 1] !== 0) if (++i === capacity) i = 0
        const count = counts[r]!
        s[i * SLOT_WORDS] = lo
        s[i * SLOT_WORDS + 1] = hi + count * 2 ** COUNT_SHIFT
        s[i * SLOT_WORDS + 2] = pos
        pos += count
      }
    }
    if (touch === 0.5) throw new Error('unreachable') // keeps the touching loads alive
    const want = Math.max(64, this.used + (this.used >>> 4)) * BINDING_WORDS
    let bind = this.bind
    if (bind.length < want || bind.length > want * 1.5) {
      bind = new Uint32Array(want)
      bind.set(this.bind.subarray(0, this.used * BINDING_WORDS))
    }
    this.keys = new Float64Array(0)
    this.counts = new Uint16Array(0)
    this.bind = new Uint32Array(0)
    const index = new SubjectIndex(s, n, bind, this.used, this.fingerprints, load)
    index.inBuildOrder = true
    return index
  }
}
