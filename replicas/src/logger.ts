/**
 * What the mirror says while it works: structured JSON lines (one object a line, on stderr) when
 * not on a terminal, readable lines and a progress bar when on one. Library users pass their own
 * {@link Logger} or get a silent one.
 * @module
 */

/** Fields of a log line. */
export type LogFields = Record<string, unknown>

/** A progress reporter for one long task. */
export interface Progress {
  /** `done` units of the task's total are finished. */
  update(done: number): void
  /** The task is over (successfully or not). */
  end(): void
}

/** Where the mirror's events go. */
export interface Logger {
  info(event: string, fields?: LogFields): void
  warn(event: string, fields?: LogFields): void
  error(event: string, fields?: LogFields): void
  /** Starts reporting progress of a task of `total` `unit`s. */
  progress(task: string, total: number, unit: string): Progress
}

/** A logger that drops everything. */
export const silentLogger: Logger = {
  info() {},
  warn() {},
  error() {},
  progress: () => ({ update() {}, end() {} }),
}

/** Options of {@link createLogger}. */
export interface LoggerOptions {
  /** `json`: one JSON object a line; `text`: readable lines and a progress bar. */
  format: 'json' | 'text'
  /** Default: process.stderr. */
  stream?: NodeJS.WritableStream & { isTTY?: boolean; columns?: number }
  /** Least interval between JSON progress lines (default 2000 ms). */
  progressEveryMs?: number
  /** The clock (default Date.now). */
  now?: () => number
}

/** A logger writing to a stream (stderr by default). */
export function createLogger(options: LoggerOptions): Logger {
  const stream = options.stream ?? process.stderr
  const now = options.now ?? Date.now
  const every = options.progressEveryMs ?? 2000
  let barShown = false
  const clearBar = () => {
    if (barShown) {
      stream.write('\r\x1b[2K')
      barShown = false
    }
  }
  const line = (level: string, event: string, fields: LogFields = {}) => {
    if (options.format === 'json') {
      stream.write(`${redactPhoneNumbers(JSON.stringify({ time: new Date(now()).toISOString(), level, event, ...fields }, jsonSafe))}\n`)
      return
    }
    clearBar()
    const rest = Object.entries(fields)
      .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v, jsonSafe)}`)
      .join(' ')
    stream.write(`${redactPhoneNumbers(`whodis-mirror ${level === 'info' ? '' : `${level.toUpperCase()} `}${event}${rest ? ` ${rest}` : ''}`)}\n`)
  }
  return {
    info: (event, fields) => line('info', event, fields),
    warn: (event, fields) => line('warn', event, fields),
    error: (event, fields) => line('error', event, fields),
    progress(task, total, unit) {
      const started = now()
      let last = started
      let done = 0
      const draw = () => {
        if (options.format === 'json') {
          line('info', 'progress', { task, done, total, unit, elapsedMs: now() - started })
          return
        }
        const width = Math.max(10, Math.min(40, (stream.columns ?? 80) - 60))
        const fraction = total > 0 ? Math.min(1, done / total) : 1
        const filled = Math.round(fraction * width)
        const rate = done / Math.max(0.001, (now() - started) / 1000)
        stream.write(
          `\r\x1b[2K${task} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done.toLocaleString('en')}/${total.toLocaleString('en')} ${unit} ${Math.round(rate).toLocaleString('en')}/s`,
        )
        barShown = true
      }
      return {
        update(value) {
          done = value
          const t = now()
          if (t - last >= (options.format === 'json' ? every : 100)) {
            last = t
            draw()
          }
        },
        end() {
          if (options.format === 'text') clearBar()
          else if (total > 0 && now() - started >= every) draw()
        },
      }
    },
  }
}

/**
 * redactPhoneNumbers: `text` with every phone number written with its `+` (`+16505550011`,
 * `+1 650 555-0011`) replaced by `[number]`. A guard: no message should carry a number in the
 * first place (records are named by their log entries), but no log line may ever show one. A
 * `+` inside a word, a key (`name+1234abcd+...`) or base64 is not a number's.
 */
export function redactPhoneNumbers(text: string): string {
  return text.replace(/(?<![\w+/])\+\d(?:[ .()-]{0,2}\d){6,}(?!\w)/g, '[number]')
}

// Byte arrays as hex, bigints as strings: log lines must always serialise.
function jsonSafe(_key: string, value: unknown): unknown {
  if (value instanceof Uint8Array) return Buffer.from(value).toString('hex')
  if (typeof value === 'bigint') return value.toString()
  return value
}
