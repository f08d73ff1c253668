/**
 * Secrets, tokens and codes. Tokens and OTP codes are stored only as hashes or MACs; every
 * comparison of them is constant-time.
 * @module
 */
import { hmac } from '@noble/hashes/hmac.js'
import { sha256 } from '@noble/hashes/sha2.js'
import { constantTimeEqual, fromHex, toBase64Url, toHex, utf8 } from './protocol/bytes.ts'

/** Prefix of app tokens, so secret scanners and people can recognise one. */
export const APP_TOKEN_PREFIX = 'whodis_app_'

/** SHA-256 of a UTF-8 string, hex. */
export function sha256Hex(text: string): string {
  return toHex(sha256(utf8(text)))
}

/** HMAC-SHA-256 of `message` under `secret`, hex. Domain-separate callers by message prefix. */
export function hmacHex(secret: string, message: string): string {
  return toHex(hmac(sha256, utf8(secret), utf8(message)))
}

/** Constant-time equality of two hex digests of equal length. */
export function digestsEqual(aHex: string, bHex: string): boolean {
  if (aHex.length !== bHex.length) return false
  return constantTimeEqual(fromHex(aHex), fromHex(bHex))
}

/** A new app token: 256 random bits, base64url, with {@link APP_TOKEN_PREFIX}. */
export function newAppToken(): string {
  return APP_TOKEN_PREFIX + toBase64Url(crypto.getRandomValues(new Uint8Array(32)))
}

/** `n` random bytes as hex. */
export function randomHex(n: number): string {
  return toHex(crypto.getRandomValues(new Uint8Array(n)))
}

/** A uniformly random 6-digit code from the CSPRNG (rejection sampling, no modulo bias). */
export function newOtpCode(): string {
  const limit = Math.floor(0x1_0000_0000 / 1_000_000) * 1_000_000
  const buf = new Uint32Array(1)
  for (;;) {
    crypto.getRandomValues(buf)
    if (buf[0]! < limit) return String(buf[0]! % 1_000_000).padStart(6, '0')
  }
}

/** The MAC stored for an OTP code: bound to its challenge so a MAC is useless elsewhere. */
export function otpMac(secret: string, challengeId: string, code: string): string {
  return hmacHex(secret, `whodis otp v1\n${challengeId}\n${code}`)
}

/** A stable, keyed tag of a number for logs and object names; never reversible without the secret. */
export function phoneTag(secret: string, e164: string): string {
  return hmacHex(secret, `whodis phone v1\n${e164}`)
}

/** A keyed tag of a client address (see src/client-address.ts) for per-client limit keys, so no address is stored. */
export function clientTag(secret: string, address: string): string {
  return hmacHex(secret, `whodis client v1\n${address}`).slice(0, 32)
}

/**
 * What a CSRF token is bound to: a pre-session cookie, a pending challenge, a holder session, or
 * a holder session together with the one app its confirmed removal names.
 */
export type CsrfPurpose = 'start' | 'challenge' | 'session' | 'remove'

/** The CSRF token of a form: a MAC of the cookie-held value it is bound to, so only a page this origin rendered for that browser has it. */
export function csrfToken(secret: string, purpose: CsrfPurpose, boundTo: string): string {
  return hmacHex(secret, `whodis csrf v1\n${purpose}\n${boundTo}`)
}

/** Checks a submitted CSRF token in constant time. */
export function csrfValid(secret: string, purpose: CsrfPurpose, boundTo: string, submitted: unknown): boolean {
  return typeof submitted === 'string' && /^[0-9a-f]{64}$/.test(submitted) && digestsEqual(submitted, csrfToken(secret, purpose, boundTo))
}
