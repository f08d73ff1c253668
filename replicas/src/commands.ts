/**
 * The `whodis-mirror` commands: sync, lookup, verify, watch and serve a verified mirror of a
 * whodis directory. {@link runCli} does the work and returns the exit code; cli.ts is the
 * program that calls it.
 * @module
 */
import { COMMANDS, flagHelp, parseCommandLine, required, type Command, type Options } from './args.ts'
import { asMirrorError, EXIT_CODE_HELP, EXIT_CODES, MirrorError, type MirrorErrorCode } from './errors.ts'
import { follow } from './follow.ts'
import { createLogger, type Logger } from './logger.ts'
import { Metrics } from './metrics.ts'
import { openMirror, type Mirror, type MirrorOptions } from './mirror.ts'
import { startServer } from './server.ts'
import { watchRecord, type WatchFilter } from './watch.ts'
import { NUMBER_NOT_FOUND } from '../../src/protocol/lookup.ts'
import { InvalidPhoneError, normalizePhone } from '../../src/protocol/phone.ts'
import { subjectOf } from '../../src/protocol/entry.ts'
import { constantTimeEqual } from '../../src/protocol/bytes.ts'
import { cosignatureSignerFromKey, cosignatureVerifierKeyOf } from '../../src/protocol/cosignature.ts'
import { join } from 'node:path'
import { StoreError } from './store/errors.ts'
import { parseLogKey } from './trust.ts'
import { Witness, type WitnessOptions } from './witness.ts'
import { startWitnessServer } from './witness-server.ts'

/** Where the CLI reads and writes. */
export interface CliIo {
  env: Record<string, string | undefined>
  stdout: NodeJS.WritableStream
  stderr: NodeJS.WritableStream & { isTTY?: boolean; columns?: number }
  /** Aborts following commands (the program wires SIGINT and SIGTERM to it). */
  signal?: AbortSignal
}

const SUMMARY: Record<Command, string> = {
  sync: 'verify and apply the log up to the latest checkpoint (--follow: keep doing it)',
  lookup: 'answer a lookup from the local state, as the directory would: lookup --data DIR <phone>',
  verify: 'replay everything held and check it against the held checkpoint (no network)',
  watch: 'print every log entry touching --number or --app (with --directory: as they arrive)',
  serve: 'follow the directory and answer GET /v1/numbers/:phone locally (+ /log/checkpoint, /healthz, /metrics; --witness: POST /add-checkpoint)',
  witness: 'run a standalone C2SP tlog-witness (consistency only): POST /add-checkpoint, GET /<sha256(origin)>/checkpoint',
}

/** The full `--help` text. */
export function helpText(): string {
  const codes = (Object.keys(EXIT_CODES) as MirrorErrorCode[])
    .sort((a, b) => EXIT_CODES[a] - EXIT_CODES[b])
    .map((c) => `  ${String(EXIT_CODES[c]).padStart(2)}  ${c.padEnd(17)} ${EXIT_CODE_HELP[c]}`)
  return [
    'whodis-mirror: a verified local mirror of a whodis directory',
    '',
    'usage: whodis-mirror <command> [flags]      (every flag also reads the environment variable shown)',
    '',
    ...COMMANDS.flatMap((c) => [`  ${c}: ${SUMMARY[c]}`, flagHelp(c), '']),
    'exit codes:',
    '   0  ok',
    ...codes,
    '',
    'Refusals (codes 10-17) change nothing stored. See docs/mirror.md.',
    '',
  ].join('\n')
}

/** Runs the CLI with `argv` (without node and script); resolves to the exit code. */
export async function runCli(argv: readonly string[], io: CliIo): Promise<number> {
  const [first, ...rest] = argv
  if (first === undefined || first === '--help' || first === '-h' || first === 'help') {
    io.stdout.write(helpText())
    return first === undefined ? EXIT_CODES.usage : 0
  }
  if (!(COMMANDS as readonly string[]).includes(first)) {
    io.stderr.write(`whodis-mirror: unknown command ${JSON.stringify(first)}; see whodis-mirror --help\n`)
    return EXIT_CODES.usage
  }
  const command = first as Command
  if (rest.includes('--help') || rest.includes('-h')) {
    io.stdout.write(`whodis-mirror ${command}: ${SUMMARY[command]}\n${flagHelp(command)}\n`)
    return 0
  }
  let logger: Logger | null = null
  try {
    const { options, positionals } = parseCommandLine(command, rest, io.env)
    logger = makeLogger(options, io)
    switch (command) {
      case 'sync':
        return await sync(options, positionals, io, logger)
      case 'lookup':
        return await lookup(options, positionals, io, logger)
      case 'verify':
        return await verify(options, positionals, io, logger)
      case 'watch':
        return await watch(options, positionals, io, logger)
      case 'serve':
        return await serve(options, positionals, io, logger)
      case 'witness':
        return await witness(options, positionals, io, logger)
    }
  } catch (err) {
    const e = asMirrorError(err)
    if (logger && e.code !== 'usage') logger.error(e.code, { message: e.message, exitCode: e.exitCode, ...e.details })
    else io.stderr.write(`whodis-mirror: ${e.message}\n`)
    if (e.code === 'internal' && e.cause instanceof Error && e.cause.stack) io.stderr.write(`${e.cause.stack}\n`)
    return e.exitCode
  }
}

