/**
 * The OPRF evaluation routes one operator serves for its share of the key (RFC 9497 VOPRF,
 * ristretto255-SHA512): `GET /.well-known/whodis-oprf`, the share's public key a client checks
 * proofs against, and `POST /v1/evaluate`, which multiplies an app's blinded elements by the
 * share and proves it (one batched DLEQ proof), after taking their count from the app's meter.
 * The directory mounts them with its app tokens, the key holder (keyholder/) with its own.
 *
 * Nothing here stores or logs an element or an evaluation: a request's log line carries its
 * route, status, app and how many elements it held.
 * @module
 */
import { createRoute, OpenAPIHono, z } from '@hono/zod-openapi'
import type { MiddlewareHandler } from 'hono'
import type { EvaluationMeter } from '../durable-objects/evaluation-meter.ts'
import { readMeterConfig } from '../env.ts'
import { ApiError } from '../errors.ts'
import type { Logger } from '../log.ts'
import { toBase64Url, toHex } from '../protocol/bytes.ts'
import { decodeElement, encodeElement, evaluateBatch, keyShareFromSecret, OPRF_SUITE, OprfError, type KeyShare } from '../protocol/oprf.ts'
import { errors } from './error-responses.ts'
import { validationHook } from './validation.ts'

/** Most elements one `POST /v1/evaluate` takes. */
export const MAX_EVALUATE_ELEMENTS = 1000

/** What the evaluation routes need of the Worker that mounts them. */
export interface EvaluationEnv {
  Bindings: {
    /** Secret: this operator's share of the OPRF key, a ristretto255 scalar in hex. */
    OPRF_KEY_SHARE?: string
    /** Each app's evaluation budget, one EvaluationMeter per app id. */
    METER: DurableObjectNamespace<EvaluationMeter>
    EVALUATIONS_BURST?: string
    EVALUATIONS_PER_HOUR?: string
  }
  /** `app` is set by the mounting Worker's app-token check. */
  Variables: { requestId: string; log: Logger; app: { id: string } }
}

/** This operator's key share from OPRF_KEY_SHARE (parsed once per isolate by oprf.ts), or `503 not_configured` saying why. */
function keyShare(secret: string | undefined): KeyShare {
  if (secret === undefined || secret === '') {
    throw new ApiError(503, 'not_configured', 'OPRF_KEY_SHARE is not set (wrangler secret put OPRF_KEY_SHARE)')
  }
  try {
    return keyShareFromSecret(secret)
  } catch (err) {
    // The reason (length, range, zero) names no digit of the secret.
    if (err instanceof OprfError) throw new ApiError(503, 'not_configured', `OPRF_KEY_SHARE is not a key share: ${err.message}`)
    throw err
  }
}

const Element = z.string().openapi({ description: 'a ristretto255 element, 32 bytes, unpadded base64url', example: '4vKuCmq8TnGohKlhxQBRX1jjC2qlgt2NtqZZReCNLXY' })

const OprfKey = z
  .object({
    suite: z.string().openapi({ example: 'ristretto255-SHA512', description: 'the RFC 9497 ciphersuite' }),
    publicKey: z
      .string()
      .openapi({ description: "this operator's share's public key (k·G), a ristretto255 element in 64 hex digits: what its proofs verify against", example: 'e2f2ae0a6abc4e71a884a961c500515f58e30b6aa582dd8db6a65945e08d2d76' }),
  })
  .openapi('OprfKey')

const EvaluateRequest = z
  .object({
    elements: z
      .array(z.string())
      .min(1)
      .max(MAX_EVALUATE_ELEMENTS)
      .openapi({ description: `1 to ${MAX_EVALUATE_ELEMENTS} blinded elements (unpadded base64url); each takes one evaluation of the app's budget` }),
  })
  .openapi('EvaluateRequest')

const EvaluateAnswer = z
  .object({
    evaluations: z.array(Element).openapi({ description: '`evaluations[i]` is `elements[i]` multiplied by the share' }),
    proof: z.string().openapi({ description: 'one DLEQ proof (RFC 9497 §2.2) for the whole batch, 64 bytes, unpadded base64url' }),
  })
  .openapi('EvaluateAnswer')

