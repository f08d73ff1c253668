/**
 * /openapi.json and /docs as an integrating app reads them: every operation named, secured and
 * with its errors declared from the one error table; the page navigable and complete. Redocly's
 * lint of the same document runs in test/node/openapi-lint.test.ts.
 */
import { describe, expect, it } from 'vitest'
import { ApiError, ERRORS, type ErrorCode } from '../../src/errors.ts'
import { renderApiDocs, type ApiDoc } from '../../src/routes/api-docs.ts'
import { BASE, call } from './helpers.ts'

type Operation = {
  operationId?: string
  security?: Record<string, string[]>[]
  parameters?: { name: string; in: string }[]
  requestBody?: unknown
  responses: Record<string, { headers?: Record<string, unknown>; content?: Record<string, { examples?: Record<string, { value: any }> }> }>
}
type Doc = ApiDoc & { paths: Record<string, Record<string, Operation>>; info: ApiDoc['info'] & { license?: { name: string; identifier?: string } } }

async function openApi(): Promise<Doc> {
  const res = await call('GET', '/openapi.json')
  expect(res.status).toBe(200)
  return (await res.json()) as Doc
}

const operations = (doc: Doc) =>
  Object.entries(doc.paths).flatMap(([path, methods]) => Object.entries(methods).map(([method, op]) => ({ path, method, op })))

/** A concrete request path for a template: each parameter gets a value of its route's shape. */
function concrete(path: string): string {
  const values: Record<string, string> = { phone: '+16505550011', app: 'appa', id: '0'.repeat(96), size: '0', level: '0', index: '000' }
  return path.replace(/\{(\w+)\}/g, (_, name: string) => encodeURIComponent(values[name] ?? 'x'))
}

describe('/openapi.json', () => {
  it('names every operation once, declares its security (empty where none is needed) and a 4XX response', async () => {
    const doc = await openApi()
    const ops = operations(doc)
    expect(ops.length).toBeGreaterThan(15)
    const ids = ops.map(({ op }) => op.operationId)
    for (const id of ids) expect(id).toMatch(/^[a-z][A-Za-z]+$/)
    expect(new Set(ids).size).toBe(ids.length)
    for (const { path, method, op } of ops) {
      expect(Array.isArray(op.security), `${method} ${path} declares no security`).toBe(true)
      expect(Object.keys(op.responses).some((s) => /^4/.test(s)), `${method} ${path} has no 4XX response`).toBe(true)
      for (const requirement of op.security!) for (const scheme of Object.keys(requirement)) expect(doc.components?.securitySchemes).toHaveProperty(scheme)
    }
  })

  it('declares security exactly where the route asks for a token: without one, secured routes answer 401 and public ones never do', async () => {
    const doc = await openApi()
    for (const { path, method, op } of operations(doc)) {
      const res = await call(method.toUpperCase(), concrete(path), op.requestBody ? { json: {} } : {})
      const secured = op.security!.length > 0
      if (secured) expect(res.status, `${method} ${path}`).toBe(401)
      else expect(res.status, `${method} ${path}`).not.toBe(401)
    }
  })

  it('declares each error code with its status from ERRORS, as an example of the error body', async () => {
    const doc = await openApi()
    const declared = new Set<string>()
    for (const { path, method, op } of operations(doc)) {
      for (const [status, response] of Object.entries(op.responses)) {
        for (const [code, example] of Object.entries(response.content?.['application/json']?.examples ?? {})) {
          declared.add(code)
          expect(ERRORS[code as ErrorCode]?.status, `${method} ${path}: ${status} ${code}`).toBe(Number(status))
          expect(example.value.error.code).toBe(code)
          if ('retryAfter' in ERRORS[code as ErrorCode]) expect(response.headers).toHaveProperty('Retry-After')
        }
      }
    }
    // Every code is some operation's, but the page's own, the 500 no route declares, and the 405
    // that routing answers before any operation (with Allow naming the operations there are).
    const undeclared = Object.keys(ERRORS).filter((code) => !declared.has(code))
    expect(undeclared.sort()).toEqual(['internal_error', 'invalid_csrf', 'method_not_allowed'])
  })

  it('names its server (the origin that served it) and its license', async () => {
    const doc = await openApi()
    expect(doc.servers).toEqual([{ url: BASE, description: 'this directory' }])
    expect(doc.info.license?.identifier ?? (doc.info.license as { url?: string } | undefined)?.url).toBeTruthy()
  })
})

describe('ApiError', () => {
  it('is built only from a code of ERRORS with that code’s status (the compiler refuses others)', () => {
    // The @ts-expect-error lines are the test: `npm run typecheck` fails if either compiles.
    // @ts-expect-error a code with another code's status
    const wrongStatus = new ApiError(404, 'app_exists', 'x')
    // @ts-expect-error a code that is not in the table
    const unknownCode = new ApiError(400, 'no_such_code', 'x')
    expect([wrongStatus.code, unknownCode.code]).toEqual(['app_exists', 'no_such_code'])
    const rephrased = new ApiError(429, 'rate_limited', 'slow down', {}, 7).withMessage('numbers[3]: slow down')
    expect({ ...rephrased, message: rephrased.message }).toMatchObject({ status: 429, code: 'rate_limited', retryAfter: 7, message: 'numbers[3]: slow down' })
  })
})

