/**
 * Folding log entries over the store without touching it: {@link FoldSession} runs the
 * directory's own {@link DirectoryState} over a {@link RecordTable} that reads the committed
 * state (the store, or a snapshot's index before it is stored) through an in-memory
 * overlay. The overlay becomes the store commit's change list; a refused entry simply drops it.
 *
 * App binding counts (which the fold needs only to check an `app-revoke`) are not kept by the
 * store; the session tracks them as deltas and counts them exactly, once, when a revoke arrives.
 * @module
 */
import { decodeEntry, EntryError, subjectOfEncoded, type LogEntry, type Subject } from '../../src/protocol/entry.ts'
import { DirectoryState, FoldError, type RecordTable, type StateApp, type StateBinding } from '../../src/protocol/state.ts'
import type { AppInfo, MirrorStore, ReadonlyIndex, SubjectChange } from './store/index.ts'

/** The committed records a session reads through. */
export interface BaseRecords {
  get(subject: Subject): readonly StateBinding[] | undefined
  /** Loads the records of `subjects[0 .. count)` ahead of their `get`s (optional: only a speed-up). */
  prefetch?(subjects: Float64Array, count: number): void
  readonly size: number
  /** Calls `fn` with every record's app nums (for exact binding counts). */
  forEachApps(fn: (subject: Subject, apps: number[]) => void): void
}

/** A store index (the committed state, or one being rebuilt) as a {@link BaseRecords}. */
export function indexBase(index: ReadonlyIndex): BaseRecords {
  return {
    get: (subject) => index.get(subject),
    prefetch: (subjects, count) => index.prefetch(subjects, count),
    get size() {
      return index.size
    },
    forEachApps(fn) {
      index.forEach((subject, slot) => {
        const first = index.first(slot)
        const apps: number[] = []
        for (let p = first; p < first + index.count(slot); p++) apps.push(index.app(p))
        fn(subject, apps)
      })
    },
  }
}

/** The store's committed state as a {@link BaseRecords}. */
export function storeBase(store: MirrorStore): BaseRecords {
  return indexBase(store.index)
}

/** A {@link RecordTable}: reads through to a base, writes to an overlay. */
export class OverlayTable implements RecordTable {
  readonly overlay = new Map<Subject, StateBinding[]>()
  #sizeDelta = 0

  constructor(public base: BaseRecords) {}

  get(subject: Subject): readonly StateBinding[] | undefined {
    const o = this.overlay.get(subject)
    if (o) return o.length > 0 ? o : undefined
    return this.base.get(subject)
  }

  set(subject: Subject, bindings: StateBinding[]): void {
    const had = (this.get(subject)?.length ?? 0) > 0
    this.overlay.set(subject, bindings)
    this.#sizeDelta += (bindings.length > 0 ? 1 : 0) - (had ? 1 : 0)
  }

  get size(): number {
    return this.base.size + this.#sizeDelta
  }

  /**
   * The overlay as store changes (empty bindings delete), then cleared; `base` should now hold
   * them. The binding arrays are handed over as they are: the fold never modifies a binding
   * array or object once it is in the table (each entry builds new ones).
   */
  take(nextBase: BaseRecords): SubjectChange[] {
    const changes: SubjectChange[] = []
    for (const [subject, bindings] of this.overlay) changes.push({ subject, bindings })
    this.overlay.clear()
    this.#sizeDelta = 0
    this.base = nextBase
    return changes
  }
}

/** Folds raw entries over committed state; see the module comment. */
export class FoldSession {
  readonly table: OverlayTable
  readonly state: DirectoryState
  #exactCounts = false
  #ahead: Float64Array | null = null

  /** A session at tree size `size` over `base`, with the committed app table `apps`. */
  constructor(base: BaseRecords, apps: readonly AppInfo[], size: number) {
    this.table = new OverlayTable(base)
    const appMap = new Map<number, StateApp>(apps.map((a) => [a.num, { num: a.num, id: a.id, revoked: a.revoked, bindings: 0 }]))
    this.state = new DirectoryState(this.table, appMap, size)
  }

  /** Loads the committed records the next entries (encoded) will read, so their misses overlap. */
  prefetch(entries: readonly Uint8Array[]): void {
    const base = this.table.base
    if (!base.prefetch) return
    const subjects = (this.#ahead ??= new Float64Array(64))
    let n = 0
    for (const e of entries) {
      const subject = subjectOfEncoded(e)
      if (subject !== 0 && n < subjects.length) subjects[n++] = subject
    }
    base.prefetch(subjects, n)
  }

  /** Log size after the entries applied so far. */
  get size(): number {
    return this.state.size
  }

  /**
   * Decodes and applies entry `index`. Throws {@link FoldError} when the entry does not decode
   * or breaks a rule; the session must then be discarded.
   */
  apply(bytes: Uint8Array, index: number): LogEntry {
    let entry: LogEntry
    try {
      entry = decodeEntry(bytes)
    } catch (err) {
      if (err instanceof EntryError) throw new FoldError(index, `undecodable entry: ${err.message}`)
      throw err
    }
    if (entry.kind === 'app-revoke' && !this.#exactCounts) this.#countBindings()
    this.state.apply(entry, index)
    return entry
  }

  /** The app table now. */
  apps(): AppInfo[] {
    return [...this.state.apps.values()].sort((a, b) => a.num - b.num).map((a) => ({ num: a.num, id: a.id, revoked: a.revoked }))
  }

  /** Hands the overlay over as store changes; `nextBase` must read the state they were committed to. */
  takeChanges(nextBase: BaseRecords): SubjectChange[] {
    return this.table.take(nextBase)
  }

  // Exact per-app binding counts of the current (base + overlay) state.
  #countBindings(): void {
    const counts = new Map<number, number>()
    const add = (apps: readonly number[]) => {
      for (const app of apps) counts.set(app, (counts.get(app) ?? 0) + 1)
    }
    const overlay = this.table.overlay
    this.table.base.forEachApps((subject, apps) => {
      if (!overlay.has(subject)) add(apps)
    })
    for (const bindings of overlay.values()) add(bindings.map((b) => b.app))
    for (const app of this.state.apps.values()) app.bindings = counts.get(app.num) ?? 0
    this.#exactCounts = true
  }
}