function makeLogger(options: Options, io: CliIo): Logger {
  const format = options['log-format']
  if (format !== 'auto' && format !== 'json' && format !== 'text') throw new MirrorError('usage', '--log-format must be auto, json or text')
  return createLogger({ format: format === 'auto' ? (io.stderr.isTTY ? 'text' : 'json') : format, stream: io.stderr })
}

function noPositionals(command: Command, positionals: string[]): void {
  if (positionals.length > 0) throw new MirrorError('usage', `${command} takes no arguments (got ${positionals.join(' ')})`)
}

function mirrorOptions(options: Options, logger: Logger): MirrorOptions {
  const str = (name: string) => (typeof options[name] === 'string' && options[name] !== '' ? (options[name] as string) : undefined)
  const num = (name: string) => options[name] as number
  const out: MirrorOptions = { logger }
  const directory = str('directory')
  const token = str('token')
  const logKey = str('log-key')
  if (directory) out.directory = directory
  if (token) out.token = token
  if (logKey) out.logKey = logKey
  // Only the syncing commands (sync, watch, serve) have the sync and network flags.
  if ('chunk-entries' in options) {
    if (num('chunk-entries') < 1) throw new MirrorError('usage', '--chunk-entries must be at least 1')
    out.chunkEntries = num('chunk-entries')
    out.snapshots = options['no-snapshot'] !== true
    out.replay = options['no-replay'] !== true
    out.maxSnapshotBytes = num('max-snapshot-bytes')
    out.retry = { retries: num('retries'), baseDelayMs: num('retry-base-ms'), maxDelayMs: num('retry-max-ms'), timeoutMs: num('timeout-ms') }
  }
  const witnessKeys = (options['witness-key'] as string[] | undefined) ?? []
  if (witnessKeys.length > 0) out.witnessKeys = witnessKeys
  if (typeof options['witness-threshold'] === 'number') out.witnessThreshold = options['witness-threshold']
  if (typeof options['witness-max-age-s'] === 'number') out.witnessMaxAgeSeconds = options['witness-max-age-s']
  return out
}

async function withMirror<T>(options: Options, command: Command, logger: Logger, fn: (mirror: Mirror) => Promise<T>): Promise<T> {
  const mirror = await openMirror(required(options, 'data', command), mirrorOptions(options, logger))
  try {
    return await fn(mirror)
  } finally {
    await mirror.close()
  }
}

function print(io: CliIo, value: unknown): void {
  io.stdout.write(`${JSON.stringify(value)}\n`)
}

async function sync(options: Options, positionals: string[], io: CliIo, logger: Logger): Promise<number> {
  noPositionals('sync', positionals)
  const peers = (options.peer as string[] | undefined) ?? []
  return withMirror(options, 'sync', logger, async (mirror) => {
    if (options.replay) {
      logger.warn('replaying', { from: 0, note: 'the state is emptied and the whole log replayed and checked' })
      await mirror.replayFromZero()
    }
    if (!options.follow) {
      const result = await mirror.sync()
      const reports = peers.length > 0 ? await mirror.checkPeers(peers) : []
      print(io, { ...result, ...(reports.length > 0 ? { peers: reports } : {}) })
      return 0
    }
    await follow(mirror, {
      intervalMs: options['interval-ms'] as number,
      maxBackoffMs: options['max-backoff-ms'] as number,
      peerIntervalMs: options['peer-interval-ms'] as number,
      peers,
      ...(io.signal ? { signal: io.signal } : {}),
      stopOn: (e) => !e.transient,
      onSync: (r) => {
        if (r.status !== 'up-to-date') print(io, r)
      },
      onPeers: (reports) => {
        for (const r of reports) if (r.status !== 'consistent') logger.warn('peer', { ...r })
      },
      onError: (e, retryInMs) => logger.warn('sync_failed', { code: e.code, message: e.message, retryInMs }),
    })
    return 0
  })
}

