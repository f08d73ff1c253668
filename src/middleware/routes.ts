/**
 * The route gate: a request for a path no route has is `404 not_found`, and one whose method no
 * route of that path takes is `405 method_not_allowed` with `Allow`, before any other middleware
 * (authentication, body guards) runs, so that what a request gets depends on the route first.
 * @module
 */
import { createMiddleware } from 'hono/factory'
import { TrieRouter } from 'hono/router/trie-router'
import type { RouterRoute } from 'hono/types'
import { ApiError, errorResponse } from '../errors.ts'

const METHOD_ORDER = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'QUERY']

/** Which methods the routes take at each path. */
export class RouteTable {
  readonly #router = new TrieRouter<true>()
  readonly #methods: string[]

  /**
   * Built from an app's `routes`: a route registered for one method is an endpoint; those
   * registered for every method (`use`, `all`) are middleware and answer nothing themselves.
   */
  constructor(routes: readonly RouterRoute[]) {
    const methods = new Set<string>()
    for (const route of routes) {
      if (route.method === 'ALL') continue
      this.#router.add(route.method, route.path, true)
      methods.add(route.method)
    }
    this.#methods = [...methods]
  }

  /** The methods some route takes at `path` (HEAD wherever GET is, as Hono serves it), in a fixed order; empty for an unknown path. */
  allowed(path: string): string[] {
    const found = new Set(this.#methods.filter((m) => this.#router.match(m, path)[0].length > 0))
    if (found.has('GET')) found.add('HEAD')
    return METHOD_ORDER.filter((m) => found.has(m)).concat([...found].filter((m) => !METHOD_ORDER.includes(m)).sort())
  }
}

/** The gate over the routes `routes()` returns, read on the first request (every route is mounted by then). */
export function routeGate(routes: () => readonly RouterRoute[]) {
  let table: RouteTable | null = null
  return createMiddleware(async function routeGate(c, next) {
    table ??= new RouteTable(routes())
    const allowed = table.allowed(c.req.path)
    if (allowed.length === 0) return c.notFound()
    if (!allowed.includes(c.req.method)) {
      const err = new ApiError(405, 'method_not_allowed', `${c.req.method} is not allowed here; this route takes ${allowed.join(', ')}`)
      const res = errorResponse(c, err)
      res.headers.set('Allow', allowed.join(', '))
      return res
    }
    await next()
  })
}
