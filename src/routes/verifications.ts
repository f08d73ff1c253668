/**
 * SMS verification: an app starts a challenge for a number, the person reads the code, the app
 * checks it; a right code records the binding through the Sequencer.
 * @module
 */
import { createRoute, OpenAPIHono, z } from '@hono/zod-openapi'
import { smsSender } from '../adapters/sms/index.ts'
import { SmsError } from '../adapters/sms/sender.ts'
import { newOtpCode, otpMac, phoneTag, randomHex } from '../crypto.ts'
import { bindAll } from '../directory.ts'
import { checkChallenge, phoneChallenge, takeLimit } from '../durable-objects/stubs.ts'
import { readLimits, requireSecret, type AppEnv } from '../env.ts'
import { ApiError, orRefuse, rateLimited } from '../errors.ts'
import { requireApp } from '../middleware/auth.ts'
import { Binding, errors, isoSeconds, parsePhone, parsePublicKey, Phone } from './schemas.ts'
import { validationHook } from './validation.ts'

export const verifications = new OpenAPIHono<AppEnv>({ defaultHook: validationHook })
verifications.use('/v1/verifications', requireApp)
verifications.use('/v1/verifications/*', requireApp)

const security = [{ appToken: [] }]
// A challenge id is the per-number object's id (64 hex) followed by 128 random bits (32 hex).

verifications.openapi(
  createRoute({
    method: 'post',
    path: '/v1/verifications',
    operationId: 'startVerification',
    tags: ['verifications'],
    summary: 'Send a one-time code by SMS to a number',
    security,
    request: {
      body: {
        required: true,
        content: {
          'application/json': {
            schema: z.object({
              phone: Phone,
              publicKey: z
                .string()
                .max(2048)
                .optional()
                .openapi({
                  description:
                    "the person's own public key in this app (e.g. their messaging identity key): base64 or base64url of 32 to 1,024 bytes. The binding and credential carry it; the log entry only its SHA-256",
                }),
            }),
          },
        },
      },
    },
    responses: {
      201: {
        description: 'code sent',
        content: { 'application/json': { schema: z.object({ id: z.string(), expiresAt: z.string() }) } },
      },
      ...errors(
        'invalid_request',
        'malformed_json',
        'invalid_phone',
        'invalid_public_key',
        'unauthorized',
        'body_too_large',
        'unsupported_media_type',
        'sms_undeliverable',
        'rate_limited',
        'sms_provider_error',
        'sms_unavailable',
        'not_configured',
      ),
    },
  }),
  async (c) => {
    const body = c.req.valid('json')
    const phone = parsePhone(body.phone)
    const publicKey = parsePublicKey(body.publicKey)
    const secret = requireSecret(c.env, 'HMAC_SECRET')
    const limits = readLimits(c.env)
    const sms = smsSender(c.env)
    const app = c.var.app
    const tag = phoneTag(secret, phone.e164).slice(0, 16)

    await takeLimit(c.env, `sms-app:${app.id}`, limits.smsPerAppMinute, 60_000, 'too many codes sent by this app')
    await takeLimit(
      c.env,
      `sms-cc:${phone.countryCallingCode}`,
      limits.smsPerCountryMinute,
      60_000,
      `too many codes sent to +${phone.countryCallingCode} numbers`,
    )

    const challenge = phoneChallenge(c.env, secret, phone.e164)
    const id = challenge.id.toString() + randomHex(16)
    const code = newOtpCode()
    const started = await challenge.start({
      id,
      app: app.id,
      phone: phone.e164,
      publicKey,
      codeMac: otpMac(secret, id, code),
      now: Date.now(),
      budget: 'app',
      perHour: limits.smsPerNumberHour,
      perDay: limits.smsPerNumberDay,
    })
    if (!started.ok) {
      c.var.log.warn('sms_capped', { phoneTag: tag, window: started.window })
      throw rateLimited(`too many codes sent to this number in the last ${started.window}`, started.retryAfterMs)
    }

    try {
      await sms.send({ to: phone.e164, body: `${app.name} code: ${code}` })
    } catch (err) {
      await challenge.cancel(id)
      throw smsFailure(err, c.var.log, tag)
    }
    c.var.log.info('verification_started', { phoneTag: tag, country: phone.countryCallingCode })
    return c.json({ id, expiresAt: isoSeconds(started.expiresAt) }, 201)
  },
)

verifications.openapi(
  createRoute({
    method: 'post',
    path: '/v1/verifications/{id}/check',
    operationId: 'checkVerification',
    tags: ['verifications'],
    summary: 'Check a code; a right one records the binding',
    security,
    request: {
      params: z.object({ id: z.string() }),
      body: {
        required: true,
        content: {
          'application/json': { schema: z.object({ code: z.string().regex(/^[0-9]{6}$/, 'code must be 6 digits') }) },
        },
      },
    },
    responses: {
      200: {
        description: 'verified; the binding is recorded',
        content: {
          'application/json': {
            schema: z.object({
              binding: Binding,
              index: z.number().openapi({ description: 'log index of the entry that recorded the binding' }),
              credential: z.string().openapi({ description: 'signed note (whodis.credential/v1) binding number, app and key; verify offline with the log key' }),
              receipt: z.string().openapi({ description: 'C2SP tlog-proof: the entry index, its inclusion proof and the signed checkpoint' }),
            }),
          },
        },
      },
      ...errors(
        'invalid_request',
        'malformed_json',
        'unauthorized',
        'verification_not_found',
        'verification_expired',
        'verification_exhausted',
        'binding_removed',
        'body_too_large',
        'unsupported_media_type',
        'wrong_code',
        'log_unavailable',
        'not_configured',
      ),
    },
  }),
  async (c) => {
    const { id } = c.req.valid('param')
    const { code } = c.req.valid('json')
    const secret = requireSecret(c.env, 'HMAC_SECRET')
    const app = c.var.app
    const result = await checkChallenge(c.env, id, app.id, (challenge) => otpMac(secret, challenge, code), Date.now())

    const limits = readLimits(c.env)
    const [outcome] = await bindAll(c.env, [
      { phone: result.phone, app: app.num, appId: app.id, publicKey: result.publicKey, verificationId: id, now: Date.now(), ttlDays: limits.bindingTtlDays },
    ])
    const bound = orRefuse(outcome!)
    c.var.log.info('binding_recorded', { phoneTag: phoneTag(secret, result.phone).slice(0, 16), op: bound.op, index: bound.index })
    const b = bound.binding
    return c.json(
      {
        binding: {
          phone: b.phone,
          app: b.app,
          verifiedAt: isoSeconds(b.verifiedAt),
          expiresAt: isoSeconds(b.expiresAt),
          ...(b.publicKey ? { publicKey: b.publicKey } : {}),
        },
        index: bound.index,
        credential: bound.credential,
        receipt: bound.receipt,
      },
      200,
    )
  },
)

/** Maps an SMS provider failure to the error the caller sees (and logs it without the number). */
export function smsFailure(err: unknown, log: AppEnv['Variables']['log'], tag: string): ApiError {
  if (!(err instanceof SmsError)) throw err
  log.warn('sms_failed', { phoneTag: tag, kind: err.kind, detail: err.message })
  switch (err.kind) {
    case 'undeliverable':
      return new ApiError(422, 'sms_undeliverable', 'the SMS provider cannot deliver to this number')
    case 'unavailable':
      return new ApiError(503, 'sms_unavailable', 'the SMS provider is unavailable; try again later', {}, err.retryAfter ?? 30)
    default:
      return new ApiError(502, 'sms_provider_error', 'the SMS provider refused the request')
  }
}
