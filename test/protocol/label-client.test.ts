/**
 * The label client (src/protocol/label-client.ts) against two in-process fake operators, each a
 * fetch handler that evaluates with its own share: honest ones give the whole key's labels, in
 * chunks, with the same blinded elements at both; a lying, exhausted or failing one gives its
 * typed LabelError and never a label.
 */
import { ristretto255 } from '@noble/curves/ed25519.js'
import { describe, expect, it } from 'vitest'
import { toBase64Url } from '../../src/protocol/bytes.ts'
import { LabelError, operatorKey, resolveLabels, type Fetch, type Operator } from '../../src/protocol/label-client.ts'
import {
  OPRF_SUITE,
  addShares,
  decodeElement,
  encodeElement,
  evaluateBatch,
  generateKeyShare,
  keyShareFromSecret,
  labelWithKey,
  type KeyShare,
} from '../../src/protocol/oprf.ts'

const DIRECTORY = 'https://directory.test'
const HOLDER = 'https://holder.test/'
const share = () => keyShareFromSecret(generateKeyShare().secretHex)
const K1 = share()
const K2 = share()
const OTHER = share()
const WHOLE = addShares(K1.secretKey, K2.secretKey)
const NUMBERS = ['+16505550011', '+447700900123', '+33612345678', '+4915112345678', '+819012345678']

/** How a fake operator answers a well-formed request. */
type Behaviour = (answer: { evaluations: string[]; proof: string }, elements: Uint8Array[]) => Response

const honest: Behaviour = (answer) => Response.json(answer)

interface Seen {
  url: string
  authorization: string | null
  body: string
}

/** One fake operator: checks its token, evaluates with `key` and answers through `behave`. */
function fakeOperator(url: string, key: KeyShare, token: string, behave: Behaviour = honest, seen: Seen[] = [], inFlight = { now: 0, max: 0 }) {
  const base = url.replace(/\/$/, '')
  const handle = async (path: string, init?: RequestInit): Promise<Response> => {
    if (path === '/.well-known/whodis-oprf') return Response.json({ suite: OPRF_SUITE, publicKey: encodeElement(key.publicKey) })
    if (path !== '/v1/evaluate' || init?.method !== 'POST') return new Response('not found', { status: 404 })
    const authorization = new Headers(init.headers).get('authorization')
    seen.push({ url: base + path, authorization, body: String(init.body) })
    if (authorization !== `Bearer ${token}`) return Response.json({ error: { code: 'unauthorized', message: 'bad token' } }, { status: 401 })
    inFlight.now++
    inFlight.max = Math.max(inFlight.max, inFlight.now)
    // Let the other requests in flight start before answering.
    await new Promise((r) => setTimeout(r, 1))
    inFlight.now--
    const elements = (JSON.parse(String(init.body)) as { elements: string[] }).elements.map(decodeElement)
    const { evaluations, proof } = evaluateBatch(key, elements)
    return behave({ evaluations: evaluations.map(encodeElement), proof: toBase64Url(proof) }, elements)
  }
  return { base, handle, operator: { url, token, publicKey: key.publicKey } satisfies Operator, seen, inFlight }
}

/** A fetch that routes to the fake operators by URL. */
function network(...fakes: ReturnType<typeof fakeOperator>[]): Fetch {
  return async (url, init) => {
    const fake = fakes.find((f) => url.startsWith(f.base + '/'))
    if (!fake) throw new TypeError('fetch failed')
    return fake.handle(url.slice(fake.base.length), init)
  }
}

function pair(behaveA: Behaviour = honest, behaveB: Behaviour = honest) {
  const a = fakeOperator(DIRECTORY, K1, 'token-a', behaveA)
  const b = fakeOperator(HOLDER, K2, 'token-b', behaveB)
  return { a, b, operators: [a.operator, b.operator] as [Operator, Operator], fetch: network(a, b) }
}

/** Expects `promise` to reject with LabelError(code) naming `operator`; returns the error. */
async function rejects(promise: Promise<unknown>, code: LabelError['code'], operator: string): Promise<LabelError> {
  const err = await promise.then(
    (value) => {
      throw new Error(`expected LabelError(${code}), got ${JSON.stringify(value instanceof Map ? [...value] : value)}`)
    },
    (e: unknown) => e,
  )
  expect(err).toBeInstanceOf(LabelError)
  expect((err as LabelError).code).toBe(code)
  expect((err as LabelError).operator).toBe(operator)
  return err as LabelError
}

