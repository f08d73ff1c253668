/** Helpers for the key holder's tests: requests through its real app with its real bindings. */
import { env } from 'cloudflare:workers'
import { expect } from 'vitest'
import type { KeyholderBindings } from '../../keyholder/src/env.ts'
import { createKeyholderApp } from '../../keyholder/src/app.ts'
import { ERRORS, type ErrorCode } from '../../src/errors.ts'

export const app = createKeyholderApp()
export const keyholderEnv = env as unknown as KeyholderBindings
export const BASE = 'http://keyholder.test'

/** Sends a request through the key holder's app; `env` overrides its settings. */
export async function call(
  method: string,
  path: string,
  opts: { token?: string; json?: unknown; body?: BodyInit; headers?: Record<string, string>; env?: Partial<KeyholderBindings> } = {},
): Promise<Response> {
  const headers: Record<string, string> = { ...opts.headers }
  if (opts.token) headers.Authorization = `Bearer ${opts.token}`
  let body = opts.body
  if (opts.json !== undefined) {
    body = JSON.stringify(opts.json)
    headers['Content-Type'] ??= 'application/json'
  }
  const res = await app.request(`${BASE}${path}`, { method, headers, body }, { ...keyholderEnv, ...opts.env })
  requests.set(res, { method, path })
  return res
}

const requests = new WeakMap<Response, { method: string; path: string }>()
type Operation = { responses?: Record<string, { content?: Record<string, { examples?: Record<string, unknown> }> }> }
const openApi = app.getOpenAPI31Document({ openapi: '3.1.0', info: { title: 'test', version: '0' } }) as unknown as { paths: Record<string, Record<string, Operation>> }

/** The codes the key holder's /openapi.json declares for `method path` under `status`, or null for an undocumented route. */
export function declaredCodes(method: string, path: string, status: number): string[] | null {
  // As call() sends it: a path that starts `//` is a path here, not an authority.
  const pathname = new URL(`${BASE}${path}`).pathname
  const template = Object.keys(openApi.paths).find((t) => new RegExp(`^${t.replace(/\{\w+\}/g, '[^/]+')}$`).test(pathname))
  const operation = template && openApi.paths[template]![method.toLowerCase()]
  if (!operation) return null
  return Object.keys(operation.responses?.[String(status)]?.content?.['application/json']?.examples ?? {})
}

/** Asserts the uniform error shape, a code of ERRORS with its status that the route declares; returns the body. */
export async function expectError(res: Response, status: number, code: string): Promise<Record<string, any>> {
  const body = (await res.json()) as Record<string, any>
  expect({ status: res.status, code: body?.error?.code }).toEqual({ status, code })
  expect(typeof body.error.message).toBe('string')
  expect(ERRORS[code as ErrorCode]?.status, `${code} is not in ERRORS with status ${status}`).toBe(status)
  const request = requests.get(res)
  const declared = request && declaredCodes(request.method, request.path, status)
  if (declared) expect(declared, `${request!.method} ${request!.path} answers ${status} ${code}, which /openapi.json does not declare`).toContain(code)
  return body
}

export const admin = () => keyholderEnv.ADMIN_TOKEN!

let appCounter = 0
/** Registers an app with a fresh id and returns its id and token. */
export async function registerApp(id = `app${++appCounter}-${crypto.randomUUID().slice(0, 8)}`, name = `App ${id}`) {
  const res = await call('POST', '/v1/admin/apps', { token: admin(), json: { id, name } })
  expect(res.status).toBe(201)
  return (await res.json()) as { id: string; name: string; token: string }
}