async function lookup(options: Options, positionals: string[], io: CliIo, logger: Logger): Promise<number> {
  if (positionals.length !== 1) throw new MirrorError('usage', 'lookup takes one phone number: whodis-mirror lookup --data DIR <phone>')
  return withMirror(options, 'lookup', logger, async (mirror) => {
    if (!mirror.checkpoint) throw new MirrorError('no_data', `${mirror.dir} holds no verified checkpoint yet: run sync first`)
    let body
    try {
      body = options.proof ? mirror.lookupWithProof(positionals[0]!) : mirror.lookup(positionals[0]!)
    } catch (err) {
      // The reason, without the number itself: the error is logged.
      if (err instanceof InvalidPhoneError) throw new MirrorError('invalid_phone', err.message.replace(positionals[0]!.trim(), 'the number given'))
      throw err
    }
    if (!body) {
      print(io, NUMBER_NOT_FOUND)
      return EXIT_CODES.not_found
    }
    print(io, body)
    return 0
  })
}

async function verify(options: Options, positionals: string[], io: CliIo, logger: Logger): Promise<number> {
  noPositionals('verify', positionals)
  return withMirror(options, 'verify', logger, async (mirror) => {
    print(io, { ok: true, ...(await mirror.verify()) })
    return 0
  })
}

async function watch(options: Options, positionals: string[], io: CliIo, logger: Logger): Promise<number> {
  noPositionals('watch', positionals)
  const filter: WatchFilter = {}
  if (typeof options.number === 'string') {
    try {
      filter.subject = subjectOf(normalizePhone(options.number).e164)
    } catch (err) {
      if (err instanceof InvalidPhoneError) throw new MirrorError('usage', `--number: ${err.message.replace(options.number.trim(), 'the number given')}`)
      throw err
    }
  }
  if (typeof options.app === 'string') filter.appId = options.app
  if (filter.subject === undefined && filter.appId === undefined) throw new MirrorError('usage', 'watch needs --number or --app')
  return withMirror(options, 'watch', logger, async (mirror) => {
    const appId = (num: number) => mirror.appId(num)
    // A replay from entry 0 commits old entries again: each is printed once.
    let printedThrough = options['new-only'] ? mirror.treeSize - 1 : -1
    const emit = (bytes: Uint8Array, index: number) => {
      if (index <= printedThrough) return
      printedThrough = index
      let record
      try {
        record = watchRecord(bytes, index, filter, appId)
      } catch (err) {
        logger.warn('undecodable_entry', { index, error: String(err) })
        return
      }
      if (record) print(io, record)
    }
    if (!options['new-only']) {
      if (mirror.heldEntriesFrom > 0) logger.info('history', { note: `entries before ${mirror.heldEntriesFrom} came in a snapshot and are not held` })
      for (const { index, bytes } of mirror.heldEntries()) emit(bytes, index)
    }
    if (typeof options.directory !== 'string') return 0
    mirror.onCommit((event) => event.entries.forEach((bytes, i) => emit(bytes, event.from + i)))
    await follow(mirror, {
      intervalMs: options['interval-ms'] as number,
      maxBackoffMs: options['max-backoff-ms'] as number,
      ...(io.signal ? { signal: io.signal } : {}),
      stopOn: (e) => !e.transient,
      onError: (e, retryInMs) => logger.warn('sync_failed', { code: e.code, message: e.message, retryInMs }),
    })
    return 0
  })
}

/** Failures after which `serve` stops syncing but keeps serving the last verified state. */
const HALTING: ReadonlySet<MirrorErrorCode> = new Set(['fork', 'key_mismatch'])
/** Failures after which `serve` exits: it cannot go on safely. */
const FATAL: ReadonlySet<MirrorErrorCode> = new Set(['store', 'internal', 'usage'])

