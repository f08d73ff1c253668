/**
 * Structured JSON logs (Workers Logs indexes each field). Never pass a raw phone number or code:
 * use {@link phoneTag} for numbers.
 * @module
 */

import type { Logger } from './core/ports.ts'

/** A logger bound to one request or event (the core's port, defined there so that the core imports nothing outside it). */
export type { Logger }

/** A logger that writes one JSON object per line with `base` fields on each. */
export function createLogger(base: Record<string, unknown> = {}): Logger {
  const write = (level: string, event: string, fields?: Record<string, unknown>) => {
    const line = JSON.stringify({ level, event, ...base, ...fields, time: new Date().toISOString() })
    if (level === 'error') console.error(line)
    else if (level === 'warn') console.warn(line)
    else console.log(line)
  }
  return {
    info: (event, fields) => write('info', event, fields),
    warn: (event, fields) => write('warn', event, fields),
    error: (event, fields) => write('error', event, fields),
  }
}
