/**
 * Twilio's Messages REST API over `fetch`: a form-encoded POST to
 * `/2010-04-01/Accounts/{AccountSid}/Messages.json` with HTTP basic auth (Account SID and auth
 * token). Pure `fetch`, no platform imports, so it is tested in Node against a loopback server.
 * @module
 */
import { SmsError, type SmsMessage, type SmsSender } from './sender.ts'

/** Credentials and sender; exactly one of `from` and `messagingServiceSid` is needed. */
export interface TwilioConfig {
  accountSid: string
  authToken: string
  from?: string
  messagingServiceSid?: string
  /** Defaults to https://api.twilio.com. */
  apiBase?: string
  /** Per-request timeout; defaults to 10 s. */
  timeoutMs?: number
}

// Twilio error codes that mean "this number cannot get this SMS", not "our request is wrong".
// 21211 invalid To, 21214 To not reachable, 21408 region not enabled, 21610 recipient opted out,
// 21612 To not reachable from this sender, 21614 To is not a mobile number.
const UNDELIVERABLE = new Set([21211, 21214, 21408, 21610, 21612, 21614])

export class TwilioSender implements SmsSender {
  constructor(
    private readonly config: TwilioConfig,
    private readonly fetcher: typeof fetch = (input, init) => fetch(input, init),
  ) {
    if (!config.accountSid || !config.authToken) {
      throw new SmsError('rejected', 'TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN must be set')
    }
    if (!config.from && !config.messagingServiceSid) {
      throw new SmsError('rejected', 'TWILIO_FROM or TWILIO_MESSAGING_SERVICE_SID must be set')
    }
  }

  async send(message: SmsMessage): Promise<{ providerId: string }> {
    const { accountSid, authToken, from, messagingServiceSid } = this.config
    const base = (this.config.apiBase ?? 'https://api.twilio.com').replace(/\/+$/, '')
    const form = new URLSearchParams({ To: message.to, Body: message.body })
    if (messagingServiceSid) form.set('MessagingServiceSid', messagingServiceSid)
    else form.set('From', from!)
    let res: Response
    try {
      res = await this.fetcher(`${base}/2010-04-01/Accounts/${encodeURIComponent(accountSid)}/Messages.json`, {
        method: 'POST',
        headers: {
          Authorization: `Basic ${btoa(`${accountSid}:${authToken}`)}`,
          'Content-Type': 'application/x-www-form-urlencoded',
          Accept: 'application/json',
        },
        body: form.toString(),
        signal: AbortSignal.timeout(this.config.timeoutMs ?? 10_000),
      })
    } catch (err) {
      throw new SmsError('unavailable', `SMS provider unreachable: ${err instanceof Error ? err.message : String(err)}`)
    }
    const body = (await res.json().catch(() => null)) as { sid?: unknown; code?: unknown; message?: unknown } | null
    if (res.ok) {
      if (typeof body?.sid !== 'string') throw new SmsError('unavailable', 'SMS provider answered without a message sid')
      return { providerId: body.sid }
    }
    const code = typeof body?.code === 'number' ? body.code : undefined
    const detail = `SMS provider error ${res.status}${code ? ` (code ${code})` : ''}`
    if (res.status === 401 || res.status === 403) throw new SmsError('unauthorized', detail)
    if (res.status === 429 || res.status >= 500) {
      const retry = Number(res.headers.get('Retry-After'))
      throw new SmsError('unavailable', detail, Number.isFinite(retry) && retry > 0 ? retry : undefined)
    }
    if (code !== undefined && UNDELIVERABLE.has(code)) throw new SmsError('undeliverable', detail)
    throw new SmsError('rejected', detail)
  }
}
