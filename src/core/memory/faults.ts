/**
 * Failures that tests inject into the in-memory backends: a rule names a port, an operation
 * and optionally a key, and the matching calls throw {@link InjectedFault} (a number of times,
 * after a number of matching calls).
 * @module
 */

/**
 * What a rule matches: a port (`objects`, `log`, `shard`, `projection`, `tokens`, `sequencer`...)
 * or `*` for every port, an operation, a key. `{ port: '*', after: k }` fails every call from the
 * k-th (from 0) on, a crash; with `times: 1`, only the k-th.
 */
export interface FaultRule {
  port: string
  op?: string
  key?: string | RegExp
  /** Matching calls to let through first. */
  after?: number
  /** How many matching calls fail (default: every one). */
  times?: number
}

/** The error an injected failure throws. */
export class InjectedFault extends Error {
  override readonly name = 'InjectedFault'
}

/** A set of rules, shared by the backends of one test. */
export class Faults {
  #rules: (FaultRule & { seen: number; failed: number })[] = []
  /** Every call checked, in order (`port.op key`), for tests that enumerate the steps of an operation. */
  readonly calls: string[] = []
  recording = false

  /** Adds a rule; returns a function that removes it. */
  inject(rule: FaultRule): () => void {
    const r = { ...rule, seen: 0, failed: 0 }
    this.#rules.push(r)
    return () => {
      this.#rules = this.#rules.filter((x) => x !== r)
    }
  }

  /** Removes every rule. */
  clear(): void {
    this.#rules = []
  }

  /** Throws when a rule matches this call. */
  check(port: string, op: string, key = ''): void {
    if (this.recording) this.calls.push(`${port}.${op} ${key}`.trim())
    for (const r of this.#rules) {
      if ((r.port !== '*' && r.port !== port) || (r.op !== undefined && r.op !== op)) continue
      if (r.key !== undefined && !(typeof r.key === 'string' ? key === r.key : r.key.test(key))) continue
      r.seen++
      if (r.seen <= (r.after ?? 0)) continue
      if (r.times !== undefined && r.failed >= r.times) continue
      r.failed++
      throw new InjectedFault(`injected failure: ${port}.${op}${key ? ` ${key}` : ''}`)
    }
  }
}
