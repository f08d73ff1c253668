/**
 * Phone numbers as people type them, normalised to E.164. Pure: shared with the mirror.
 * @module
 */
import { parsePhoneNumberFromString } from 'libphonenumber-js/max'

/** A number that passed validation, in E.164 form. */
export interface PhoneNumber {
  /** `+` and up to 15 digits, e.g. `+16505550011`. */
  e164: string
  /** The country calling code without `+`, e.g. `1`; used for per-country send caps. */
  countryCallingCode: string
}

/** Why an input is not a phone number; `message` is safe to show the caller. */
export class InvalidPhoneError extends Error {
  override readonly name = 'InvalidPhoneError'
}

const MAX_INPUT = 64
// What people type around digits: spaces, dots, dashes, slashes and parentheses.
const TYPED = /^\+[0-9\s().\-/]+$/

/**
 * Normalises `input` (`+1 (650) 555-0011`, `+16505550011`, ...) to E.164, or throws
 * {@link InvalidPhoneError}. The number must carry its country code and be a valid number for
 * that country according to libphonenumber's full metadata.
 */
export function normalizePhone(input: unknown): PhoneNumber {
  if (typeof input !== 'string') throw new InvalidPhoneError('phone must be a string')
  const text = input.trim()
  if (text.length === 0) throw new InvalidPhoneError('phone is empty')
  if (text.length > MAX_INPUT) throw new InvalidPhoneError(`phone is longer than ${MAX_INPUT} characters`)
  if (!TYPED.test(text)) {
    throw new InvalidPhoneError(
      'phone must start with + and its country code, followed by digits (spaces, dots, dashes and parentheses allowed)',
    )
  }
  // TYPED admits any whitespace as a separator, but libphonenumber only skips some of it (a tab,
  // a newline or U+202F between groups makes it see no number at all), so collapse runs first.
  const parsed = parsePhoneNumberFromString(text.replace(/\s+/g, ' '))
  if (!parsed || !parsed.isValid()) throw new InvalidPhoneError(`${text} is not a valid phone number`)
  return { e164: parsed.number, countryCallingCode: parsed.countryCallingCode }
}

/** True when `text` is already in canonical E.164 form and valid. */
export function isE164(text: string): boolean {
  if (!/^\+[1-9][0-9]{1,14}$/.test(text)) return false
  try {
    return normalizePhone(text).e164 === text
  } catch {
    return false
  }
}