async function serve(options: Options, positionals: string[], io: CliIo, logger: Logger): Promise<number> {
  noPositionals('serve', positionals)
  return withMirror(options, 'serve', logger, async (mirror) => {
    const metrics = new Metrics()
    let halted: string | null = null
    const witness = typeof options.witness === 'string' && options.witness !== '' ? await mirrorWitness(mirror, options) : null
    if (witness) logger.info('witnessing', { witness: witness.name, origin: mirror.checkpoint?.origin ?? null })
    const server = await startServer(mirror, {
      ...(witness ? { witness, logger } : {}),
      port: options.port as number,
      host: options.host as string,
      metrics,
      staleAfterMs: options['stale-after-ms'] as number,
      halted: () => halted,
    }).catch(async (err: unknown) => {
      await witness?.close()
      if (!(err instanceof MirrorError) || err.code !== 'usage') throw err
      const hint = err.details.setting === 'host' ? 'check --host (or WHODIS_HOST)' : 'choose another with --port (or WHODIS_MIRROR_PORT)'
      throw new MirrorError('usage', `serve: ${err.message}; ${hint}`)
    })
    logger.info('serving', { url: server.url, treeSize: mirror.treeSize })
    try {
      await follow(mirror, {
        intervalMs: options['interval-ms'] as number,
        maxBackoffMs: options['max-backoff-ms'] as number,
        peerIntervalMs: options['peer-interval-ms'] as number,
        peers: (options.peer as string[] | undefined) ?? [],
        ...(io.signal ? { signal: io.signal } : {}),
        stopOn: (e) => HALTING.has(e.code) || FATAL.has(e.code),
        onPeers: (reports) => {
          for (const r of reports) {
            metrics.peerCheck(r.status)
            if (r.status !== 'consistent') logger.warn('peer', { ...r })
          }
        },
        onError: (e, retryInMs) => {
          metrics.syncError(e.code)
          logger.warn('sync_failed', { code: e.code, message: e.message, retryInMs })
        },
      })
    } catch (err) {
      const e = asMirrorError(err)
      metrics.syncError(e.code)
      if (!HALTING.has(e.code)) throw e
      halted = `${e.code}: ${e.message}`
      logger.error('sync_halted', { code: e.code, message: e.message, note: 'still serving the last verified state' })
      await new Promise<void>((resolve) => {
        if (!io.signal || io.signal.aborted) return resolve()
        io.signal.addEventListener('abort', () => resolve(), { once: true })
      })
    } finally {
      await server.close()
      await witness?.close()
    }
    return 0
  })
}

/** The witness of `serve --witness`: the mirror's log key, and a refusal of any tree other than the one the mirror verified at that size. */
async function mirrorWitness(mirror: Mirror, options: Options): Promise<Witness> {
  const keyText = mirror.logKey ?? (typeof options['log-key'] === 'string' ? options['log-key'] : null)
  if (!keyText) throw new MirrorError('usage', 'serve --witness needs --log-key (or WHODIS_LOG_KEY) until the data directory is pinned by a first sync')
  const stateDir = typeof options['witness-state'] === 'string' && options['witness-state'] !== '' ? options['witness-state'] : join(mirror.dir, 'witness')
  return openWitness([keyText], options.witness as string, stateDir, (c) => {
    const verified = mirror.rootAt(c.size)
    if (verified && !constantTimeEqual(verified, c.rootHash)) return `this mirror verified a different root at tree size ${c.size}: a split view`
    return null
  })
}

async function openWitness(logKeyTexts: string[], signerKey: string, stateDir: string, extraCheck?: WitnessOptions['extraCheck']): Promise<Witness> {
  const logKeys = logKeyTexts.map((text) => parseLogKey(text, '--log-key'))
  let signer
  try {
    signer = await cosignatureSignerFromKey(signerKey.trim())
  } catch (err) {
    throw new MirrorError('usage', `witness signer key: ${(err as Error).message}`)
  }
  try {
    return await Witness.open({ logKeys, signer, stateDir, ...(extraCheck ? { extraCheck } : {}) })
  } catch (err) {
    if (err instanceof StoreError) throw new MirrorError('store', `witness state ${stateDir}: ${err.message}`, {}, { cause: err })
    throw new MirrorError('store', `witness state ${stateDir}: ${(err as Error).message}`, {}, { cause: err })
  }
}

async function witness(options: Options, positionals: string[], io: CliIo, logger: Logger): Promise<number> {
  noPositionals('witness', positionals)
  const keys = required(options, 'log-key', 'witness').split(',').map((k) => k.trim()).filter(Boolean)
  const w = await openWitness(keys, required(options, 'key', 'witness'), required(options, 'state', 'witness'))
  try {
    const server = await startWitnessServer(w, options.port as number, options.host as string, logger).catch((err: unknown) => {
      if (!(err instanceof MirrorError) || err.code !== 'usage') throw err
      throw new MirrorError('usage', `witness: ${err.message}`)
    })
    logger.info('witnessing', { url: server.url, witness: w.name, verifierKey: cosignatureVerifierKeyOf(w.signer), logs: keys.map((k) => k.split('+')[0]) })
    await new Promise<void>((resolve) => {
      if (!io.signal || io.signal.aborted) return resolve()
      io.signal.addEventListener('abort', () => resolve(), { once: true })
    })
    await server.close()
  } finally {
    await w.close()
  }
  return 0
}
