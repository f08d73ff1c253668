/**
 * The holder flow: a person proves a number on their own behalf (not an app's), gets a short
 * session, sees every app the number is bound to and every log entry that touches it, and
 * removes any binding. Shared by the self-service page (`/`, `/me/...`) and the JSON API
 * (`/v1/holder/...`), so both give the same answers with the same error codes.
 *
 * Holder challenges live in the same per-number {@link PhoneChallenge} object as app
 * challenges, under the reserved app id {@link HOLDER_APP}, so neither kind can be completed as
 * the other; their sends draw on the number's own holder budget, never on the apps' budget.
 * Anyone may ask for a holder code, so every start passes, in order:
 *
 * 1. the client's flood shield (the rate-limit binding {@link HOLDER_CLIENT_SHIELD}, per location);
 * 2. the client's exact hourly cap (`SMS_HOLDER_PER_CLIENT_HOUR`, keyed by a tag of its address);
 * 3. the cap on holder codes in all (`SMS_HOLDER_PER_MINUTE`);
 * 4. the number's holder budget (`SMS_HOLDER_PER_NUMBER_HOUR`, `SMS_HOLDER_PER_NUMBER_DAY`).
 *
 * Each counts the attempts that reach it, so one client spends at most its own cap of the later
 * ones. The budgets of 3 and 4 are shared with strangers: their refusals give the whole window
 * as Retry-After, never the time of a send this caller did not make. docs/abuse.md has the
 * worst cases these allow.
 * @module
 */
import { createHolderSession } from '../adapters/holder-sessions.ts'
import { edgeLimit, exactLimit, takeOrRefuse, type Limit } from '../adapters/limits.ts'
import { smsSender } from '../adapters/sms/index.ts'
import { clientAddress } from '../client-address.ts'
import { clientTag, newOtpCode, otpMac, phoneTag, randomHex } from '../crypto.ts'
import type { Binding, Change } from '../core/binding-shard.ts'
import { shardFor } from '../directory.ts'
import { checkChallenge, phoneChallenge } from '../durable-objects/stubs.ts'
import { readLimits, requireSecret, type Env } from '../env.ts'
import { ApiError, orRefuse, rateLimited } from '../errors.ts'
import type { Logger } from '../log.ts'
import { parsePhone } from './schemas.ts'
import { smsFailure } from './verifications.ts'

/**
 * The pseudo-app id of the operator's own verifications. App ids match /^[a-z0-9.-]{2,64}$/,
 * so no registered app can ever have this one.
 */
export const HOLDER_APP = '_holder'
/** Limiter key of the cap on holder sends in all. */
export const HOLDER_SEND_LIMIT_KEY = 'sms-holder'
/** Limiter key prefix of the per-client hourly caps (followed by the client's tag). */
export const HOLDER_CLIENT_LIMIT_PREFIX = 'sms-holder-client:'
/** The `HOLDER_CLIENT_LIMIT` binding's `simple` setting; wrangler.toml must say the same. */
export const HOLDER_CLIENT_SHIELD = { limit: 5, periodS: 60 } as const
/** Most log entries shown to a holder (newest first). */
export const HOLDER_ENTRIES_SHOWN = 100

const HOUR_MS = 3_600_000
const DAY_MS = 24 * HOUR_MS

// A challenge id is the per-number object's id (64 hex) followed by 128 random bits (32 hex).

/**
 * Sends "whodis code: NNNNNN" to the number `input` names, for the client whose
 * `CF-Connecting-IP` is `clientHeader`, after every cap allows it.
 */
