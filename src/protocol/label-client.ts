/**
 * The client side of the sealed directory's labels: blind each number once, send the same
 * blinded elements to both operators (`POST {url}/v1/evaluate`, in chunks), check each answer's
 * proof against that operator's pinned key, add the two evaluations and unblind. A lying,
 * exhausted or absent operator gives a {@link LabelError}, never a wrong label. Pure: the fetch
 * function is injected (the global one by default).
 * @module
 */
import { fromBase64, readAll, toBase64Url, toHex } from './bytes.ts'
import {
  OPRF_SUITE,
  OprfError,
  PROOF_BYTES,
  blindNumbers,
  decodeElement,
  encodeElement,
  finalizeSplit,
  publicKeyFromHex,
  verifyEvaluation,
  type Blinded,
} from './oprf.ts'

/** Operator is one of the two key holders as a client knows it. */
export interface Operator {
  /** Base URL, e.g. `https://oprf.example`; `/v1/evaluate` is appended. */
  url: string
  /** The app's bearer token at this operator (it meters evaluations per app). */
  token: string
  /** The operator's public key, pinned from configuration (see {@link operatorKey}). */
  publicKey: Uint8Array
}

/** The fetch function the client uses (the global `fetch` by default). */
export type Fetch = (url: string, init?: RequestInit) => Promise<Response>

/** Options of {@link resolveLabels}. */
export interface ResolveOptions {
  fetch?: Fetch
  /** Elements per request (250). */
  chunk?: number
  /** Chunks in flight at once, each at both operators (3). */
  inFlight?: number
  /** Aborts the whole resolution; its reason is rethrown as is. */
  signal?: AbortSignal
}

/** Why labels could not be resolved. */
export type LabelErrorCode = 'evaluations_exhausted' | 'unauthorized' | 'operator_unavailable' | 'proof_invalid' | 'bad_answer'

/** LabelError names the operator (its URL) that failed and how; `message` names no number and no token. */
export class LabelError extends Error {
  override readonly name = 'LabelError'
  constructor(
    readonly code: LabelErrorCode,
    readonly operator: string,
    message: string,
    /** For evaluations_exhausted: the operator's Retry-After, in seconds, when it gave one. */
    readonly retryAfter?: number,
  ) {
    super(`${operator}: ${message}`)
  }
}

const endpoint = (url: string, path: string) => `${url.replace(/\/+$/, '')}${path}`

// An answer is about 46 bytes of JSON per element; anything far larger is not one.
const maxAnswerBytes = (elements: number) => 4096 + 128 * elements

/** The operator's response, or the LabelError its status means. */
async function call(fetcher: Fetch, operator: string, url: string, init: RequestInit, signal?: AbortSignal): Promise<Response> {
  let res: Response
  try {
    res = await fetcher(url, init)
  } catch (err) {
    if (signal?.aborted) throw signal.reason
    throw new LabelError('operator_unavailable', operator, `unreachable (${err instanceof Error ? err.message : String(err)})`)
  }
  if (res.status === 200) return res
  await res.body?.cancel().catch(() => {})
  if (res.status === 429) {
    const header = res.headers.get('retry-after')?.trim() ?? ''
    // Only delta-seconds: an HTTP-date would need a clock, and this layer has none.
    const retryAfter = /^\d{1,9}$/.test(header) ? Number(header) : undefined
    throw new LabelError('evaluations_exhausted', operator, 'evaluations exhausted (429)', retryAfter)
  }
  if (res.status === 401 || res.status === 403) throw new LabelError('unauthorized', operator, `token refused (${res.status})`)
  if (res.status >= 500) throw new LabelError('operator_unavailable', operator, `server error (${res.status})`)
  throw new LabelError('bad_answer', operator, `unexpected status ${res.status}`)
}

