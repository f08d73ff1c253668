/**
 * Routing comes first: every route the app has (read from the app itself, so a new route is
 * covered as soon as it is mounted) answers a method it does not take with `405` and an `Allow`
 * header naming exactly the methods it does take, and a path no route has is `404 not_found`,
 * whatever the method, token or body: no authentication or body check answers before routing.
 */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { admin, app, call, expectError, registerApp } from './helpers.ts'

const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']

/** The app's endpoints: routes registered for one method (those for every method are middleware). */
const endpoints = [...new Map(app.routes.filter((r) => r.method !== 'ALL').map((r) => [`${r.method} ${r.path}`, r])).values()]

/** A pattern as a regular expression: `:name` one segment, `*` anything. */
function matcher(path: string): RegExp {
  const source = path
    .split('/')
    .map((segment) => (segment === '*' ? '.*' : segment.startsWith(':') ? '[^/]+' : segment.replace(/[.+?^${}()|[\]\\]/g, '\\$&')))
    .join('/')
  return new RegExp(`^${source.replace(/\/\.\*$/, '(/.*)?')}$`)
}

/** A request path that the pattern matches. */
function concrete(path: string): string {
  return path.replace(/:[a-z]+/gi, 'x1').replace(/\*$/, '0/001')
}

/** Which methods the app's endpoints take at `path`, by the patterns above (independent of the gate's router). */
function expectedAllow(path: string): string[] {
  const methods = new Set(endpoints.filter((r) => matcher(r.path).test(path)).map((r) => r.method))
  if (methods.has('GET')) methods.add('HEAD')
  return [...methods].sort()
}

const bodiless = (method: string) => method === 'GET' || method === 'HEAD'
const sortedAllow = (res: Response) => (res.headers.get('Allow') ?? '').split(', ').filter(Boolean).sort()

describe('routing', () => {
  it('has the routes this test is about', () => {
    const paths = new Set(endpoints.map((r) => r.path))
    for (const p of ['/v1/admin/apps', '/v1/numbers/:phone', '/me', '/me/remove', '/log/tile/*', '/dev/outbox', '/openapi.json']) {
      expect(paths, p).toContain(p)
    }
    expect(endpoints.length).toBeGreaterThan(25)
  })

  it('answers every route, for every method it does not take, 405 with the Allow it does take', async () => {
    const { token } = await registerApp()
    let checked = 0
    for (const route of endpoints) {
      const path = concrete(route.path)
      const allow = expectedAllow(path)
      expect(allow, path).toContain(route.method)
      for (const method of METHODS) {
        if (allow.includes(method)) continue
        // With and without credentials and bodies of any type: the method decides first.
        for (const opts of bodiless(method) ? [{}, { token: admin() }] : [{}, { token: admin(), json: {} }, { token, body: 'x=1', headers: { 'Content-Type': 'text/plain' } }]) {
          const res = await call(method, path, opts)
          expect({ method, path, status: res.status, allow: sortedAllow(res) }).toEqual({ method, path, status: 405, allow })
          if (method !== 'HEAD') await expectError(res, 405, 'method_not_allowed')
          checked++
        }
      }
    }
    expect(checked).toBeGreaterThan(100)
  })

  it('routes every method a route takes to it (never 404 no route, never 405)', async () => {
    for (const route of endpoints) {
      const path = concrete(route.path)
      const res = await call(route.method, path, { token: admin() })
      expect({ route: `${route.method} ${route.path}`, status: res.status }).not.toMatchObject({ status: 405 })
      if (res.status === 404 && route.method !== 'HEAD') {
        const body = (await res.json()) as { error: { message: string } }
        expect(body.error.message, `${route.method} ${path}`).not.toMatch(/^no route/)
      }
      if (route.method === 'GET') expect((await call('HEAD', path, { token: admin() })).status, `HEAD ${path}`).not.toBe(405)
    }
  })

  it('answers a path no route has 404 not_found, whatever the method, credentials or body', async () => {
    const segment = fc.oneof(
      fc.constantFrom('v1', 'admin', 'apps', 'numbers', 'holder', 'me', 'log', 'tile', 'dev', 'nope', 'x', '+16505550011', ''),
      fc.stringMatching(/^[a-z0-9.+-]{1,6}$/),
    )
    const path = fc.array(segment, { minLength: 1, maxLength: 5 }).map((s) => `/${s.join('/')}`)
    const samples = fc.sample(fc.tuple(path, fc.constantFrom(...METHODS), fc.constantFrom({}, { token: admin(), json: {} }, { body: 'a=b', headers: { 'Content-Type': 'application/x-www-form-urlencoded' } })), 400)
    let unknown = 0
    for (const [p, method, opts] of samples) {
      const normalised = new URL(`http://x${p}`).pathname
      if (expectedAllow(normalised).length > 0) continue
      unknown++
      const res = await call(method, p, bodiless(method) ? { ...opts, json: undefined, body: undefined } : opts)
      expect({ method, p, status: res.status }).toEqual({ method, p, status: 404 })
      if (method !== 'HEAD') await expectError(res, 404, 'not_found')
    }
    expect(unknown).toBeGreaterThan(200)
  })

  it('answers the cases that used to be 415 or 401 as 404 and 405', async () => {
    await expectError(await call('OPTIONS', '/nope'), 404, 'not_found')
    // A path that starts `//` (an empty first segment) is a path, not a host.
    await expectError(await call('GET', '//+16505550011'), 404, 'not_found')
    const putMe = await call('PUT', '/me')
    await expectError(putMe, 405, 'method_not_allowed')
    expect(putMe.headers.get('Allow')).toBe('GET, HEAD')
    const verifications = await call('GET', '/v1/verifications')
    await expectError(verifications, 405, 'method_not_allowed')
    expect(verifications.headers.get('Allow')).toBe('POST')
    const number = await call('PUT', '/v1/numbers/+16505550011', { json: {} })
    expect(number.headers.get('Allow')).toBe('GET, HEAD')
    expect((await call('OPTIONS', '/me/code')).headers.get('Allow')).toBe('GET, HEAD, POST')
    await expectError(await call('GET', '/v1/admin/nope'), 404, 'not_found')
  })

  it('has no development routes, of any method, without the outbox', async () => {
    for (const method of METHODS.filter((m) => m !== 'HEAD')) {
      for (const path of ['/dev/outbox', '/dev/seed', '/dev/nope']) {
        await expectError(await call(method, path, { token: admin(), env: { SMS_PROVIDER: 'twilio' } }), 404, 'not_found')
      }
    }
  })

  it('shows a person a page, not JSON, for a page that does not exist', async () => {
    const res = await call('GET', '/me/nope', { headers: { Accept: 'text/html,application/xhtml+xml;q=0.9,*/*;q=0.8' } })
    expect(res.status).toBe(404)
    expect(res.headers.get('Content-Type')).toMatch(/^text\/html/)
    expect(res.headers.get('Content-Security-Policy')).toContain("default-src 'none'")
    expect(await res.text()).toContain('Page not found')
    await expectError(await call('GET', '/me/nope', { headers: { Accept: '*/*' } }), 404, 'not_found')
  })
})
