/**
 * The mirror's log lines never show a phone number: messages name records by their log entries,
 * not by their numbers, and the logger redacts any number written with its `+` that slips through.
 */
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { PassThrough } from 'node:stream'
import { describe, expect, it } from 'vitest'
import { createLogger, redactPhoneNumbers } from '../src/logger.ts'

const SRC = join(import.meta.dirname, '..', 'src')

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sources(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : [],
  )
}

describe('the mirror\'s messages', () => {
  it('interpolate no number: no `+${...}`, no subject, phone or e164 in a template', () => {
    // An out-of-range subject is not a number anyone holds: the value helps find the corruption.
    const allowed = /subject out of range: \$\{subject\}/
    const offending: string[] = []
    for (const file of sources(SRC)) {
      readFileSync(file, 'utf8')
        .split('\n')
        .forEach((line, i) => {
          if (/^\s*(\/\/|\*)/.test(line) || allowed.test(line)) return
          if (/`[^`]*(\+\$\{|\$\{[^}]*\b(subject|phone|e164)\b[^}]*\})[^`]*`/.test(line)) offending.push(`${file}:${i + 1}: ${line.trim()}`)
        })
    }
    expect(offending).toEqual([])
  })
})

describe('the logger', () => {
  it('redacts numbers written with their + in JSON and text lines, and nothing else', () => {
    for (const format of ['json', 'text'] as const) {
      const stream = new PassThrough()
      let out = ''
      stream.on('data', (c: Buffer) => (out += c.toString()))
      const logger = createLogger({ format, stream, now: () => 0 })
      logger.error('oops', { message: 'the held binding of +16505550011 to app 2', phone: '+1 (650) 555-0011' })
      logger.info('pinned', { logKey: 'whodis.localhost/log+12345678+AXm1Vi6P5lT5QHixEuipi6eQH4U65pW+1+DjkQutBJZk', treeSize: 42 })
      expect(out).not.toMatch(/650\D{0,3}555\D{0,3}0011/)
      expect(out).toContain('whodis.localhost/log+12345678+AXm1Vi6P5lT5QHixEuipi6eQH4U65pW+1+DjkQutBJZk')
      expect(out.match(/\[number\]/g)).toHaveLength(2)
      if (format === 'json') for (const line of out.trim().split('\n')) expect(() => JSON.parse(line)).not.toThrow()
    }
    expect(redactPhoneNumbers('phone=+16505550011, +44 20 7946 0958.')).toBe('phone=[number], [number].')
    expect(redactPhoneNumbers('size +1234 and 2026-12-02T10:00:00.000Z')).toBe('size +1234 and 2026-12-02T10:00:00.000Z')
  })
})
