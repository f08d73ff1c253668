/**
 * The Worker's bindings and the typed configuration read from them.
 * @module
 */
import type { DevOutbox } from './durable-objects/dev-outbox.ts'
import type { Limiter } from './durable-objects/limiter.ts'
import type { PhoneChallenge } from './durable-objects/phone-challenge.ts'
import type { Sequencer } from './durable-objects/sequencer.ts'
import { ApiError } from './errors.ts'
import type { Logger } from './log.ts'

/** Everything wrangler.toml, `.dev.vars` and `wrangler secret put` give the Worker. */
export interface Env {
  /** Lookup projection (`number:`) and app-token cache (`token:`); see docs/storage.md. */
  DIRECTORY: KVNamespace
  /** Transparency-log tiles, entry bundles and snapshots (immutable objects). */
  LOG: R2Bucket
  SEQUENCER: DurableObjectNamespace<Sequencer>
  PHONE_CHALLENGE: DurableObjectNamespace<PhoneChallenge>
  LIMITER: DurableObjectNamespace<Limiter>
  OUTBOX: DurableObjectNamespace<DevOutbox>
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
}

/** A registered app, as authenticated from its bearer token. */
export interface AppIdentity {
  id: string
  name: string
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

function positiveInt(env: Env, name: keyof Env, fallback: number): number {
  const raw = env[name]
  if (raw === undefined || raw === '') return fallback
  const n = Number(raw)
  if (!Number.isSafeInteger(n) || n <= 0) {
    throw new ApiError(503, 'not_configured', `${String(name)} must be a positive integer`)
  }
  return n
}

/** Reads the limits from `env`; a malformed var is an operator error (`503 not_configured`). */
export function readLimits(env: Env): Limits {
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

/** Returns a required secret, or fails with `503 not_configured` naming it. */
export function requireSecret(env: Env, name: 'ADMIN_TOKEN' | 'HMAC_SECRET' | 'LOG_SIGNING_KEY'): string {
  const value = env[name]
  if (!value) throw new ApiError(503, 'not_configured', `${name} is not set (wrangler secret put ${name})`)
  return value
}

/** How the Sequencer paces rounds and snapshots. */
export interface LogConfig {
  origin: string
  roundMs: number
  snapshotEveryEntries: number
  snapshotsKept: number
}

/** Reads the log settings; a missing LOG_ORIGIN or malformed var is `503 not_configured`. */
export function readLogConfig(env: Env): LogConfig {
  const origin = env.LOG_ORIGIN
  if (!origin) throw new ApiError(503, 'not_configured', 'LOG_ORIGIN is not set')
  return {
    origin,
    roundMs: positiveInt(env, 'LOG_ROUND_MS', 1000),
    snapshotEveryEntries: positiveInt(env, 'SNAPSHOT_EVERY_ENTRIES', 10_000),
    snapshotsKept: positiveInt(env, 'SNAPSHOTS_KEPT', 3),
  }
}
