/**
 * Holder sessions in KV: what a person gets after proving a number on the self-service page
 * (or through /v1/holder). The token carries 256 random bits and is stored only as its
 * SHA-256; the value names the number and the session's end. A session is written and then
 * read in the same location (the one that served the check), where KV is read-your-writes;
 * a sign-out reaches other locations within KV's propagation window (about 60 s).
 * @module
 */
import { sha256Hex } from '../crypto.ts'
import { toBase64Url } from '../protocol/bytes.ts'

/** How long a holder session lasts. */
export const HOLDER_SESSION_TTL_MS = 30 * 60_000
/** Prefix of holder session tokens, so secret scanners and people can recognise one. */
export const HOLDER_TOKEN_PREFIX = 'whodis_holder_'

/** The KV value of a session. */
export interface HolderSession {
  v: 1
  phone: string
  /** Epoch ms. */
  expiresAt: number
}

/** KV key of a holder session, by the SHA-256 hex of its token. */
export const holderKey = (tokenHash: string) => `holder:${tokenHash}`

// Tokens are the prefix and 43 base64url characters (32 bytes); anything else is not looked up.
const TOKEN = /^whodis_holder_[A-Za-z0-9_-]{43}$/

/** Creates a session for `phone`; returns the token (shown once) and when it ends. */
export async function createHolderSession(
  kv: KVNamespace,
  phone: string,
  now: number,
): Promise<{ token: string; tokenHash: string; expiresAt: number }> {
  const token = HOLDER_TOKEN_PREFIX + toBase64Url(crypto.getRandomValues(new Uint8Array(32)))
  const tokenHash = sha256Hex(token)
  const expiresAt = now + HOLDER_SESSION_TTL_MS
  const value: HolderSession = { v: 1, phone, expiresAt }
  await kv.put(holderKey(tokenHash), JSON.stringify(value), { expiration: Math.ceil(expiresAt / 1000) })
  return { token, tokenHash, expiresAt }
}

/** The live session of a token, or null (unknown, malformed, ended or signed out). */
export async function readHolderSession(
  kv: KVNamespace,
  token: string | undefined,
  now: number,
): Promise<{ phone: string; tokenHash: string; expiresAt: number } | null> {
  if (!token || !TOKEN.test(token)) return null
  const tokenHash = sha256Hex(token)
  const value = await kv.get<HolderSession>(holderKey(tokenHash), 'json')
  // KV expiration is not instantaneous: the stored end time is the authority.
  if (!value || value.v !== 1 || typeof value.phone !== 'string' || !(value.expiresAt > now)) return null
  return { phone: value.phone, tokenHash, expiresAt: value.expiresAt }
}

/** Ends a session. */
export async function deleteHolderSession(kv: KVNamespace, tokenHash: string): Promise<void> {
  await kv.delete(holderKey(tokenHash))
}
