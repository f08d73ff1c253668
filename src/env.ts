/**
 * The Worker's bindings and the typed configuration read from them.
 * @module
 */
import { DEFAULT_METER, MAX_METER_SETTING, type MeterConfig } from './core/meter.ts'
import { ConfigError } from './core/refusals.ts'
import type { DevOutbox } from './durable-objects/dev-outbox.ts'
import type { EvaluationMeter } from './durable-objects/evaluation-meter.ts'
import type { Limiter } from './durable-objects/limiter.ts'
import type { PhoneChallenge } from './durable-objects/phone-challenge.ts'
import type { Logger } from './log.ts'

/** Everything wrangler.toml, `.dev.vars` and `wrangler secret put` give the Worker. */
export interface Env {
  /** Lookup projection (`number:`) and app-token cache (`token:`); see docs/storage.md. */
  DIRECTORY: KVNamespace
  /** Transparency-log tiles, entry bundles and snapshots (immutable objects). */
  LOG: R2Bucket
  /** The one sequencer (src/durable-objects/sequencer.ts), reached through `SequencerRpc`. */
  SEQUENCER: DurableObjectNamespace
  /** The binding shards (src/durable-objects/binding-shard.ts), reached through `ShardRpc`. */
  SHARDS: DurableObjectNamespace
  PHONE_CHALLENGE: DurableObjectNamespace<PhoneChallenge>
  LIMITER: DurableObjectNamespace<Limiter>
  OUTBOX: DurableObjectNamespace<DevOutbox>
  /** Each app's OPRF evaluation budget, one object per app id (src/durable-objects/evaluation-meter.ts). */
  METER: DurableObjectNamespace<EvaluationMeter>
  /**
   * Rate-limit binding: holder code requests per client address, a per-location flood shield in
   * front of the exact caps (its limit and period are in wrangler.toml; see HOLDER_CLIENT_SHIELD).
   */
  HOLDER_CLIENT_LIMIT?: RateLimit

  /** Secret: bearer token for /v1/admin and /dev routes. */
  ADMIN_TOKEN?: string
  /** Secret: key for OTP code MACs, per-number object names and log tags of numbers. */
  HMAC_SECRET?: string
  /** Secret: the log's Ed25519 signer key, `PRIVATE+KEY+<name>+<id>+<key>`. */
  LOG_SIGNING_KEY?: string
  /** Secret: the directory's share k1 of the OPRF key (a ristretto255 scalar, hex; `npm run keygen -- --oprf`). */
  OPRF_KEY_SHARE?: string
  /** OPRF evaluations an app may make at once (default 50,000). */
  EVALUATIONS_BURST?: string
  /** OPRF evaluations an app's budget regains per hour (default 1,000). */
  EVALUATIONS_PER_HOUR?: string
  /** `outbox` (development) or `twilio`. */
  SMS_PROVIDER?: string
  TWILIO_ACCOUNT_SID?: string
  TWILIO_AUTH_TOKEN?: string
  /** Sender number in E.164, or use TWILIO_MESSAGING_SERVICE_SID. */
  TWILIO_FROM?: string
  TWILIO_MESSAGING_SERVICE_SID?: string
  /** Override of https://api.twilio.com (tests point it at a loopback server). */
  TWILIO_API_BASE?: string

  LOG_ORIGIN?: string
  BINDING_TTL_DAYS?: string
  /** App codes a number may receive per hour (all apps together; holder codes have their own budget). */
  SMS_PER_NUMBER_HOUR?: string
  SMS_PER_NUMBER_DAY?: string
  SMS_PER_APP_MINUTE?: string
  /** App codes a country calling code may receive per minute. */
  SMS_PER_COUNTRY_MINUTE?: string
  /** Holder codes (the self-service page and /v1/holder) per minute, across all numbers. */
  SMS_HOLDER_PER_MINUTE?: string
  /** Holder codes a number may receive per hour and per day (apart from app codes). */
  SMS_HOLDER_PER_NUMBER_HOUR?: string
  SMS_HOLDER_PER_NUMBER_DAY?: string
  /** Holder codes one client address (an IPv4 address or an IPv6 /64) may request per hour. */
  SMS_HOLDER_PER_CLIENT_HOUR?: string
  LOOKUPS_PER_APP_MINUTE?: string
  /** Milliseconds between sequencing rounds under load (a round starts at once when idle). */
  LOG_ROUND_MS?: string
  /** Write a snapshot once this many entries have been logged since the last one. */
  SNAPSHOT_EVERY_ENTRIES?: string
  /** How many snapshots to keep in R2. */
  SNAPSHOTS_KEPT?: string
  /** How many binding shards hold the bindings; fixed for the life of a log. */
  BINDING_SHARDS?: string
}

/** A registered app, as authenticated from its bearer token. */
export interface AppIdentity {
  id: string
  name: string
  /** The app's number in log entries. */
  num: number
}

