/**
 * The CLI's flags: one table naming each flag, its environment variable, type, default and the
 * commands it applies to. A flag on the command line wins over its variable.
 * @module
 */
import { parseArgs } from 'node:util'
import { MirrorError } from './errors.ts'
import { checkBaseUrl } from './http.ts'

/** The commands. */
export type Command = 'sync' | 'lookup' | 'verify' | 'watch' | 'serve' | 'witness'

/** The commands, in help order. */
export const COMMANDS: readonly Command[] = ['sync', 'lookup', 'verify', 'watch', 'serve', 'witness']

type Kind = 'string' | 'number' | 'boolean' | 'list'

interface FlagSpec {
  name: string
  env: string
  kind: Kind
  help: string
  default?: string | number | boolean
  commands: readonly Command[]
  /** The value (each value, for a list) is an http(s) base URL. */
  url?: true
}

const MIRRORING: readonly Command[] = ['sync', 'lookup', 'verify', 'watch', 'serve']
const SYNCING: readonly Command[] = ['sync', 'watch', 'serve']

/** Every flag. */
export const FLAGS: readonly FlagSpec[] = [
  { name: 'data', env: 'WHODIS_DATA', kind: 'string', help: 'data directory (created if missing)', commands: MIRRORING },
  { name: 'directory', env: 'WHODIS_DIRECTORY', kind: 'string', url: true, help: 'directory base URL, with its scheme (default: the one pinned at the first sync)', commands: SYNCING },
  { name: 'token', env: 'WHODIS_TOKEN', kind: 'string', help: 'app token (entry bundles and snapshots need one)', commands: SYNCING },
  { name: 'log-key', env: 'WHODIS_LOG_KEY', kind: 'string', help: "log verifier key to pin (default: the directory's /.well-known/whodis; witness: the logs it witnesses, comma-separated)", commands: COMMANDS },
  { name: 'peer', env: 'WHODIS_PEERS', kind: 'list', url: true, help: 'peer mirror URL to cross-check (repeatable; env: comma-separated)', commands: ['sync', 'serve'] },
  { name: 'follow', env: 'WHODIS_FOLLOW', kind: 'boolean', default: false, help: 'keep syncing', commands: ['sync'] },
  { name: 'interval-ms', env: 'WHODIS_FOLLOW_INTERVAL_MS', kind: 'number', default: 3000, help: 'delay between sync steps when following', commands: SYNCING },
  { name: 'max-backoff-ms', env: 'WHODIS_MAX_BACKOFF_MS', kind: 'number', default: 60_000, help: 'longest delay after failed steps when following', commands: SYNCING },
  { name: 'peer-interval-ms', env: 'WHODIS_PEER_INTERVAL_MS', kind: 'number', default: 60_000, help: 'delay between peer cross-checks', commands: ['sync', 'serve'] },
  { name: 'chunk-entries', env: 'WHODIS_CHUNK_ENTRIES', kind: 'number', default: 65_536, help: 'entries per store commit when catching up', commands: SYNCING },
  { name: 'no-snapshot', env: 'WHODIS_NO_SNAPSHOT', kind: 'boolean', default: false, help: 'bootstrap by replaying from entry 0, not from a snapshot', commands: SYNCING },
  {
    name: 'no-replay',
    env: 'WHODIS_NO_REPLAY',
    kind: 'boolean',
    default: false,
    help: "when an entry is refused over a snapshot's state, stop (naming the command) instead of replaying the log from entry 0",
    commands: SYNCING,
  },
  { name: 'replay', env: 'WHODIS_REPLAY', kind: 'boolean', default: false, help: 'replay the log from entry 0 now, without a snapshot, checking every entry', commands: ['sync'] },
  { name: 'max-snapshot-bytes', env: 'WHODIS_MAX_SNAPSHOT_BYTES', kind: 'number', default: 2 ** 31, help: 'largest decompressed snapshot accepted', commands: SYNCING },
  { name: 'retries', env: 'WHODIS_RETRIES', kind: 'number', default: 5, help: 'retries of a failed request (network, 5xx, 429)', commands: SYNCING },
  { name: 'retry-base-ms', env: 'WHODIS_RETRY_BASE_MS', kind: 'number', default: 250, help: 'first retry delay (doubles each retry)', commands: SYNCING },
  { name: 'retry-max-ms', env: 'WHODIS_RETRY_MAX_MS', kind: 'number', default: 8000, help: 'longest retry delay', commands: SYNCING },
  { name: 'timeout-ms', env: 'WHODIS_TIMEOUT_MS', kind: 'number', default: 30_000, help: 'per-request timeout', commands: SYNCING },
  { name: 'proof', env: 'WHODIS_PROOF', kind: 'boolean', default: false, help: 'include each binding\'s entry and receipt (as ?proof=1)', commands: ['lookup'] },
  { name: 'number', env: 'WHODIS_WATCH_NUMBER', kind: 'string', help: 'watch entries touching this number', commands: ['watch'] },
  { name: 'app', env: 'WHODIS_WATCH_APP', kind: 'string', help: 'watch entries touching this app id', commands: ['watch'] },
  { name: 'new-only', env: 'WHODIS_WATCH_NEW_ONLY', kind: 'boolean', default: false, help: 'skip the entries already held', commands: ['watch'] },
  { name: 'port', env: 'WHODIS_MIRROR_PORT', kind: 'number', default: 8788, help: 'port to listen on', commands: ['serve', 'witness'] },
  { name: 'host', env: 'WHODIS_HOST', kind: 'string', default: '127.0.0.1', help: 'interface to listen on', commands: ['serve', 'witness'] },
  { name: 'witness-key', env: 'WHODIS_WITNESS_KEYS', kind: 'list', help: 'trusted witness verifier key (type 0x04): served checkpoints must carry its cosignature (repeatable; env: comma-separated)', commands: SYNCING },
  { name: 'witness-threshold', env: 'WHODIS_WITNESS_THRESHOLD', kind: 'number', help: 'cosignatures of --witness-key required per checkpoint (default: all of them)', commands: SYNCING },
  { name: 'witness-max-age-s', env: 'WHODIS_WITNESS_MAX_AGE_S', kind: 'number', help: 'a cosignature older than this many seconds does not count toward --witness-threshold: a frozen directory is refused (default: no limit)', commands: SYNCING },
  { name: 'key', env: 'WHODIS_WITNESS_SIGNING_KEY', kind: 'string', help: 'witness signer key, PRIVATE+KEY+<name>+<id>+<key> (npm run keygen -- --witness <name>)', commands: ['witness'] },
  { name: 'state', env: 'WHODIS_WITNESS_STATE', kind: 'string', help: 'witness state directory: the latest cosigned checkpoint per log (created if missing)', commands: ['witness'] },
  { name: 'witness', env: 'WHODIS_WITNESS_SIGNING_KEY', kind: 'string', help: 'also act as a witness with this signer key: POST /add-checkpoint cosigns checkpoints consistent with what this mirror verified', commands: ['serve'] },
  { name: 'witness-state', env: 'WHODIS_WITNESS_STATE', kind: 'string', help: 'witness state directory (default: <data>/witness)', commands: ['serve'] },
  { name: 'stale-after-ms', env: 'WHODIS_STALE_AFTER_MS', kind: 'number', default: 300_000, help: '/healthz reports stale past this checkpoint age', commands: ['serve'] },
  { name: 'log-format', env: 'WHODIS_LOG_FORMAT', kind: 'string', default: 'auto', help: 'auto, json or text (auto: text and a progress bar on a terminal, JSON lines otherwise)', commands: COMMANDS },
]