/**
 * The evaluation routes, with `requireApp` (the mounting Worker's app-token check, which sets
 * `c.var.app`) in front of `POST /v1/evaluate`.
 */
export function evaluationRoutes<E extends EvaluationEnv>(requireApp: MiddlewareHandler<E>): OpenAPIHono<E> {
  const routes = new OpenAPIHono<E>({ defaultHook: validationHook })
  routes.use('/v1/evaluate', requireApp)

  routes.openapi(
    createRoute({
      method: 'get',
      path: '/.well-known/whodis-oprf',
      operationId: 'getOprfKey',
      tags: ['oprf'],
      security: [],
      summary: "The OPRF suite and this operator's share's public key",
      responses: {
        200: { description: 'the suite and public key', content: { 'application/json': { schema: OprfKey } } },
        ...errors('not_configured'),
      },
    }),
    (c) => {
      const share = keyShare(c.env.OPRF_KEY_SHARE)
      c.header('Cache-Control', 'public, max-age=300')
      return c.json({ suite: OPRF_SUITE, publicKey: toHex(share.publicKey) }, 200)
    },
  )

  routes.openapi(
    createRoute({
      method: 'post',
      path: '/v1/evaluate',
      operationId: 'evaluate',
      tags: ['oprf'],
      summary: "Evaluate blinded elements under this operator's key share, with one proof",
      description:
        'A client blinds each number once, sends the same elements to both operators, checks each proof against that ' +
        "operator's `/.well-known/whodis-oprf` key, adds the two evaluations and unblinds: the label. A batch of n elements " +
        "takes n evaluations of the app's budget, all or none; malformed elements take none.",
      security: [{ appToken: [] }],
      request: { body: { required: true, content: { 'application/json': { schema: EvaluateRequest } } } },
      responses: {
        200: {
          description: 'the evaluations, in order, and their proof',
          headers: {
            'X-Evaluations-Remaining': { description: "the whole evaluations left in the app's budget after this batch", schema: { type: 'integer', minimum: 0 } },
          },
          content: { 'application/json': { schema: EvaluateAnswer } },
        },
        ...errors('invalid_request', 'malformed_json', 'invalid_element', 'unauthorized', 'body_too_large', 'unsupported_media_type', 'evaluations_exhausted', 'not_configured'),
      },
    }),
    async (c) => {
      const share = keyShare(c.env.OPRF_KEY_SHARE)
      const config = readMeterConfig(c.env)
      const { elements } = c.req.valid('json')
      if (elements.length > config.burst) {
        throw new ApiError(400, 'invalid_request', `elements: at most ${config.burst} in a batch (the evaluation budget's burst)`)
      }
      // Every element is checked before any budget is taken: a malformed batch costs nothing.
      const decoded = elements.map((element, i) => {
        try {
          return decodeElement(element)
        } catch (err) {
          // The message names the position, never the element.
          if (err instanceof OprfError) throw new ApiError(400, 'invalid_element', `elements[${i}] is not a valid ristretto255 element`)
          throw err
        }
      })
      const taken = await c.env.METER.getByName(c.var.app.id).take(config, decoded.length, Date.now())
      if (!taken.ok) {
        throw new ApiError(
          429,
          'evaluations_exhausted',
          `this batch of ${decoded.length} exceeds the app's evaluation budget (${config.burst} at once, ${config.refillPerHour} more an hour)`,
          {},
          taken.retryAfterSeconds,
        )
      }
      const { evaluations, proof } = evaluateBatch(share, decoded)
      c.var.log.info('evaluated', { app: c.var.app.id, elements: decoded.length, remaining: taken.remaining })
      c.header('X-Evaluations-Remaining', String(taken.remaining))
      return c.json({ evaluations: evaluations.map(encodeElement), proof: toBase64Url(proof) }, 200)
    },
  )
  return routes
}