export async function startHolderVerification(
  env: Env,
  input: unknown,
  clientHeader: string | null | undefined,
  log: Logger,
  now = Date.now(),
): Promise<{ id: string; phone: string; expiresAt: number }> {
  const phone = parsePhone(input)
  const secret = requireSecret(env, 'HMAC_SECRET')
  const limits = readLimits(env)
  const sms = smsSender(env)
  if (!env.HOLDER_CLIENT_LIMIT) throw new ApiError(503, 'not_configured', 'the HOLDER_CLIENT_LIMIT rate-limit binding is missing')
  const tag = phoneTag(secret, phone.e164).slice(0, 16)
  const client = clientTag(secret, clientAddress(clientHeader))

  const pass = async (cap: string, limit: Limit, key: string, what: string, shared = false) => {
    try {
      await takeOrRefuse(limit, key, now, what, shared)
    } catch (err) {
      if (err instanceof ApiError && err.status === 429) log.warn('holder_capped', { cap })
      throw err
    }
  }
  const shield = edgeLimit(env.HOLDER_CLIENT_LIMIT, HOLDER_CLIENT_SHIELD.limit, HOLDER_CLIENT_SHIELD.periodS * 1000)
  await pass('client_shield', shield, client, 'too many requests from this address')
  const perClient = exactLimit(env.LIMITER, limits.smsHolderPerClientHour, HOUR_MS)
  await pass('client_hour', perClient, HOLDER_CLIENT_LIMIT_PREFIX + client, 'too many codes requested from this address')
  const inAll = exactLimit(env.LIMITER, limits.smsHolderPerMinute, 60_000)
  await pass('all_minute', inAll, HOLDER_SEND_LIMIT_KEY, 'too many codes sent from this page', true)

  const challenge = phoneChallenge(env, secret, phone.e164)
  const id = challenge.id.toString() + randomHex(16)
  const code = newOtpCode()
  const started = await challenge.start({
    id,
    app: HOLDER_APP,
    phone: phone.e164,
    publicKey: null,
    codeMac: otpMac(secret, id, code),
    now,
    budget: 'holder',
    perHour: limits.smsHolderPerNumberHour,
    perDay: limits.smsHolderPerNumberDay,
  })
  if (!started.ok) {
    log.warn('sms_capped', { phoneTag: tag, window: started.window, holder: true })
    // The whole window, not when the oldest send leaves: those sends may be someone else's.
    throw rateLimited(`too many codes sent to this number in the last ${started.window}`, started.window === 'hour' ? HOUR_MS : DAY_MS)
  }
  try {
    await sms.send({ to: phone.e164, body: `whodis code: ${code}` })
  } catch (err) {
    await challenge.cancel(id)
    throw smsFailure(err, log, tag)
  }
  log.info('holder_verification_started', { phoneTag: tag, country: phone.countryCallingCode })
  return { id, phone: phone.e164, expiresAt: started.expiresAt }
}

/**
 * Checks a holder code; a right one opens a session. Wrong → `422 wrong_code` with
 * `attemptsLeft`; expired or exhausted → `410`; unknown (or an app's challenge) → `404`.
 */
export async function checkHolderCode(
  env: Env,
  id: string,
  code: string,
  log: Logger,
  now = Date.now(),
): Promise<{ token: string; tokenHash: string; phone: string; expiresAt: number }> {
  const secret = requireSecret(env, 'HMAC_SECRET')
  if (!/^[0-9]{6}$/.test(code)) throw new ApiError(400, 'invalid_request', 'code must be 6 digits')
  const result = await checkChallenge(env, id, HOLDER_APP, (challenge) => otpMac(secret, challenge, code), now, true)
  const session = await createHolderSession(env.DIRECTORY, result.phone, now)
  log.info('holder_session_opened', { phoneTag: phoneTag(secret, result.phone).slice(0, 16) })
  return { ...session, phone: result.phone }
}

/** What a holder sees: the number's unexpired bindings (authoritative, sorted by app) and its log entries. */
export interface HolderOverview {
  phone: string
  bindings: Binding[]
  /** Newest first, at most {@link HOLDER_ENTRIES_SHOWN}. */
  entries: Change[]
  /** True when older entries exist beyond those shown. */
  more: boolean
}

/** Reads the holder's overview from the number's shard (the writer, not the eventually consistent projection). */
export async function holderOverview(env: Env, phone: string, now = Date.now()): Promise<HolderOverview> {
  const { rpc, shard, subject } = shardFor(env, phone)
  const [bindings, entries] = await Promise.all([rpc.bindingsOf(shard, subject, phone), rpc.history(shard, subject, HOLDER_ENTRIES_SHOWN + 1)])
  return {
    phone,
    bindings: bindings.filter((b) => b.expiresAt > now),
    entries: entries.slice(0, HOLDER_ENTRIES_SHOWN),
    more: entries.length > HOLDER_ENTRIES_SHOWN,
  }
}

/** Removes one binding of the holder's number, logged with reason `holder`; `404 binding_not_found` if there is none. */
export async function removeHolderBinding(env: Env, phone: string, app: string, log: Logger, now = Date.now()): Promise<{ index: number }> {
  const { rpc, shard, subject } = shardFor(env, phone)
  const removed = orRefuse(await rpc.unbind(shard, subject, app, 'holder', now))
  log.info('binding_removed_by_holder', { phoneTag: phoneTag(requireSecret(env, 'HMAC_SECRET'), phone).slice(0, 16), index: removed.index })
  return removed
}
