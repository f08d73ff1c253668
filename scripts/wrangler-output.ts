/**
 * What `npm start` lets through of `wrangler dev`'s output: every line, but with phone numbers
 * redacted. wrangler logs each request as `GET /v1/numbers/+16505550011 404 Not Found (4ms)`, and
 * no raw number may reach a log, in whatever form a client wrote it in the URL (`+1650…`,
 * `%2B1650…`, `%252B1650…`, bare digits, with spaces, dots, dashes or parentheses).
 * @module
 */

/** What a redacted number reads as. */
export const REDACTED = '[number]'

// A phone number as written: 7 or more digits (the shortest full international numbers have 7),
// optionally after a `+`, with up to two separators between digits (`+` is a space in a query),
// not inside a word, an id or a key (`name+1234abcd+...`).
const DIGITS_RUN = /(?<![\p{L}\p{N}_+])\+?\p{Nd}(?:[\s.()+-]{0,2}\p{Nd}){6,}(?![\p{L}\p{N}_])/gu
// A `+` and 7 or more digits anywhere in a line (not inside a word or a key: `name+1234abcd+...`).
const PLUS_NUMBER = /(?<![\w+])\+\d(?:[ .()-]{0,2}\d){6,}(?!\w)/g
// A URL (its origin, then its path and query) or an absolute path, up to a space or a quote.
const URL_TOKEN = /(\b[a-z][a-z0-9+.-]*:\/\/[^\s/"'<>\x1b]*)(\/[^\s"'<>\x1b]*)?|(?<![\w:/.])(\/[^\s"'<>\x1b]*)/gi
// An encoded `+` and 7 or more digits (a number in a query or a path, possibly encoded twice).
const ENCODED_PLUS = /%(?:25)*2B(?:%(?:25)*20|[ .()-]){0,2}\d(?:(?:%(?:25)*20|[ .()-]){0,2}\d){6,}/gi

/** `line` with every phone number redacted: in URLs (after decoding them) and as `+` digits anywhere. */
export function redactNumbers(line: string): string {
  const urls = line.replace(URL_TOKEN, (token, origin: string | undefined, afterOrigin: string | undefined, bare: string | undefined) => {
    const path = afterOrigin ?? bare ?? ''
    const decoded = decodeRepeatedly(path)
    const redacted = decoded.replace(DIGITS_RUN, REDACTED)
    return redacted === decoded ? token : `${origin ?? ''}${redacted}`
  })
  return urls.replace(ENCODED_PLUS, REDACTED).replace(PLUS_NUMBER, REDACTED)
}

/** Percent-decodes `text` until it stops changing (a few rounds at most), leaving malformed escapes as they are. */
function decodeRepeatedly(text: string): string {
  let current = text
  for (let round = 0; round < 4; round++) {
    const next = current.replace(/(?:%[0-9a-f]{2})+/gi, (run) => {
      try {
        return decodeURIComponent(run)
      } catch {
        return run
      }
    })
    if (next === current) break
    current = next
  }
  return current
}

/**
 * Lines wrangler prints that say nothing a developer needs, each matched exactly. (miniflare's
 * offline `Request.cf` warning is switched off at its source: start.ts sets
 * CLOUDFLARE_CF_FETCH_ENABLED=false.)
 */
export const HARMLESS_WRANGLER_LINES: readonly RegExp[] = []

/**
 * A line splitter for a child's output stream: `push` chunks as they arrive, `end` when the
 * stream closes; `write` receives each whole line (with its newline), redacted, unless harmless.
 */
export function createLineFilter(write: (text: string) => void): { push(chunk: string): void; end(): void } {
  let partial = ''
  const emit = (line: string, newline: string) => {
    const bare = line.replace(/\x1b\[[0-9;]*m/g, '')
    if (HARMLESS_WRANGLER_LINES.some((pattern) => pattern.test(bare))) return
    write(redactNumbers(line) + newline)
  }
  return {
    push(chunk) {
      const lines = (partial + chunk).split('\n')
      partial = lines.pop()!
      for (const line of lines) emit(line, '\n')
    },
    end() {
      if (partial) emit(partial, '')
      partial = ''
    },
  }
}
