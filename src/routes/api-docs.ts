/**
 * `/docs`: the API reference, rendered on the server from the same OpenAPI document that
 * `/openapi.json` serves, so it cannot drift from the routes. No script, no external assets.
 * @module
 */

type Schema = { type?: string | string[]; properties?: Record<string, Schema>; required?: string[]; items?: Schema; enum?: unknown[]; description?: string; example?: unknown; $ref?: string; format?: string; pattern?: string; anyOf?: Schema[] }
type Operation = {
  summary?: string
  security?: Record<string, unknown>[]
  parameters?: { name: string; in: string; required?: boolean; schema?: Schema; description?: string }[]
  requestBody?: { content?: Record<string, { schema?: Schema }> }
  responses?: Record<string, { description?: string; content?: Record<string, { schema?: Schema }> }>
}
type Doc = { info: { title: string; version: string; description?: string }; paths?: Record<string, Record<string, Operation>>; components?: { schemas?: Record<string, Schema> } }

const escape = (s: unknown) =>
  String(s).replace(/[&<>"']/g, (ch) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[ch]!)

/** Renders the OpenAPI 3.1 document as one accessible HTML page. */
export function renderApiDocs(doc: Doc): string {
  const schemas = doc.components?.schemas ?? {}
  const describe = (s: Schema | undefined, depth = 0): string => {
    if (!s) return ''
    if (s.$ref) {
      const name = s.$ref.split('/').pop()!
      return depth > 2 ? `<code>${escape(name)}</code>` : `<code>${escape(name)}</code> ${describe(schemas[name], depth + 1)}`
    }
    if (s.anyOf) return s.anyOf.map((x) => describe(x, depth)).join(' or ')
    if (s.properties) {
      const rows = Object.entries(s.properties).map(
        ([k, v]) =>
          `<li><code>${escape(k)}</code>${s.required?.includes(k) ? '' : '?'}: ${describe(v, depth + 1)}${v.description ? ` — ${escape(v.description)}` : ''}</li>`,
      )
      return `<ul>${rows.join('')}</ul>`
    }
    if (s.type === 'array') return `array of ${describe(s.items, depth + 1)}`
    const extra = [s.format, s.enum ? `one of ${s.enum.map((e) => JSON.stringify(e)).join(', ')}` : '', s.example !== undefined ? `e.g. ${JSON.stringify(s.example)}` : '']
      .filter(Boolean)
      .join('; ')
    return `<em>${escape(Array.isArray(s.type) ? s.type.join('|') : (s.type ?? 'any'))}</em>${extra ? ` (${escape(extra)})` : ''}`
  }
  const sections = Object.entries(doc.paths ?? {}).flatMap(([path, methods]) =>
    Object.entries(methods).map(([method, op]) => {
      const auth = op.security?.length ? Object.keys(op.security[0]!).join(', ') : 'none'
      const params = (op.parameters ?? [])
        .map((p) => `<li><code>${escape(p.name)}</code> (${escape(p.in)}${p.required ? ', required' : ''}): ${describe(p.schema)}${p.description ? ` — ${escape(p.description)}` : ''}</li>`)
        .join('')
      const body = Object.entries(op.requestBody?.content ?? {})
        .map(([type, c]) => `<p>Body (<code>${escape(type)}</code>):</p>${describe(c.schema)}`)
        .join('')
      const responses = Object.entries(op.responses ?? {})
        .map(([status, r]) => {
          const content = Object.entries(r.content ?? {})
            .map(([type, c]) => ` <code>${escape(type)}</code> ${describe(c.schema)}`)
            .join('')
          return `<li><strong>${escape(status)}</strong> ${escape(r.description ?? '')}${content}</li>`
        })
        .join('')
      const id = `${method}-${path}`.replace(/[^a-z0-9]+/gi, '-')
      return `<section aria-labelledby="${id}"><h2 id="${id}"><span class="m">${escape(method.toUpperCase())}</span> <code>${escape(path)}</code></h2>
<p>${escape(op.summary ?? '')}</p><p>Auth: ${escape(auth)}</p>${params ? `<h3>Parameters</h3><ul>${params}</ul>` : ''}${body}<h3>Responses</h3><ul>${responses}</ul></section>`
    }),
  )
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escape(doc.info.title)} API</title><style>
body{font:16px/1.5 system-ui,sans-serif;max-width:52rem;margin:0 auto;padding:1rem;color:#1a1a1a}
h1{font-size:1.6rem}h2{font-size:1.15rem;border-top:1px solid #ccc;padding-top:1rem;word-break:break-all}
h3{font-size:1rem;margin-bottom:0}code{background:#f2f2f2;padding:0 .2em;border-radius:3px}
.m{display:inline-block;min-width:4.5em;color:#fff;background:#25507a;border-radius:3px;text-align:center;font-size:.85em}
ul{padding-left:1.2rem}</style></head><body><main><h1>${escape(doc.info.title)} API <small>v${escape(doc.info.version)}</small></h1>
<p>${escape(doc.info.description ?? '')}</p><p>Machine-readable: <a href="/openapi.json">/openapi.json</a>. Errors are always
<code>{"error":{"code","message"}}</code>; <code>429</code> and some <code>503</code> answers carry <code>Retry-After</code>.</p>
${sections.join('\n')}</main></body></html>`
}
