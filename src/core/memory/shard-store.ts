/**
 * A {@link ShardStore} in memory: versioned bindings, histories, verifications, projection
 * marks and the intent. Transactions undo on a throw (an injected failure included, port
 * `shard`), as SQLite would.
 * @module
 */
import { decodeEntry, type Subject } from '../../protocol/entry.ts'
import { expiresAt } from '../../protocol/state.ts'
import type { HistoryItem, Intent, ShardStore, StoredBinding, SubjectRecord } from '../ports.ts'
import { Faults } from './faults.ts'

// One version of a binding: valid from its index until `ended` (the entry that replaced or removed it).
interface Version {
  subject: Subject
  binding: StoredBinding
  ended: number | null
  pruned: boolean
}

/** See the module comment. */
export class MemoryShardStore implements ShardStore {
  readonly #current = new Map<Subject, Version[]>()
  readonly #ended = new Map<Subject, Version[]>()
  // Every version, in index order (a shard commits its entries in index order).
  #byIndex: Version[] = []
  #prunedCount = 0
  readonly #subjects = new Set<Subject>()
  #sorted: Float64Array | null = null
  readonly #history = new Map<Subject, HistoryItem[]>()
  readonly #verifications = new Map<string, { index: number; at: number }>()
  readonly #pending = new Map<Subject, number>()
  #intent: Intent | null = null
  readonly #meta = new Map<string, string>()
  #bindings = 0
  #undo: (() => void)[] | null = null

  constructor(
    readonly faults = new Faults(),
    readonly name = 'shard',
  ) {}

  transaction<T>(fn: () => T): T {
    if (this.#undo) return fn()
    this.faults.check(this.name, 'transaction')
    this.#undo = []
    try {
      const result = fn()
      this.faults.check(this.name, 'commit')
      this.#undo = null
      return result
    } catch (err) {
      const undo = this.#undo ?? []
      this.#undo = null
      for (let i = undo.length - 1; i >= 0; i--) undo[i]!()
      throw err
    }
  }

  #write(undo: () => void, write: () => void): void {
    this.#undo?.push(undo)
    write()
  }

  record(subject: Subject): StoredBinding[] {
    return (this.#current.get(subject) ?? []).map((v) => v.binding)
  }

  putBinding(subject: Subject, binding: StoredBinding): void {
    const last = this.#byIndex.at(-1)
    if (last && last.binding.index >= binding.index) throw new Error(`binding index ${binding.index} is not past ${last.binding.index}`)
    const versions = this.#current.get(subject) ?? []
    const old = versions.find((v) => v.binding.app === binding.app)
    const version: Version = { subject, binding: { ...binding }, ended: null, pruned: false }
    const next = versions.filter((v) => v !== old).concat(version).sort((a, b) => a.binding.app - b.binding.app)
    const isNew = !this.#subjects.has(subject)
    this.#write(
      () => {
        if (old) {
          old.ended = null
          this.#popEnded(subject, old)
        } else this.#bindings--
        if (versions.length > 0) this.#current.set(subject, versions)
        else this.#current.delete(subject)
        this.#byIndex.pop()
        if (isNew) {
          this.#subjects.delete(subject)
          this.#sorted = null
        }
      },
      () => {
        if (old) {
          old.ended = binding.index
          this.#pushEnded(subject, old)
        } else this.#bindings++
        this.#current.set(subject, next)
        this.#byIndex.push(version)
        if (isNew) {
          this.#subjects.add(subject)
          this.#sorted = null
        }
      },
    )
  }