/** Parsed options: flag name → value (defaults applied). */
export type Options = Record<string, string | number | boolean | string[] | undefined>

/** Parses `argv` (after the command) with `env` fallbacks; throws `usage` errors. */
export function parseCommandLine(command: Command, argv: readonly string[], env: Record<string, string | undefined>): { options: Options; positionals: string[] } {
  const specs = FLAGS.filter((f) => f.commands.includes(command))
  let parsed
  try {
    parsed = parseArgs({
      args: [...argv],
      strict: true,
      allowPositionals: true,
      options: Object.fromEntries(
        specs.map((f) => [f.name, { type: f.kind === 'boolean' ? ('boolean' as const) : ('string' as const), ...(f.kind === 'list' ? { multiple: true } : {}) }]),
      ),
    })
  } catch (err) {
    throw new MirrorError('usage', `${command}: ${(err as Error).message}`)
  }
  const options: Options = {}
  for (const f of specs) {
    const given = (parsed.values as Record<string, unknown>)[f.name]
    const fromEnv = env[f.env]
    let value: Options[string]
    if (given !== undefined) value = f.kind === 'number' ? toNumber(f, String(given), `--${f.name}`) : (given as Options[string])
    else if (fromEnv !== undefined && fromEnv !== '') value = fromEnvironment(f, fromEnv)
    else value = f.default
    if (f.url && value !== undefined) value = checkUrls(f, value, given !== undefined ? `--${f.name}` : f.env)
    options[f.name] = value
  }
  return { options, positionals: parsed.positionals }
}

/** The options string value, or a usage error naming flag and variable. */
export function required(options: Options, name: string, command: Command): string {
  const v = options[name]
  if (typeof v !== 'string' || v === '') {
    const f = FLAGS.find((x) => x.name === name)!
    throw new MirrorError('usage', `${command} needs --${name} (or ${f.env})`)
  }
  return v
}

function checkUrls(f: FlagSpec, value: Options[string], where: string): Options[string] {
  if (Array.isArray(value)) return value.map((v) => checkBaseUrl(v, where))
  return typeof value === 'string' ? checkBaseUrl(value, where) : value
}

function fromEnvironment(f: FlagSpec, text: string): Options[string] {
  switch (f.kind) {
    case 'boolean':
      if (/^(1|true|yes|on)$/i.test(text)) return true
      if (/^(0|false|no|off)$/i.test(text)) return false
      throw new MirrorError('usage', `${f.env}=${text}: expected 1/0, true/false, yes/no`)
    case 'number':
      return toNumber(f, text, f.env)
    case 'list':
      return text.split(',').map((s) => s.trim()).filter(Boolean)
    default:
      return text
  }
}

function toNumber(f: FlagSpec, text: string, where: string): number {
  const n = Number(text)
  if (!Number.isSafeInteger(n) || n < 0) throw new MirrorError('usage', `${where}: ${f.name} must be a non-negative integer, got ${JSON.stringify(text)}`)
  return n
}

/** The help text of the flags of `command`. */
export function flagHelp(command: Command): string {
  return FLAGS.filter((f) => f.commands.includes(command))
    .map((f) => {
      const value = f.kind === 'boolean' ? '' : f.kind === 'number' ? ' N' : f.kind === 'list' && f.url ? ' URL' : ' VALUE'
      const def = f.default !== undefined && f.kind !== 'boolean' ? ` (default ${f.default})` : ''
      return `    --${f.name}${value}\n        ${f.help}${def}  [${f.env}]`
    })
    .join('\n')
}
