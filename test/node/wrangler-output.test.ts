/**
 * redactNumbers (what `npm start` shows of wrangler's request lines): every valid number of every
 * country, written in a URL in any form a client might use, comes out as `[number]`; paths, ids,
 * keys and figures that are not numbers come out unchanged.
 */
import fc from 'fast-check'
import { getCountries, getExampleNumber, type CountryCode } from 'libphonenumber-js/max'
import examples from 'libphonenumber-js/mobile/examples'
import { describe, expect, it } from 'vitest'
import { createLineFilter, redactNumbers, REDACTED } from '../../scripts/wrangler-output.ts'

/** libphonenumber's example mobile number of every country (the shortest have 7 digits). */
const NUMBERS = getCountries().flatMap((country) => {
  const n = getExampleNumber(country as CountryCode, examples)
  return n ? [{ e164: n.number as string, international: n.formatInternational(), national: n.nationalNumber as string }] : []
})

/** The forms a number takes in a URL: raw, encoded (once or twice), without `+`, with separators. */
function forms(n: { e164: string; international: string }): string[] {
  const digits = n.e164.slice(1)
  const spaced = n.international
  const dashed = spaced.replace(/ /g, '-')
  const dotted = spaced.replace(/ /g, '.')
  const cc = spaced.split(' ')[0]!
  const parens = `${cc} (${spaced.split(' ').slice(1).join(') ')}`
  return [
    n.e164,
    `%2B${digits}`,
    `%2b${digits}`,
    `%252B${digits}`,
    digits,
    encodeURIComponent(spaced),
    spaced.replace(/ /g, '%20'),
    encodeURIComponent(encodeURIComponent(spaced)),
    dashed,
    dotted,
    encodeURIComponent(parens),
    parens.replace(/ /g, '%20'),
    `tel:${n.e164}`,
    [...n.e164].map((c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`).join(''),
  ]
}

/** The digits of `e164` nowhere in `text`, whatever separates them. */
function expectNoNumber(text: string, e164: string): void {
  const digits = e164.slice(1)
  const loose = new RegExp(digits.split('').join('\\D{0,6}'))
  expect(text, `${e164} in ${text}`).not.toMatch(loose)
  expect(decodeURIComponent(decodeURIComponent(text.replace(/%(?![0-9a-f]{2})/gi, '%25'))), `${e164} in ${text}`).not.toMatch(loose)
}

describe('redactNumbers', () => {
  it('redacts every country\'s number, in every URL form, in request lines of every route', () => {
    expect(NUMBERS.length).toBeGreaterThan(200)
    for (const n of NUMBERS) {
      for (const form of forms(n)) {
        const lines = [
          `[wrangler:info] GET /v1/numbers/${form} 404 Not Found (12ms)`,
          `[wrangler:info] DELETE /v1/numbers/${form}/apps/appa 403 Forbidden (3ms)`,
          `[wrangler:info] GET /v1/numbers/${form}?proof=1 200 OK (8ms)`,
          `[wrangler:info] GET /dev/outbox?phone=${form} 200 OK (2ms)`,
          `[wrangler:info] GET /nope/${form}/x 404 Not Found (1ms)`,
          `\x1b[32m[wrangler:info]\x1b[39m \x1b[0m\x1b[1mGET\x1b[22m /v1/numbers/${form} \x1b[33m\x1b[1m404\x1b[22m Not Found \x1b[39m\x1b[90m(32ms)\x1b[39m\x1b[0m`,
          `GET http://127.0.0.1:8787/v1/numbers/${form} failed`,
        ]
        for (const line of lines) {
          const out = redactNumbers(line)
          expect(out).toContain(REDACTED)
          expectNoNumber(out, n.e164)
        }
        expect(redactNumbers(`[wrangler:info] GET /v1/numbers/${form} 404 Not Found (12ms)`)).toMatch(
          new RegExp(`^\\[wrangler:info\\] GET /v1/numbers/(tel:)?\\[number\\] 404 Not Found \\(12ms\\)$`),
        )
      }
    }
  })

  it('redacts a number with a + anywhere in a line, and random numbers in random forms (property)', () => {
    expect(redactNumbers('the number +16505550011 is')).toBe(`the number ${REDACTED} is`)
    expect(redactNumbers('phone=+1 650 555 0011;')).toBe(`phone=${REDACTED};`)
    fc.assert(
      fc.property(
        fc.stringMatching(/^[1-9][0-9]{6,14}$/),
        fc.constantFrom('', '+', '%2B', '%252B', '%2b'),
        fc.constantFrom('', '-', '.', '%20', '+'),
        fc.constantFrom('/v1/numbers/', '/dev/outbox?phone=', '/x/'),
        (digits, plus, separator, prefix) => {
          const written = `${plus}${digits.slice(0, 3)}${separator}${digits.slice(3)}`
          const out = redactNumbers(`GET ${prefix}${written} 404 Not Found (5ms)`)
          expect(out).toBe(`GET ${prefix}${REDACTED} 404 Not Found (5ms)`)
        },
      ),
      { numRuns: 2000 },
    )
  })

  it('leaves what is not a number as it is', () => {
    const verificationId = '4d60d7bfa0a8fef28341d428ff1a2ec15fe11116eef8382657ab7f01e639605616a435dddf79084c180dcc6e2d52718b'
    for (const line of [
      '[wrangler:info] Ready on http://127.0.0.1:8787',
      'Ready on http://192.168.100.200:8787',
      '[wrangler:info] GET /log/tile/0/x001/234 200 OK (2ms)',
      '[wrangler:info] GET /log/tile/entries/x001/x234/067.p/128 200 OK (2ms)',
      '[wrangler:info] GET /log/snapshot/10000/manifest 200 OK (2ms)',
      `[wrangler:info] POST /v1/verifications/${verificationId}/check 200 OK (40ms)`,
      '[wrangler:info] DELETE /v1/admin/apps/app1234567 200 OK (3ms)',
      '{"level":"info","event":"request","route":"/v1/numbers/:phone","status":404,"ms":30,"time":"2026-12-02T09:49:18.329Z","to":12345678}',
      'logKey whodis.localhost/log+12345678+AXm1Vi6P5lT5QHixEuipi6eQH4U65pW+1+DjkQutBJZk',
      '    at Object.<anonymous> (/work/whodis/node_modules/wrangler/wrangler-dist/cli.js:123456:78)',
    ]) {
      expect(redactNumbers(line)).toBe(line)
    }
  })
})

describe('createLineFilter', () => {
  it('redacts whole lines, however the stream splits them, and flushes the last partial line', () => {
    const out: string[] = []
    const filter = createLineFilter((text) => out.push(text))
    const text = '[wrangler:info] GET /v1/numbers/+16505550011 404 Not Found (4ms)\nnext line\nlast'
    for (let i = 0; i < text.length; i += 7) filter.push(text.slice(i, i + 7))
    filter.end()
    expect(out).toEqual([`[wrangler:info] GET /v1/numbers/${REDACTED} 404 Not Found (4ms)\n`, 'next line\n', 'last'])
  })
})