/** A number's holder, as authenticated from a holder session token. */
export interface HolderIdentity {
  /** E.164. */
  phone: string
  /** SHA-256 hex of the session token (its KV key and what CSRF tokens are bound to). */
  tokenHash: string
  /** Epoch ms. */
  expiresAt: number
}

/** Hono's environment type for this Worker. */
export interface AppEnv {
  Bindings: Env
  Variables: { requestId: string; log: Logger; app: AppIdentity; holder: HolderIdentity }
}

/** Limits and lifetimes, from `vars` with the defaults below. */
export interface Limits {
  bindingTtlDays: number
  smsPerNumberHour: number
  smsPerNumberDay: number
  smsPerAppMinute: number
  smsPerCountryMinute: number
  smsHolderPerMinute: number
  smsHolderPerNumberHour: number
  smsHolderPerNumberDay: number
  smsHolderPerClientHour: number
  lookupsPerAppMinute: number
}

/** The settings and secrets of {@link Env}: what the Durable Objects read too. */
export type Vars = Partial<Record<keyof Env, unknown>>

function positiveInt(env: Vars, name: keyof Env, fallback: number): number {
  const raw = env[name]
  if (raw === undefined || raw === '') return fallback
  const n = Number(raw)
  if (!Number.isSafeInteger(n) || n <= 0) throw new ConfigError(`${String(name)} must be a positive integer`)
  return n
}

/** Reads the limits from `env`; a malformed var is an operator error ({@link ConfigError}). */
export function readLimits(env: Vars): Limits {
  return {
    bindingTtlDays: positiveInt(env, 'BINDING_TTL_DAYS', 365),
    smsPerNumberHour: positiveInt(env, 'SMS_PER_NUMBER_HOUR', 5),
    smsPerNumberDay: positiveInt(env, 'SMS_PER_NUMBER_DAY', 10),
    smsPerAppMinute: positiveInt(env, 'SMS_PER_APP_MINUTE', 600),
    smsPerCountryMinute: positiveInt(env, 'SMS_PER_COUNTRY_MINUTE', 300),
    smsHolderPerMinute: positiveInt(env, 'SMS_HOLDER_PER_MINUTE', 30),
    smsHolderPerNumberHour: positiveInt(env, 'SMS_HOLDER_PER_NUMBER_HOUR', 2),
    smsHolderPerNumberDay: positiveInt(env, 'SMS_HOLDER_PER_NUMBER_DAY', 4),
    smsHolderPerClientHour: positiveInt(env, 'SMS_HOLDER_PER_CLIENT_HOUR', 3),
    lookupsPerAppMinute: positiveInt(env, 'LOOKUPS_PER_APP_MINUTE', 6000),
  }
}

/** Each app's evaluation budget: EVALUATIONS_BURST and EVALUATIONS_PER_HOUR, else {@link DEFAULT_METER}. */
export function readMeterConfig(env: Vars): MeterConfig {
  const config = {
    burst: positiveInt(env, 'EVALUATIONS_BURST', DEFAULT_METER.burst),
    refillPerHour: positiveInt(env, 'EVALUATIONS_PER_HOUR', DEFAULT_METER.refillPerHour),
  }
  for (const [name, value] of [['EVALUATIONS_BURST', config.burst], ['EVALUATIONS_PER_HOUR', config.refillPerHour]] as const) {
    if (value > MAX_METER_SETTING) throw new ConfigError(`${name} must be at most ${MAX_METER_SETTING}`)
  }
  return config
}

/** Returns a required secret, or throws a {@link ConfigError} naming it. */
export function requireSecret(env: Vars, name: 'ADMIN_TOKEN' | 'HMAC_SECRET' | 'LOG_SIGNING_KEY' | 'OPRF_KEY_SHARE'): string {
  const value = env[name]
  if (typeof value !== 'string' || value === '') throw new ConfigError(`${name} is not set (wrangler secret put ${name})`)
  return value
}

/** How the log paces rounds and snapshots, and how many shards hold its bindings. */
export interface LogConfig {
  origin: string
  roundMs: number
  snapshotEveryEntries: number
  snapshotsKept: number
  shards: number
}

/** Binding shards when BINDING_SHARDS is not set. */
export const DEFAULT_SHARDS = 16

/** Reads the log settings; a missing LOG_ORIGIN or malformed var is a {@link ConfigError}. */
export function readLogConfig(env: Vars): LogConfig {
  const origin = env.LOG_ORIGIN
  if (typeof origin !== 'string' || origin === '') throw new ConfigError('LOG_ORIGIN is not set')
  const shards = positiveInt(env, 'BINDING_SHARDS', DEFAULT_SHARDS)
  if (shards > 1024) throw new ConfigError('BINDING_SHARDS must be at most 1024')
  return {
    origin,
    roundMs: positiveInt(env, 'LOG_ROUND_MS', 1000),
    snapshotEveryEntries: positiveInt(env, 'SNAPSHOT_EVERY_ENTRIES', 10_000),
    snapshotsKept: positiveInt(env, 'SNAPSHOTS_KEPT', 3),
    shards,
  }
}
