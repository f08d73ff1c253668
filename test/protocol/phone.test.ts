/**
 * normalizePhone / isE164: every valid number, however people format it, normalises to one E.164
 * string; nothing else gets through, and nothing but InvalidPhoneError is ever thrown.
 */
import fc from 'fast-check'
import { getCountries, getExampleNumber, type CountryCode } from 'libphonenumber-js/max'
import examples from 'libphonenumber-js/mobile/examples'
import { describe, expect, it } from 'vitest'
import { InvalidPhoneError, isE164, normalizePhone, type PhoneNumber } from '../../src/protocol/phone.ts'

const E164_SHAPE = /^\+[1-9][0-9]{1,14}$/

interface Example {
  country: CountryCode
  e164: string
  countryCallingCode: string
  nationalNumber: string
}

/** libphonenumber's example mobile number for every country it knows. */
const EXAMPLES: Example[] = getCountries().flatMap((country) => {
  const number = getExampleNumber(country, examples)
  return number
    ? [{ country, e164: number.number, countryCallingCode: number.countryCallingCode, nationalNumber: number.nationalNumber }]
    : []
})

/** Calls normalizePhone and checks that any throw is an InvalidPhoneError. */
function attempt(input: unknown): PhoneNumber | InvalidPhoneError {
  try {
    return normalizePhone(input)
  } catch (err) {
    expect(err).toBeInstanceOf(InvalidPhoneError)
    expect((err as Error).name).toBe('InvalidPhoneError')
    expect((err as Error).message.length).toBeGreaterThan(0)
    return err as InvalidPhoneError
  }
}

/** What a valid result must look like, whatever the input was. */
function expectWellFormed(result: PhoneNumber) {
  expect(Object.keys(result).sort()).toEqual(['countryCallingCode', 'e164'])
  expect(result.e164).toMatch(E164_SHAPE)
  expect(result.countryCallingCode).toMatch(/^[1-9][0-9]{0,2}$/)
  expect(result.e164.startsWith(`+${result.countryCallingCode}`)).toBe(true)
  expect(isE164(result.e164)).toBe(true)
  // Idempotent: the canonical form normalises to itself.
  expect(normalizePhone(result.e164)).toEqual(result)
}

// Separators people put between digit groups: spaces (including the non-breaking and narrow
// no-break spaces that copy-paste brings), dots, dashes, slashes, tabs, or nothing.
const separator = fc.constantFrom('', ' ', ' ', '  ', '.', '-', ' - ', '/', '\u00a0', '\u202f', '\t')
const padding = fc.constantFrom('', ' ', '  ', '\t', '\n', ' \r\n', '\u00a0', '\u3000')

/**
 * One way of typing `example`: `+`, maybe a space, the country code (maybe in parentheses), then
 * the national number cut into groups, each maybe in parentheses, joined by separators, all
 * maybe padded with whitespace.
 */
function typed(example: Example): fc.Arbitrary<string> {
  const digits = example.nationalNumber
  return fc
    .record({
      afterPlus: fc.constantFrom('', ' '),
      ccInParens: fc.boolean(),
      afterCc: separator,
      cuts: fc.array(fc.boolean(), { minLength: digits.length - 1, maxLength: digits.length - 1 }),
      seps: fc.array(separator, { minLength: digits.length, maxLength: digits.length }),
      parens: fc.array(fc.boolean(), { minLength: digits.length, maxLength: digits.length }),
      before: padding,
      after: padding,
    })
    .map(({ afterPlus, ccInParens, afterCc, cuts, seps, parens, before, after }) => {
      const groups: string[] = []
      let current = digits[0]!
      for (let i = 1; i < digits.length; i++) {
        if (cuts[i - 1]) {
          groups.push(current)
          current = ''
        }
        current += digits[i]
      }
      groups.push(current)
      const national = groups.map((g, i) => (parens[i] ? `(${g})` : g)).reduce((acc, g, i) => acc + seps[i] + g)
      const cc = ccInParens ? `(${example.countryCallingCode})` : example.countryCallingCode
      return `${before}+${afterPlus}${cc}${afterCc}${national}${after}`
    })
    .filter((text) => text.trim().length <= 64)
}

