/**
 * A {@link LogStore} in memory. Transactions keep an undo list: a transaction that throws (an
 * injected failure included, port `log`) leaves every value as it was before it began, as
 * SQLite would. Restarting a sequencer over the same store is what a crash looks like.
 * @module
 */
import { EMPTY_ROOT } from '../../protocol/merkle.ts'
import { TreeMovedError, type AppRecord, type LogStore, type SourceRecord, type TreeState } from '../ports.ts'
import { emptyTree } from '../tree-round.ts'
import { Faults } from './faults.ts'

/** See the module comment. */
export class MemoryLogStore implements LogStore {
  #tree: TreeState = emptyTree(EMPTY_ROOT)
  #next = 0
  readonly #pool = new Map<number, Uint8Array>()
  readonly #apps = new Map<number, AppRecord>()
  readonly #sources = new Map<number, SourceRecord>()
  readonly #meta = new Map<string, string>()
  #undo: (() => void)[] | null = null

  constructor(readonly faults = new Faults()) {}

  transaction<T>(fn: () => T): T {
    if (this.#undo) return fn()
    this.faults.check('log', 'transaction')
    this.#undo = []
    try {
      const result = fn()
      this.faults.check('log', 'commit')
      this.#undo = null
      return result
    } catch (err) {
      const undo = this.#undo ?? []
      this.#undo = null
      for (let i = undo.length - 1; i >= 0; i--) undo[i]!()
      throw err
    }
  }

  // Runs a write, remembering how to undo it inside a transaction; a write outside one commits at once.
  #write(undo: () => void, write: () => void): void {
    this.#undo?.push(undo)
    write()
  }

  tree(): TreeState {
    return this.#tree
  }

  commitTree(expectedSize: number, next: TreeState): void {
    this.faults.check('log', 'commitTree')
    if (this.#tree.size !== expectedSize) throw new TreeMovedError(`the tree moved from ${expectedSize} to ${this.#tree.size} during a round`)
    const before = this.#tree
    const dropped = [...this.#pool].filter(([i]) => i < next.size)
    this.#write(
      () => {
        this.#tree = before
        for (const [i, e] of dropped) this.#pool.set(i, e)
      },
      () => {
        this.#tree = { ...next, note: null }
        for (const [i] of dropped) this.#pool.delete(i)
      },
    )
  }

  setNote(size: number, note: string): void {
    this.faults.check('log', 'setNote')
    if (this.#tree.size !== size) return
    const before = this.#tree
    this.#write(
      () => (this.#tree = before),
      () => (this.#tree = { ...before, note }),
    )
  }

  nextIndex(): number {
    return this.#next
  }

  pushPool(index: number, entry: Uint8Array): void {
    if (index !== this.#next) throw new Error(`pool index ${index} is not the next, ${this.#next}`)
    this.#write(
      () => {
        this.#pool.delete(index)
        this.#next = index
      },
      () => {
        this.#pool.set(index, entry.slice())
        this.#next = index + 1
      },
    )
  }

  pool(from: number, limit: number): { index: number; entry: Uint8Array }[] {
    const out: { index: number; entry: Uint8Array }[] = []
    for (let i = from; i < this.#next && out.length < limit; i++) {
      const entry = this.#pool.get(i)
      if (entry) out.push({ index: i, entry })
    }
    return out
  }

  apps(): AppRecord[] {
    return [...this.#apps.values()].map((a) => ({ ...a }))
  }

  putApp(app: AppRecord): void {
    const before = this.#apps.get(app.num)
    this.#write(
      () => (before ? this.#apps.set(app.num, before) : this.#apps.delete(app.num)),
      () => this.#apps.set(app.num, { ...app }),
    )
  }

  source(source: number): SourceRecord | null {
    return this.#sources.get(source) ?? null
  }

  putSource(source: number, record: SourceRecord): void {
    const before = this.#sources.get(source)
    this.#write(
      () => (before ? this.#sources.set(source, before) : this.#sources.delete(source)),
      () => this.#sources.set(source, record),
    )
  }

  meta(key: string): string | null {
    return this.#meta.get(key) ?? null
  }

  setMeta(key: string, value: string | null): void {
    this.faults.check('log', 'setMeta', key)
    const before = this.#meta.get(key)
    this.#write(
      () => (before === undefined ? this.#meta.delete(key) : this.#meta.set(key, before)),
      () => (value === null ? this.#meta.delete(key) : this.#meta.set(key, value)),
    )
  }
}