describe('/docs', () => {
  async function page(): Promise<string> {
    const res = await call('GET', '/docs')
    expect(res.status).toBe(200)
    expect(res.headers.get('Content-Type')).toMatch(/^text\/html/)
    return res.text()
  }
  /** The section of operation `id`. */
  const section = (html: string, id: string) => html.match(new RegExp(`<section aria-labelledby="op-${id}">[\\s\\S]*?</section>`))?.[0] ?? ''

  it('has a table of contents whose every link lands on an anchor of the page', async () => {
    const html = await page()
    const doc = await openApi()
    const toc = html.match(/<nav aria-labelledby="toc">[\s\S]*?<\/nav>/)?.[0] ?? ''
    for (const { op } of operations(doc)) expect(toc).toContain(`href="#op-${op.operationId}"`)
    for (const target of ['auth', 'errors', 'schemas']) expect(toc).toContain(`href="#${target}"`)
    const ids = new Set([...html.matchAll(/ id="([^"]+)"/g)].map((m) => m[1]))
    const links = [...html.matchAll(/href="#([^"]+)"/g)].map((m) => m[1]!)
    expect(links.length).toBeGreaterThan(100)
    expect(links.filter((l) => !ids.has(l))).toEqual([])
  })

  it('lists each route’s error codes with their statuses, and every code of ERRORS once', async () => {
    const html = await page()
    const doc = await openApi()
    for (const { path, method, op } of operations(doc)) {
      const own = section(html, op.operationId!)
      expect(own, `${method} ${path}`).toContain(`<code>${path}</code>`)
      for (const [status, response] of Object.entries(op.responses)) {
        const codes = Object.keys(response.content?.['application/json']?.examples ?? {})
        if (codes.length === 0) continue
        const row = own.match(new RegExp(`<tr><td>${status}</td><td>(.*?)</td></tr>`))?.[1]
        expect(row, `${method} ${path} ${status}`).toBe(codes.map((c) => `<a href="#error-${c}"><code>${c}</code></a>`).join(', '))
      }
    }
    for (const [code, { status }] of Object.entries(ERRORS)) expect(html).toContain(`<tr id="error-${code}"><td>${status}</td><td><code>${code}</code></td>`)
  })

  it('says how each credential is sent, on its own and on every route that needs it', async () => {
    const html = await page()
    for (const scheme of ['appToken', 'adminToken', 'holderSession']) {
      expect(html).toMatch(new RegExp(`<dt id="scheme-${scheme}"><code>${scheme}</code></dt><dd>Send <code>Authorization: Bearer &lt;token&gt;</code>`))
    }
    expect(section(html, 'lookupNumber')).toContain('Auth: <a href="#scheme-appToken">appToken</a> (<code>Authorization: Bearer &lt;token&gt;</code>)')
    expect(section(html, 'getDirectoryInfo')).toContain('Auth: none')
  })

  it('renders the lookup answer’s nested, referenced schema field by field', async () => {
    const lookup = section(await page(), 'lookupNumber')
    expect(lookup).not.toContain('of <em>any</em>')
    const apps = lookup.match(/<code>apps<\/code>: <em>array<\/em> of ([\s\S]*?)<\/ul><\/li><\/ul>/)?.[1] ?? ''
    for (const field of ['<code>app</code>:', '<code>verifiedAt</code>:', '<code>expiresAt</code>:', '<code>index</code>?:', '<code>entry</code>?:', '<code>receipt</code>?:']) {
      expect(apps).toContain(field)
    }
  })

  it('renders references, allOf, nullable alternatives and arrays of them, escaped', () => {
    const doc: ApiDoc = {
      info: { title: 'T', version: '1' },
      components: {
        schemas: {
          Inner: { type: 'object', properties: { deep: { type: 'string', format: 'date-time' } }, required: ['deep'] },
          Outer: { type: 'object', properties: { '<b>': { type: 'array', items: { allOf: [{ $ref: '#/components/schemas/Inner' }, { type: 'object', properties: { extra: { type: 'number' } } }] } } } },
        },
      },
      paths: {
        '/x': {
          get: {
            operationId: 'getX',
            responses: {
              '200': { description: 'ok', content: { 'application/json': { schema: { $ref: '#/components/schemas/Outer' } } } },
              '201': { description: 'maybe', content: { 'application/json': { schema: { anyOf: [{ type: 'string' }, { type: 'null' }] } } } },
            },
          },
        },
      },
    }
    const html = renderApiDocs(doc)
    const op = section(html, 'getX')
    expect(op).toContain('<a href="#schema-Outer"><code>Outer</code></a>: <em>object</em><ul><li><code>&lt;b&gt;</code>?: <em>array</em> of <em>object</em><ul>')
    expect(op).toContain('<li><code>deep</code>: <em>string</em> (date-time)</li><li><code>extra</code>?: <em>number</em></li>')
    expect(op).toContain('<em>string</em> or <em>null</em>')
    expect(html).not.toContain('<b>')
  })
})