describe('resolveLabels with honest operators', () => {
  it("gives the whole key's label for each number, duplicates included", async () => {
    const { operators, fetch } = pair()
    const labels = await resolveLabels([...NUMBERS, NUMBERS[0]!], operators, { fetch })
    expect([...labels.keys()].sort()).toEqual([...NUMBERS].sort())
    for (const n of NUMBERS) expect(labels.get(n)).toBe(labelWithKey(WHOLE, n))
  })

  it('sends the same blinded elements to both, in chunks, with at most inFlight chunks at a time', async () => {
    const { a, b, operators, fetch } = pair()
    const many = Array.from({ length: 23 }, (_, i) => `+1650555${String(1000 + i)}`)
    const labels = await resolveLabels(many, operators, { fetch, chunk: 5, inFlight: 2 })
    expect(labels.size).toBe(23)
    for (const n of many) expect(labels.get(n)).toBe(labelWithKey(WHOLE, n))
    expect(a.seen.map((s) => (JSON.parse(s.body) as { elements: string[] }).elements.length)).toEqual([5, 5, 5, 5, 3])
    expect(new Set(a.seen.map((s) => s.body))).toEqual(new Set(b.seen.map((s) => s.body)))
    expect(a.inFlight.max).toBe(2)
    expect(b.inFlight.max).toBe(2)
    // Each token goes to its own operator only; no number appears in any request.
    expect(a.seen.every((s) => s.authorization === 'Bearer token-a' && s.url === `${DIRECTORY}/v1/evaluate`)).toBe(true)
    expect(b.seen.every((s) => s.authorization === 'Bearer token-b' && s.url === 'https://holder.test/v1/evaluate')).toBe(true)
    for (const s of [...a.seen, ...b.seen]) for (const n of many) expect(s.body).not.toContain(n.slice(1))
  })

  it('asks nothing for no numbers', async () => {
    const { a, operators, fetch } = pair()
    expect((await resolveLabels([], operators, { fetch })).size).toBe(0)
    expect(a.seen).toEqual([])
  })

  it('refuses a bad chunk size and a non-E.164 number before asking', async () => {
    const { a, operators, fetch } = pair()
    await expect(resolveLabels(NUMBERS, operators, { fetch, chunk: 0 })).rejects.toThrow(RangeError)
    await expect(resolveLabels(['+1 650 555 0011'], operators, { fetch })).rejects.toThrow(TypeError)
    expect(a.seen).toEqual([])
  })
})