const typedExample = fc.constantFrom(...EXAMPLES).chain((example) => typed(example).map((text) => ({ example, text })))

describe('valid numbers, however they are typed', () => {
  it('covers every country libphonenumber has an example for', () => {
    expect(EXAMPLES.length).toBeGreaterThan(200)
    expect(EXAMPLES.map((e) => e.country)).toEqual(expect.arrayContaining(['US', 'GB', 'DE', 'FR', 'JP', 'IN', 'BR', 'NG']))
  })

  it('each example number, in E.164 and in libphonenumber\'s own formats, normalises to itself', () => {
    for (const example of EXAMPLES) {
      const expected = { e164: example.e164, countryCallingCode: example.countryCallingCode }
      const number = getExampleNumber(example.country, examples)!
      for (const text of [example.e164, number.formatInternational(), number.format('RFC3966').replace(/^tel:/, '')]) {
        expect({ country: example.country, text, result: normalizePhone(text) }).toEqual({ country: example.country, text, result: expected })
      }
      expect(isE164(example.e164)).toBe(true)
    }
  })

  it('any spacing, dots, dashes, slashes, parentheses and padding normalise to the same E.164 (property)', () => {
    fc.assert(
      fc.property(typedExample, ({ example, text }) => {
        const result = normalizePhone(text)
        expect(result).toEqual({ e164: example.e164, countryCallingCode: example.countryCallingCode })
        expectWellFormed(result)
        // The formatted text itself is not canonical unless it is exactly the E.164 string.
        expect(isE164(text)).toBe(text === example.e164)
      }),
      { numRuns: 2_000 },
    )
  })

  it('two different typings of the same number agree (property)', () => {
    const pair = fc.constantFrom(...EXAMPLES).chain((example) => fc.tuple(typed(example), typed(example)))
    fc.assert(
      fc.property(pair, ([a, b]) => {
        expect(normalizePhone(a)).toEqual(normalizePhone(b))
      }),
      { numRuns: 500 },
    )
  })
})

describe('arbitrary input', () => {
  const phoneish = fc
    .tuple(
      fc.constantFrom('', '+', '+', '++', ' +'),
      fc.string({ unit: fc.constantFrom(...'0123456789012345678901234567890123456789 ().-/+x#*;,\t\u00a0\u202f'), maxLength: 40 }),
    )
    .map(([prefix, rest]) => prefix + rest)
  const digitsOnly = fc.string({ unit: fc.constantFrom(...'0123456789'), minLength: 0, maxLength: 18 }).map((d) => `+${d}`)
  const anyString = fc.oneof(
    fc.string({ unit: 'binary', maxLength: 80 }),
    fc.string({ unit: 'grapheme', maxLength: 80 }),
    phoneish,
    digitsOnly,
  )

  it('strings never throw anything but InvalidPhoneError, and never yield a non-E.164 (property)', () => {
    fc.assert(
      fc.property(anyString, (text) => {
        const result = attempt(text)
        if (!(result instanceof InvalidPhoneError)) expectWellFormed(result)
      }),
      { numRuns: 5_000 },
    )
  })

  it('isE164 never throws, and holds exactly for canonical valid numbers (property)', () => {
    fc.assert(
      fc.property(anyString, (text) => {
        const canonical = isE164(text)
        const result = attempt(text)
        expect(canonical).toBe(!(result instanceof InvalidPhoneError) && result.e164 === text)
        if (canonical) expect(text).toMatch(E164_SHAPE)
      }),
      { numRuns: 5_000 },
    )
  })

  it('non-strings are rejected with InvalidPhoneError (property)', () => {
    fc.assert(
      fc.property(
        fc.anything().filter((v) => typeof v !== 'string'),
        (value) => {
          expect(() => normalizePhone(value)).toThrow(InvalidPhoneError)
        },
      ),
      { numRuns: 500 },
    )
  })
})