  removeBinding(subject: Subject, app: number, index: number): void {
    const versions = this.#current.get(subject) ?? []
    const old = versions.find((v) => v.binding.app === app)
    if (!old) throw new Error(`no binding of ${subject} to app ${app}`)
    const next = versions.filter((v) => v !== old)
    this.#write(
      () => {
        old.ended = null
        this.#popEnded(subject, old)
        this.#current.set(subject, versions)
        this.#bindings++
      },
      () => {
        old.ended = index
        this.#pushEnded(subject, old)
        if (next.length > 0) this.#current.set(subject, next)
        else this.#current.delete(subject)
        this.#bindings--
      },
    )
  }

  #pushEnded(subject: Subject, v: Version): void {
    const list = this.#ended.get(subject)
    if (list) list.push(v)
    else this.#ended.set(subject, [v])
  }

  #popEnded(subject: Subject, v: Version): void {
    const list = this.#ended.get(subject)!
    list.splice(list.indexOf(v), 1)
    if (list.length === 0) this.#ended.delete(subject)
  }

  due(nowSeconds: number, limit: number): { subject: Subject; binding: StoredBinding }[] {
    const out: { subject: Subject; binding: StoredBinding }[] = []
    for (const [subject, versions] of this.#current) {
      for (const v of versions) if (expiresAt(v.binding) <= nowSeconds) out.push({ subject, binding: v.binding })
    }
    return out.sort((a, b) => expiresAt(a.binding) - expiresAt(b.binding) || a.subject - b.subject || a.binding.app - b.binding.app).slice(0, limit)
  }

  ofApp(app: number, limit: number): { subject: Subject; binding: StoredBinding }[] {
    const out: { subject: Subject; binding: StoredBinding }[] = []
    for (const [subject, versions] of this.#current) {
      for (const v of versions) if (v.binding.app === app && out.length < limit) out.push({ subject, binding: v.binding })
      if (out.length >= limit) break
    }
    return out
  }

  /** Sorts the subjects now, as a database index would be kept: reads after it allocate nothing the size of the store. */
  prepareOrder(): void {
    if (this.#sorted) return
    const sorted = new Float64Array(this.#subjects.size)
    let i = 0
    for (const s of this.#subjects) sorted[i++] = s
    this.#sorted = sorted.sort()
  }

  recordsAsOf(size: number, after: Subject | null, limit: number): SubjectRecord[] {
    this.faults.check(this.name, 'recordsAsOf')
    this.prepareOrder()
    const sorted = this.#sorted!
    let at = after === null ? 0 : upperBound(sorted, after)
    const out: SubjectRecord[] = []
    for (; at < sorted.length && out.length < limit; at++) {
      const subject = sorted[at]!
      const bindings: StoredBinding[] = []
      for (const v of this.#current.get(subject) ?? []) if (v.binding.index < size) bindings.push(v.binding)
      for (const v of this.#ended.get(subject) ?? []) if (v.binding.index < size && v.ended! >= size) bindings.push(v.binding)
      if (bindings.length === 0) continue
      bindings.sort((a, b) => a.app - b.app)
      out.push({ subject, bindings })
    }
    return out
  }

  bindingsByIndexAsOf(size: number, after: number, limit: number): StoredBinding[] {
    this.faults.check(this.name, 'bindingsByIndexAsOf')
    const all = this.#byIndex
    let lo = 0
    let hi = all.length
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      if (all[mid]!.binding.index <= after) lo = mid + 1
      else hi = mid
    }
    const out: StoredBinding[] = []
    for (let i = lo; i < all.length && out.length < limit; i++) {
      const v = all[i]!
      if (v.binding.index >= size) break
      if (!v.pruned && (v.ended === null || v.ended >= size)) out.push(v.binding)
    }
    return out
  }

  prune(before: number, limit: number): number {
    let dropped = 0
    for (const [subject, list] of this.#ended) {
      for (const v of list.filter((x) => x.ended! < before)) {
        if (dropped >= limit) break
        v.pruned = true
        list.splice(list.indexOf(v), 1)
        dropped++
        this.#prunedCount++
      }
      if (list.length === 0) this.#ended.delete(subject)
      if (dropped >= limit) break
    }
    if (this.#prunedCount > this.#byIndex.length / 2 && this.#undo === null) {
      this.#byIndex = this.#byIndex.filter((v) => !v.pruned)
      this.#prunedCount = 0
    }
    return dropped
  }

  counts(): { subjects: number; bindings: number } {
    return { subjects: this.#current.size, bindings: this.#bindings }
  }

  addHistory(subject: Subject, index: number, entry: Uint8Array): void {
    const item: HistoryItem = { index, entry: decodeEntry(entry) }
    const list = this.#history.get(subject)
    this.#write(
      () => (list ? list.pop() : this.#history.delete(subject)),
      () => (list ? list.push(item) : this.#history.set(subject, [item])),
    )
  }

  history(subject: Subject, limit: number): HistoryItem[] {
    return (this.#history.get(subject) ?? []).slice(-limit).reverse()
  }

  verification(id: string): number | null {
    return this.#verifications.get(id)?.index ?? null
  }

  putVerification(id: string, index: number, at: number): void {
    const before = this.#verifications.get(id)
    this.#write(
      () => (before ? this.#verifications.set(id, before) : this.#verifications.delete(id)),
      () => this.#verifications.set(id, { index, at }),
    )
  }

  pruneVerifications(before: number): void {
    for (const [id, v] of this.#verifications) if (v.at < before) this.#verifications.delete(id)
  }

  markPending(subject: Subject, index: number): void {
    const before = this.#pending.get(subject)
    this.#write(
      () => (before === undefined ? this.#pending.delete(subject) : this.#pending.set(subject, before)),
      () => {
        // Re-inserted so that iteration order stays index order.
        this.#pending.delete(subject)
        this.#pending.set(subject, index)
      },
    )
  }

  pending(size: number, limit: number): { subject: Subject; index: number }[] {
    const out: { subject: Subject; index: number }[] = []
    for (const [subject, index] of this.#pending) {
      if (out.length >= limit) break
      if (index < size) out.push({ subject, index })
    }
    return out.sort((a, b) => a.index - b.index)
  }

  clearPending(index: number): void {
    for (const [subject, i] of this.#pending) if (i <= index) this.#pending.delete(subject)
  }

  pendingCount(): number {
    return this.#pending.size
  }

  intent(): Intent | null {
    return this.#intent
  }

  setIntent(intent: Intent | null): void {
    this.faults.check(this.name, 'setIntent')
    const before = this.#intent
    this.#write(
      () => (this.#intent = before),
      () => (this.#intent = intent),
    )
  }

  meta(key: string): string | null {
    return this.#meta.get(key) ?? null
  }

  setMeta(key: string, value: string | null): void {
    const before = this.#meta.get(key)
    this.#write(
      () => (before === undefined ? this.#meta.delete(key) : this.#meta.set(key, before)),
      () => (value === null ? this.#meta.delete(key) : this.#meta.set(key, value)),
    )
  }
}

function upperBound(sorted: Float64Array, value: number): number {
  let lo = 0
  let hi = sorted.length
  while (lo < hi) {
    const mid = (lo + hi) >>> 1
    if (sorted[mid]! <= value) lo = mid + 1
    else hi = mid
  }
  return lo
}