/** The JSON object of a 200 response's body, at most `maxBytes`, or LabelError('bad_answer'). */
async function jsonBody(res: Response, operator: string, maxBytes: number): Promise<Record<string, unknown>> {
  const bad = (why: string) => new LabelError('bad_answer', operator, why)
  if (!res.body) throw bad('empty body')
  const bytes = await readAll(res.body, maxBytes, () => bad(`body over ${maxBytes} bytes`))
  let value: unknown
  try {
    value = JSON.parse(new TextDecoder('utf-8', { fatal: true, ignoreBOM: false }).decode(bytes))
  } catch {
    throw bad('body is not JSON')
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw bad('body is not a JSON object')
  return value as Record<string, unknown>
}

/** A 64-byte proof in canonical unpadded base64url, or null. */
function decodeProof(text: unknown): Uint8Array | null {
  if (typeof text !== 'string' || !/^[A-Za-z0-9_-]{86}$/.test(text)) return null
  const bytes = fromBase64(text)
  return bytes.length === PROOF_BYTES && toBase64Url(bytes) === text ? bytes : null
}

/** One operator's verified evaluations of `part`, in order. */
async function evaluateAt(op: Operator, part: Blinded[], body: string, fetcher: Fetch, signal: AbortSignal): Promise<Uint8Array[]> {
  const res = await call(
    fetcher,
    op.url,
    endpoint(op.url, '/v1/evaluate'),
    { method: 'POST', headers: { authorization: `Bearer ${op.token}`, 'content-type': 'application/json', accept: 'application/json' }, body, signal },
    signal,
  )
  const answer = await jsonBody(res, op.url, maxAnswerBytes(part.length))
  const { evaluations: list, proof: proofText } = answer
  if (!Array.isArray(list) || list.length !== part.length) {
    throw new LabelError('bad_answer', op.url, `${Array.isArray(list) ? list.length : 'no'} evaluations for ${part.length} elements`)
  }
  let evaluations: Uint8Array[]
  try {
    evaluations = list.map((e) => decodeElement(e as string))
  } catch {
    throw new LabelError('bad_answer', op.url, 'an evaluation is not a valid element')
  }
  const proof = decodeProof(proofText)
  if (!proof) throw new LabelError('bad_answer', op.url, `the proof is not ${PROOF_BYTES} bytes of base64url`)
  try {
    verifyEvaluation(part, evaluations, proof, op.publicKey)
  } catch (err) {
    if (err instanceof OprfError && err.code === 'proof_invalid') throw new LabelError('proof_invalid', op.url, 'the proof does not verify against its pinned key')
    throw err
  }
  return evaluations
}

function positiveInteger(value: number, name: string): number {
  if (!Number.isSafeInteger(value) || value < 1) throw new RangeError(`${name} must be a positive integer`)
  return value
}

/**
 * resolveLabels maps each E.164 number in `e164s` (duplicates allowed) to its label, asking both
 * operators for the same blinded elements, `chunk` at a time with `inFlight` chunks in flight.
 * The first failure aborts the rest and rejects with its {@link LabelError}; an operator's key
 * that is not a valid element, or one key pinned for both, throws OprfError('invalid_key'); a
 * non-E.164 string throws TypeError. Pin both keys from configuration, never from {@link operatorKey}
 * at each call: an operator that serves its own key is trusted on first use.
 */
export async function resolveLabels(e164s: string[], operators: [Operator, Operator], opts: ResolveOptions = {}): Promise<Map<string, string>> {
  const fetcher: Fetch = opts.fetch ?? ((url, init) => fetch(url, init))
  const chunk = positiveInteger(opts.chunk ?? 250, 'chunk')
  const inFlight = positiveInteger(opts.inFlight ?? 3, 'inFlight')
  for (const op of operators) publicKeyFromHex(toHex(op.publicKey))
  // One key pinned twice would let one share, answering as both operators, yield labels (of 2·k1).
  if (toHex(operators[0].publicKey) === toHex(operators[1].publicKey)) throw new OprfError('invalid_key', 'the two operators are pinned to the same public key: a label needs both shares')
  const numbers = [...new Set(e164s)]
  const labels = new Map<string, string>()
  if (numbers.length === 0) return labels
  const blinded = blindNumbers(numbers)

  const controller = new AbortController()
  const outer = opts.signal
  if (outer?.aborted) throw outer.reason
  const onAbort = () => controller.abort(outer!.reason)
  outer?.addEventListener('abort', onAbort, { once: true })
  let next = 0
  const worker = async (): Promise<void> => {
    while (next < blinded.length && !controller.signal.aborted) {
      const start = next
      next += chunk
      const part = blinded.slice(start, start + chunk)
      const body = JSON.stringify({ elements: part.map((b) => encodeElement(b.element)) })
      const [a, b] = await Promise.all(operators.map((op) => evaluateAt(op, part, body, fetcher, controller.signal)))
      finalizeSplit(part, a!, b!).forEach((label, i) => labels.set(numbers[start + i]!, label))
    }
  }
  try {
    await Promise.all(Array.from({ length: Math.min(inFlight, Math.ceil(blinded.length / chunk)) }, worker))
  } catch (err) {
    controller.abort(err)
    if (outer?.aborted) throw outer.reason
    throw err
  } finally {
    outer?.removeEventListener('abort', onAbort)
  }
  return labels
}

/**
 * operatorKey fetches an operator's published key (`GET {url}/.well-known/whodis-oprf`,
 * `{"suite","publicKey"}` with the key in base64url) and refuses another suite. A client pins the
 * key it gets here (in its configuration) rather than trusting each fetch.
 */
export async function operatorKey(url: string, fetcher: Fetch = (u, init) => fetch(u, init)): Promise<Uint8Array> {
  const res = await call(fetcher, url, endpoint(url, '/.well-known/whodis-oprf'), { headers: { accept: 'application/json' } })
  const { suite, publicKey } = await jsonBody(res, url, 4096)
  if (suite !== OPRF_SUITE) throw new LabelError('bad_answer', url, `suite is not ${OPRF_SUITE}`)
  try {
    return decodeElement(publicKey as string)
  } catch {
    throw new LabelError('bad_answer', url, 'publicKey is not a valid element')
  }
}
