/**
 * The interface every SMS provider implements, and the one error type they throw.
 * @module
 */

/** A text message to one E.164 number. */
export interface SmsMessage {
  to: string
  body: string
}

/** Sends SMS; resolves with the provider's message id once the provider has accepted it. */
export interface SmsSender {
  send(message: SmsMessage): Promise<{ providerId: string }>
}

/**
 * Why a send failed:
 * - `undeliverable`: the provider refuses this number (not mobile, opted out, region blocked);
 * - `rejected`: the provider refuses the request itself (sender or account configuration);
 * - `unauthorized`: the provider rejects our credentials;
 * - `unavailable`: network failure, timeout, 5xx or 429; worth retrying later.
 */
export type SmsFailure = 'undeliverable' | 'rejected' | 'unauthorized' | 'unavailable'

export class SmsError extends Error {
  override readonly name = 'SmsError'
  constructor(
    readonly kind: SmsFailure,
    message: string,
    /** Seconds the provider asked us to wait, when it said. */
    readonly retryAfter?: number,
  ) {
    super(message)
  }
}
