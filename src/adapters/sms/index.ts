/**
 * Picks the SMS provider named by SMS_PROVIDER.
 * @module
 */
import type { Env } from '../../env.ts'
import { ConfigError } from '../../core/refusals.ts'
import type { SmsSender } from './sender.ts'
import { TwilioSender } from './twilio.ts'

/** The one outbox instance (development only). */
export function outboxStub(env: Env) {
  return env.OUTBOX.get(env.OUTBOX.idFromName('outbox'))
}

/** The sender for this deployment; a ConfigError when SMS_PROVIDER is missing or unknown. */
export function smsSender(env: Env): SmsSender {
  switch (env.SMS_PROVIDER) {
    case 'outbox':
      return {
        async send({ to, body }) {
          const id = await outboxStub(env).record(to, body, Date.now())
          return { providerId: `outbox-${id}` }
        },
      }
    case 'twilio':
      try {
        return new TwilioSender({
          accountSid: env.TWILIO_ACCOUNT_SID ?? '',
          authToken: env.TWILIO_AUTH_TOKEN ?? '',
          from: env.TWILIO_FROM,
          messagingServiceSid: env.TWILIO_MESSAGING_SERVICE_SID,
          apiBase: env.TWILIO_API_BASE,
        })
      } catch (err) {
        throw new ConfigError(err instanceof Error ? err.message : String(err))
      }
    default:
      throw new ConfigError('SMS_PROVIDER must be "outbox" or "twilio"')
  }
}
