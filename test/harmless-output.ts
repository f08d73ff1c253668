/**
 * What `npm test` keeps out of its output: lines the Workers runtime and the test pool print that
 * are known to be harmless, each matched exactly (a real error must still show). The pool writes
 * the runtime's logs straight to the test process's stdout and stderr, outside any test, so they
 * are filtered there ({@link installHarmlessOutputFilter}, from vitest.config.mts).
 * @module
 */

/** A harmless line, and whether it is harmless only right after a refused connection. */
interface Harmless {
  pattern: RegExp
  why: string
  afterRefused?: true
}

const REFUSED = /^exception = kj\/async-io-unix\.c\+\+:\d+: disconnected: connect\(\): Connection refused$/

/** The known harmless lines. */
export const HARMLESS_LINES: readonly Harmless[] = [
  {
    pattern: /^exception = workerd\/api\/web-socket\.c\+\+:\d+: disconnected: WebSocket peer disconnected$/,
    why: 'the pool closes the socket to a test file runner when the file is done',
  },
  {
    pattern: REFUSED,
    why: 'a test sends to a closed port (the SMS provider unreachable); the code under test handles it',
  },
  {
    pattern: /^uncaught exception; source = Uncaught \(in promise\); stack = Error: Network connection lost\.$/,
    why: "the runtime's own report of that same refused fetch, which the code caught",
    afterRefused: true,
  },
  {
    pattern: /^uncaught exception; exception = workerd\/jsg\/\S+: disconnected: jsg\.Error: Network connection lost\.$/,
    why: 'the same, from the C++ side',
    afterRefused: true,
  },
  {
    pattern: /^Using secrets defined in \.dev\.vars$/,
    why: "wrangler reads `npm start`'s .dev.vars; the Worker tests override its secrets (vitest.config.mts)",
  },
]

// The native stack of a runtime exception: addresses in the workerd binary only.
const NATIVE_STACK = /^stack: (?:\S*workerd@[0-9a-f]+ ?)+$/

/** Filter state of one stream: what the last line was. */
export interface FilterState {
  /** The last line was dropped (a native stack that follows it is dropped too). */
  dropped: boolean
  /** A refused connection was reported, and nothing but its follow-up lines since. */
  refused: boolean
}

/** `text` without its harmless lines (whole lines only: a trailing partial line is kept). */
export function dropHarmless(text: string, state: FilterState): string {
  const lines = text.split('\n')
  const kept: string[] = []
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!
    const complete = i < lines.length - 1
    const bare = line.replace(/\x1b\[[0-9;]*m/g, '')
    const harmless =
      complete &&
      ((state.dropped && NATIVE_STACK.test(bare)) || HARMLESS_LINES.some((h) => h.pattern.test(bare) && (!h.afterRefused || state.refused)))
    if (harmless) {
      state.dropped = true
      if (REFUSED.test(bare)) state.refused = true
      continue
    }
    if (complete || line !== '') {
      state.dropped = false
      state.refused = false
    }
    kept.push(line)
  }
  return kept.join('\n')
}

const INSTALLED = Symbol.for('whodis.harmless-output-filter')

/** Wraps process.stdout and process.stderr so that harmless lines are dropped (once per process). */
export function installHarmlessOutputFilter(): void {
  const marked = process as unknown as Record<symbol, boolean>
  if (marked[INSTALLED]) return
  marked[INSTALLED] = true
  for (const stream of [process.stdout, process.stderr]) {
    const write = stream.write.bind(stream) as (chunk: unknown, ...rest: unknown[]) => boolean
    const state: FilterState = { dropped: false, refused: false }
    stream.write = ((chunk: unknown, ...rest: unknown[]) => {
      if (typeof chunk !== 'string' && !(chunk instanceof Uint8Array)) return write(chunk, ...rest)
      const text = typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8')
      const kept = dropHarmless(text, state)
      if (kept === text) return write(chunk, ...rest)
      if (kept === '') {
        const callback = rest.find((r) => typeof r === 'function') as (() => void) | undefined
        callback?.()
        return true
      }
      return write(kept, ...rest.filter((r) => typeof r === 'function'))
    }) as typeof stream.write
  }
}
