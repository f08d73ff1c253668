/**
 * Structured JSON logs (Workers Logs indexes each field). Never pass a raw phone number or code:
 * use {@link phoneTag} for numbers.
 * @module
 */

/** A logger bound to one request or event. */
export interface Logger {
  info(event: string, fields?: Record<string, unknown>): void
  warn(event: string, fields?: Record<string, unknown>): void
  error(event: string, fields?: Record<string, unknown>): void
}

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
