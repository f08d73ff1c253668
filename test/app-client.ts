/**
 * Requests through a Worker's real Hono app with its real bindings, and the check that every
 * error is the uniform shape, a code of ERRORS with its status, and one the route's OpenAPI
 * operation declares. The directory's and the key holder's test helpers are both this.
 */
import { expect } from 'vitest'
import { ERRORS, type ErrorCode } from '../src/errors.ts'

/** What {@link appClient} sends a request with. */
export interface CallOptions<E> {
  token?: string
  json?: unknown
  body?: BodyInit
  headers?: Record<string, string>
  env?: Partial<E>
}

interface TestableApp {
  request(url: string, init: RequestInit, env: unknown): Response | Promise<Response>
  getOpenAPI31Document(config: { openapi: '3.1.0'; info: { title: string; version: string } }): unknown
}

type Operation = { responses?: Record<string, { content?: Record<string, { examples?: Record<string, unknown> }> }> }

/**
 * appClient sends requests to `app` at `base` with `env` (each request's `env` overriding it),
 * each with the headers `defaults` gives for its options; `multiSegment` names the path templates
 * whose `{index}` spans segments (a tile index).
 */
export function appClient<E, O extends CallOptions<E> = CallOptions<E>>(
  app: TestableApp,
  env: E,
  base: string,
  defaults: (opts: O) => Record<string, string> = () => ({}),
  multiSegment = (_template: string) => false,
) {
  const requests = new WeakMap<Response, { method: string; path: string }>()
  const openApi = app.getOpenAPI31Document({ openapi: '3.1.0', info: { title: 'test', version: '0' } }) as { paths: Record<string, Record<string, Operation>> }
  // Templates with more literal segments first, so `/log/tile/entries/{index}` wins over `/log/tile/{level}/{index}`.
  const templates = Object.keys(openApi.paths)
    .map((template) => {
      const source = template.replace(/\{(\w+)\}/g, (_, name) => (multiSegment(template) && name === 'index' ? '.+' : '[^/]+'))
      return { template, pattern: new RegExp(`^${source}$`), literals: template.split('/').filter((s) => s && !s.startsWith('{')).length }
    })
    .sort((a, b) => b.literals - a.literals)

  /** Sends a request through the app. */
  async function call(method: string, path: string, opts: O = {} as O): Promise<Response> {
    const headers: Record<string, string> = { ...defaults(opts), ...opts.headers }
    if (opts.token) headers.Authorization = `Bearer ${opts.token}`
    let body = opts.body
    if (opts.json !== undefined) {
      body = JSON.stringify(opts.json)
      headers['Content-Type'] ??= 'application/json'
    }
    const res = await app.request(`${base}${path}`, { method, headers, body }, { ...env, ...opts.env })
    requests.set(res, { method, path })
    return res
  }

  /** The codes the OpenAPI document declares for the operation that serves `method path` under `status`, or null when it documents no such operation. */
  function declaredCodes(method: string, path: string, status: number): string[] | null {
    // As call() sends it: a path that starts `//` is a path here, not an authority.
    const pathname = new URL(`${base}${path}`).pathname
    const match = templates.find((t) => t.pattern.test(pathname))
    const operation = match && openApi.paths[match.template]![method.toLowerCase()]
    if (!operation) return null
    return Object.keys(operation.responses?.[String(status)]?.content?.['application/json']?.examples ?? {})
  }

  /**
   * Asserts the uniform error shape and returns the body. The code must be one of ERRORS with its
   * status, and one that /openapi.json (and so /docs) declares for the route that answered it.
   */
  async function expectError(res: Response, status: number, code: string): Promise<Record<string, any>> {
    const body = (await res.json()) as Record<string, any>
    expect({ status: res.status, code: body?.error?.code }).toEqual({ status, code })
    expect(typeof body.error.message).toBe('string')
    expect(body.error.message.length).toBeGreaterThan(0)
    expect(ERRORS[code as ErrorCode]?.status, `${code} is not in ERRORS with status ${status}`).toBe(status)
    const request = requests.get(res)
    const declared = request && declaredCodes(request.method, request.path, status)
    if (declared) expect(declared, `${request!.method} ${request!.path} answers ${status} ${code}, which /openapi.json does not declare`).toContain(code)
    return body
  }

  /** Registers an app with a fresh id (unless given) through the admin route; returns its id and token. */
  async function registerAppWith(adminToken: string, id: string, name: string) {
    const res = await call('POST', '/v1/admin/apps', { token: adminToken, json: { id, name } } as O)
    expect(res.status).toBe(201)
    return (await res.json()) as { id: string; name: string; token: string }
  }

  return { call, declaredCodes, expectError, registerAppWith }
}