describe('specific numbers', () => {
  it.each([
    ['+1 (650) 555-0011', '+16505550011', '1'],
    ['+16505550011', '+16505550011', '1'],
    ['  +1 650.555.0011\n', '+16505550011', '1'],
    ['+1-650-555-0011', '+16505550011', '1'],
    ['+1\t650\t555\t0011', '+16505550011', '1'],
    ['+44 20 7946 0958', '+442079460958', '44'],
    ['+44 (0) 20 7946 0958', '+442079460958', '44'],
    ['+49 30 901820', '+4930901820', '49'],
    ['+81 3-1234-5678', '+81312345678', '81'],
    ['+33 1 23 45 67 89', '+33123456789', '33'],
    ['+33\u202f6\u202f12\u202f34\u202f56\u202f78', '+33612345678', '33'],
    ['+61 2 9876 5432', '+61298765432', '61'],
    ['+1 242 359 1234', '+12423591234', '1'], // the Bahamas share +1
    ['+7 912 345-67-89', '+79123456789', '7'],
    ['+358 40 1234567', '+358401234567', '358'],
  ])('%j → %s (country code %s)', (input, e164, countryCallingCode) => {
    expect(normalizePhone(input)).toEqual({ e164, countryCallingCode })
    expect(isE164(e164)).toBe(true)
  })

  it.each([
    ['empty', ''],
    ['whitespace only', '   '],
    ['tabs and newlines only', '\t\n'],
    ['no plus', '6505550011'],
    ['national format', '(650) 555-0011'],
    ['too short', '+1 555'],
    ['country code 0', '+0 123'],
    ['unassigned country code', '+999 123 456 789'],
    ['too long', '+1 650 555 00111'],
    ['letters', '+1 650 CALL NOW'],
    ['vanity letters', '+1-800-FLOWERS'],
    ['only letters', 'abc'],
    ['an extension', '+1 650 555 0011 ext 5'],
    ['an x extension', '+1 650 555 0011 x5'],
    ['an RFC 3966 extension', '+1-650-555-0011;ext=5'],
    ['a tel: URI', 'tel:+16505550011'],
    ['two pluses', '++16505550011'],
    ['a plus in the middle', '+1 650 +555 0011'],
    ['full-width digits', '＋１６５０５５５００１１'],
    ['a second number after a slash', '+1 650 555 0011 / 1234'],
    ['trailing digits in parentheses', '+1 650 555 0011 (1234)'],
    ['65 characters', `+1${' '.repeat(53)}6505550011`],
    ['a megabyte', `+1${'5'.repeat(1_000_000)}`],
  ])('rejects %s', (_name, input) => {
    expect(() => normalizePhone(input)).toThrow(InvalidPhoneError)
    expect(isE164(input)).toBe(false)
  })

  it('rejects over 64 characters, but not 62 characters of the same number', () => {
    const long = `+1${' '.repeat(53)}6505550011`
    expect(long).toHaveLength(65)
    expect(() => normalizePhone(long)).toThrow(/longer than 64 characters/)
    const shorter = `+1${' '.repeat(50)}6505550011`
    expect(normalizePhone(shorter).e164).toBe('+16505550011')
  })

  it.each([
    ['null', null],
    ['undefined', undefined],
    ['a number', 16505550011],
    ['an object', {}],
    ['an object with e164', { e164: '+16505550011' }],
    ['an array', ['+16505550011']],
    ['a boxed string', new String('+16505550011')],
  ])('rejects %s with "phone must be a string"', (_name, input) => {
    expect(() => normalizePhone(input)).toThrow(new InvalidPhoneError('phone must be a string'))
  })

  it('says why in the message', () => {
    expect(() => normalizePhone('')).toThrow('phone is empty')
    expect(() => normalizePhone('6505550011')).toThrow(/must start with \+/)
    expect(() => normalizePhone('+1 555')).toThrow('+1 555 is not a valid phone number')
  })

  it('isE164 rejects formatted, padded and non-canonical forms of a valid number', () => {
    expect(isE164('+16505550011')).toBe(true)
    for (const text of ['+1 650 555 0011', ' +16505550011', '+16505550011 ', '16505550011', '+1(650)5550011', '+4402079460958', '']) {
      expect(isE164(text)).toBe(false)
    }
  })
})