describe('resolveLabels with a lying or failing operator', () => {
  const cases: [string, Behaviour, LabelError['code']][] = [
    [
      'evaluates with another key (and proves it)',
      (_, elements) => {
        const other = evaluateBatch(OTHER, elements)
        return Response.json({ evaluations: other.evaluations.map(encodeElement), proof: toBase64Url(other.proof) })
      },
      'proof_invalid',
    ],
    ['swaps two evaluations', (ans) => Response.json({ ...ans, evaluations: [ans.evaluations[1], ans.evaluations[0], ...ans.evaluations.slice(2)] }), 'proof_invalid'],
    [
      'tampers with an evaluation',
      (ans) => Response.json({ ...ans, evaluations: [encodeElement(ristretto255.Point.fromBytes(decodeElement(ans.evaluations[0]!)).add(ristretto255.Point.BASE).toBytes()), ...ans.evaluations.slice(1)] }),
      'proof_invalid',
    ],
    ['answers short', (ans) => Response.json({ ...ans, evaluations: ans.evaluations.slice(1) }), 'bad_answer'],
    ['answers the identity', (ans) => Response.json({ ...ans, evaluations: [toBase64Url(new Uint8Array(32)), ...ans.evaluations.slice(1)] }), 'bad_answer'],
    ['answers without a proof', (ans) => Response.json({ evaluations: ans.evaluations }), 'bad_answer'],
    ['answers a short proof', (ans) => Response.json({ ...ans, proof: ans.proof.slice(0, 80) }), 'bad_answer'],
    ['answers garbage', () => new Response('<html>hello</html>', { status: 200 }), 'bad_answer'],
    ['answers a JSON array', () => Response.json([1, 2, 3]), 'bad_answer'],
    ['answers 400', () => Response.json({ error: { code: 'bad_request', message: 'no' } }, { status: 400 }), 'bad_answer'],
    ['answers 500', () => new Response('oops', { status: 500 }), 'operator_unavailable'],
    ['answers 503', () => new Response('down', { status: 503 }), 'operator_unavailable'],
    ['answers 403', () => new Response('no', { status: 403 }), 'unauthorized'],
  ]
  for (const [what, behave, code] of cases) {
    it(`the key holder ${what}: ${code}`, async () => {
      const { operators, fetch } = pair(honest, behave)
      await rejects(resolveLabels(NUMBERS, operators, { fetch }), code, HOLDER)
    })
    it(`the directory ${what}: ${code}`, async () => {
      const { operators, fetch } = pair(behave, honest)
      await rejects(resolveLabels(NUMBERS, operators, { fetch }), code, DIRECTORY)
    })
  }

  it('429 gives evaluations_exhausted with the Retry-After seconds', async () => {
    const { operators, fetch } = pair(honest, () => Response.json({ error: { code: 'evaluations_exhausted', message: 'later' } }, { status: 429, headers: { 'retry-after': '120' } }))
    const err = await rejects(resolveLabels(NUMBERS, operators, { fetch }), 'evaluations_exhausted', HOLDER)
    expect(err.retryAfter).toBe(120)
    const noHeader = pair(() => new Response(null, { status: 429 }))
    expect((await rejects(resolveLabels(NUMBERS, noHeader.operators, { fetch: noHeader.fetch }), 'evaluations_exhausted', DIRECTORY)).retryAfter).toBeUndefined()
  })

  it('a wrong token gives unauthorized', async () => {
    const { operators, fetch } = pair()
    await rejects(resolveLabels(NUMBERS, [operators[0], { ...operators[1], token: 'stolen' }], { fetch }), 'unauthorized', HOLDER)
  })

  it('an unreachable operator gives operator_unavailable', async () => {
    const { operators, fetch } = pair()
    await rejects(resolveLabels(NUMBERS, [operators[0], { ...operators[1], url: 'https://nowhere.test' }], { fetch }), 'operator_unavailable', 'https://nowhere.test')
  })

  it("a key pinned for the other operator makes the honest operator's proof fail", async () => {
    const { operators, fetch } = pair()
    await rejects(resolveLabels(NUMBERS, [{ ...operators[0], publicKey: OTHER.publicKey }, operators[1]], { fetch }), 'proof_invalid', DIRECTORY)
  })

  it('refuses one key pinned for both operators: one share answering as both would yield labels', async () => {
    // The directory alone (k1) answers at both URLs with valid proofs against its own key.
    const a = fakeOperator(DIRECTORY, K1, 'token-a')
    const b = fakeOperator(HOLDER, K1, 'token-b')
    const both = resolveLabels(NUMBERS, [a.operator, b.operator], { fetch: network(a, b) })
    await expect(both).rejects.toMatchObject({ name: 'OprfError', code: 'invalid_key' })
    expect(a.seen.length + b.seen.length).toBe(0)
  })

  it('a failure in one chunk stops the others from being sent', async () => {
    let calls = 0
    const { b, operators, fetch } = pair(honest, (ans) => (++calls === 2 ? new Response('oops', { status: 500 }) : Response.json(ans)))
    const many = Array.from({ length: 40 }, (_, i) => `+1650555${String(2000 + i)}`)
    await rejects(resolveLabels(many, operators, { fetch, chunk: 2, inFlight: 1 }), 'operator_unavailable', HOLDER)
    expect(b.seen.length).toBe(2)
  })

  it("the caller's abort signal is rethrown as is", async () => {
    const { operators, fetch } = pair()
    const controller = new AbortController()
    const reason = new Error('caller gave up')
    controller.abort(reason)
    await expect(resolveLabels(NUMBERS, operators, { fetch, signal: controller.signal })).rejects.toBe(reason)
  })
})

describe('operatorKey', () => {
  it("returns the operator's published key", async () => {
    const { fetch } = pair()
    expect(await operatorKey(DIRECTORY, fetch)).toEqual(K1.publicKey)
    expect(await operatorKey(HOLDER, fetch)).toEqual(K2.publicKey)
  })

  it('refuses another suite, a malformed key, and a failing operator', async () => {
    const answering = (body: unknown, status = 200): Fetch => async () => Response.json(body, { status })
    await rejects(operatorKey(DIRECTORY, answering({ suite: 'P256-SHA256', publicKey: encodeElement(K1.publicKey) })), 'bad_answer', DIRECTORY)
    await rejects(operatorKey(DIRECTORY, answering({ suite: OPRF_SUITE, publicKey: toBase64Url(new Uint8Array(32)) })), 'bad_answer', DIRECTORY)
    await rejects(operatorKey(DIRECTORY, answering({ suite: OPRF_SUITE })), 'bad_answer', DIRECTORY)
    await rejects(operatorKey(DIRECTORY, answering({}, 502)), 'operator_unavailable', DIRECTORY)
    await rejects(operatorKey(DIRECTORY, async () => { throw new TypeError('fetch failed') }), 'operator_unavailable', DIRECTORY)
  })
})
