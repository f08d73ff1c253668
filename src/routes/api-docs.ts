/**
 * `/docs`: the API reference, rendered on the server from the same OpenAPI document that
 * `/openapi.json` serves (and the one error table, {@link ERRORS}), so it cannot drift from the
 * routes. One page with a table of contents and anchors; no script, no external assets.
 * @module
 */
import { ERRORS } from '../errors.ts'

/** The parts of a JSON Schema (OpenAPI 3.1) the page renders. */
export type Schema = {
  type?: string | string[]
  properties?: Record<string, Schema>
  required?: string[]
  items?: Schema
  enum?: unknown[]
  const?: unknown
  description?: string
  example?: unknown
  $ref?: string
  format?: string
  pattern?: string
  minimum?: number
  maximum?: number
  minLength?: number
  maxLength?: number
  minItems?: number
  maxItems?: number
  anyOf?: Schema[]
  oneOf?: Schema[]
  allOf?: Schema[]
}
type MediaType = { schema?: Schema; examples?: Record<string, { summary?: string; value?: unknown }> }
type Response = { description?: string; headers?: Record<string, unknown>; content?: Record<string, MediaType> }
type Operation = {
  operationId?: string
  summary?: string
  description?: string
  tags?: string[]
  security?: Record<string, unknown>[]
  parameters?: { name: string; in: string; required?: boolean; schema?: Schema; description?: string }[]
  requestBody?: { content?: Record<string, MediaType> }
  responses?: Record<string, Response>
}
type SecurityScheme = { type: string; scheme?: string; bearerFormat?: string; name?: string; in?: string; description?: string }
/** The OpenAPI 3.1 document, as far as the page reads it. */
export type ApiDoc = {
  info: { title: string; version: string; description?: string }
  servers?: { url: string; description?: string }[]
  tags?: { name: string; description?: string }[]
  paths?: Record<string, Record<string, Operation>>
  components?: { schemas?: Record<string, Schema>; securitySchemes?: Record<string, SecurityScheme> }
}

const escape = (s: unknown) =>
  String(s).replace(/[&<>"']/g, (ch) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[ch]!)
const code = (s: unknown) => `<code>${escape(s)}</code>`
/** Plain text with `backtick` spans as code, as summaries and descriptions write them. */
const prose = (s: string | undefined) => escape(s ?? '').replace(/`([^`]+)`/g, '<code>$1</code>')
const slug = (s: string) => s.replace(/[^a-z0-9_]+/gi, '-').replace(/^-|-$/g, '')
const refName = (ref: string) => ref.split('/').pop()!

/** The request header (or parameter) a security scheme is sent in, e.g. `Authorization: Bearer <token>`. */
export function credentialForm(s: SecurityScheme): string {
  if (s.type === 'http' && s.scheme?.toLowerCase() === 'bearer') return 'Authorization: Bearer <token>'
  if (s.type === 'http' && s.scheme?.toLowerCase() === 'basic') return 'Authorization: Basic <base64 of user:password>'
  if (s.type === 'apiKey' && s.in === 'header') return `${s.name}: <key>`
  if (s.type === 'apiKey' && s.in === 'query') return `?${s.name}=<key>`
  if (s.type === 'apiKey' && s.in === 'cookie') return `Cookie: ${s.name}=<key>`
  return s.type
}

/** Renders the OpenAPI 3.1 document as one accessible HTML page. */
export function renderApiDocs(doc: ApiDoc): string {
  const schemas = doc.components?.schemas ?? {}
  const schemes = doc.components?.securitySchemes ?? {}
  const resolve = (s: Schema): Schema => (s.$ref ? (schemas[refName(s.$ref)] ?? {}) : s)
  const schemaLink = (ref: string) => `<a href="#schema-${slug(refName(ref))}">${code(refName(ref))}</a>`

  /** An allOf as one object: every part's properties (references resolved), required if any part requires them. */
  const mergeAll = (parts: Schema[]): Schema => {
    const merged: Schema = { type: 'object', properties: {}, required: [] }
    for (const part of parts.map(resolve)) {
      const flat = part.allOf ? mergeAll(part.allOf) : part
      Object.assign(merged.properties!, flat.properties)
      merged.required!.push(...(flat.required ?? []))
      if (flat.description && !merged.description) merged.description = flat.description
    }
    return merged
  }

  const scalar = (s: Schema): string => {
    const types = Array.isArray(s.type) ? s.type : [s.type ?? 'any']
    const facts = [
      s.format,
      s.const !== undefined ? `always ${JSON.stringify(s.const)}` : '',
      s.enum ? `one of ${s.enum.map((e) => JSON.stringify(e)).join(', ')}` : '',
      s.pattern ? `pattern ${s.pattern}` : '',
      s.minLength !== undefined || s.maxLength !== undefined ? `length ${s.minLength ?? 0}–${s.maxLength ?? '∞'}` : '',
      s.minimum !== undefined || s.maximum !== undefined ? `${s.minimum ?? '−∞'}–${s.maximum ?? '∞'}` : '',
      s.example !== undefined ? `e.g. ${JSON.stringify(s.example)}` : '',
    ].filter(Boolean)
    return `<em>${escape(types.join(' or '))}</em>${facts.length ? ` (${escape(facts.join('; '))})` : ''}`
  }

  /** A schema in words; objects become nested lists. References are linked and, within `depth`, expanded. */
  const describe = (s: Schema | undefined, depth = 0): string => {
    if (!s) return ''
    if (depth > 6) return '…'
    if (s.$ref) {
      const target = schemas[refName(s.$ref)]
      return target && (target.properties || target.allOf) ? `${schemaLink(s.$ref)}: ${describe(target, depth + 1)}` : `${schemaLink(s.$ref)} ${describe(target, depth + 1)}`
    }
    if (s.allOf) return describe(mergeAll(s.allOf), depth)
    const alternatives = s.anyOf ?? s.oneOf
    if (alternatives) {
      const nonNull = alternatives.filter((a) => a.type !== 'null')
      const parts = nonNull.map((a) => describe(a, depth + 1))
      return `${parts.length > 1 ? `one of: ${parts.join(' | ')}` : (parts[0] ?? '')}${nonNull.length < alternatives.length ? ' or <em>null</em>' : ''}`
    }
    if (s.properties) {
      const rows = Object.entries(s.properties).map(([name, v]) => {
        const optional = s.required?.includes(name) ? '' : '?'
        return `<li>${code(name)}${optional}: ${describe(v, depth + 1)}${v.description ? ` — ${prose(v.description)}` : ''}</li>`
      })
      return `<em>object</em><ul>${rows.join('')}</ul>`
    }
    if (s.type === 'array' || (Array.isArray(s.type) && s.type.includes('array'))) {
      const bounds = s.minItems !== undefined || s.maxItems !== undefined ? ` (${escape(`${s.minItems ?? 0}–${s.maxItems ?? '∞'} items`)})` : ''
      return `<em>array</em>${bounds} of ${describe(s.items, depth + 1) || '<em>any</em>'}`
    }
    return scalar(s)
  }

  const auth = (op: Operation): string => {
    if (!op.security?.length) return 'none'
    return op.security
      .map((requirement) =>
        Object.keys(requirement)
          .map((name) => `<a href="#scheme-${slug(name)}">${escape(name)}</a> (${code(schemes[name] ? credentialForm(schemes[name]) : name)})`)
          .join(' and '),
      )
      .join(' or ')
  }

  type Entry = { path: string; method: string; op: Operation; id: string }
  const entries: Entry[] = Object.entries(doc.paths ?? {}).flatMap(([path, methods]) =>
    Object.entries(methods).map(([method, op]) => ({ path, method, op, id: `op-${slug(op.operationId ?? `${method}-${path}`)}` })),
  )

  const operation = ({ path, method, op, id }: Entry): string => {
    const params = (op.parameters ?? [])
      .map((p) => `<li>${code(p.name)} (${escape(p.in)}${p.required ? ', required' : ''}): ${describe(p.schema)}${p.description ? ` — ${prose(p.description)}` : ''}</li>`)
      .join('')
    const body = Object.entries(op.requestBody?.content ?? {})
      .map(([type, c]) => `<h4>Body (${code(type)})</h4>${describe(c.schema)}`)
      .join('')
    const outcomes = Object.entries(op.responses ?? {})
    const success = outcomes
      .filter(([status]) => /^[123]/.test(status))
      .map(([status, r]) => {
        const content = Object.entries(r.content ?? {})
          .map(([type, c]) => ` ${code(type)} ${describe(c.schema)}`)
          .join('')
        return `<li><strong>${escape(status)}</strong> ${prose(r.description)}${content}</li>`
      })
      .join('')
    const failures = outcomes
      .filter(([status]) => /^[45]/.test(status))
      .map(([status, r]) => {
        const codes = Object.keys(r.content?.['application/json']?.examples ?? {})
        const listed = codes.length ? codes.map((c) => `<a href="#error-${slug(c)}">${code(c)}</a>`).join(', ') : escape(r.description ?? '')
        return `<tr><td>${escape(status)}</td><td>${listed}</td></tr>`
      })
      .join('')
    return `<section aria-labelledby="${id}"><h3 id="${id}"><span class="m">${escape(method.toUpperCase())}</span> <code>${escape(path)}</code></h3>
<p>${prose(op.summary)}</p>${op.description ? `<p>${prose(op.description)}</p>` : ''}<p>Auth: ${auth(op)}${op.operationId ? ` · operationId ${code(op.operationId)}` : ''}</p>
${params ? `<h4>Parameters</h4><ul>${params}</ul>` : ''}${body}<h4>Responses</h4><ul>${success}</ul>
${failures ? `<table class="errors"><caption>Errors</caption><thead><tr><th scope="col">Status</th><th scope="col">Codes (meanings: <a href="#errors">Errors</a>)</th></tr></thead><tbody>${failures}</tbody></table>` : ''}</section>`
  }

  const tags = [...(doc.tags ?? [])]
  for (const e of entries) for (const t of e.op.tags ?? ['other']) if (!tags.some((x) => x.name === t)) tags.push({ name: t })
  const inTag = (tag: string) => entries.filter((e) => (e.op.tags ?? ['other']).includes(tag))

  const toc = `<nav aria-labelledby="toc"><h2 id="toc">Contents</h2><ol>
<li><a href="#auth">Authentication</a></li><li><a href="#errors">Errors</a></li>
${tags
  .map(
    (t) =>
      `<li><a href="#tag-${slug(t.name)}">${escape(t.name)}</a><ul>${inTag(t.name)
        .map((e) => `<li><a href="#${e.id}"><span class="m">${escape(e.method.toUpperCase())}</span> ${code(e.path)}</a> ${prose(e.op.summary)}</li>`)
        .join('')}</ul></li>`,
  )
  .join('\n')}
<li><a href="#schemas">Schemas</a></li></ol></nav>`

  const authSection = `<section aria-labelledby="auth"><h2 id="auth">Authentication</h2><dl>${Object.entries(schemes)
    .map(
      ([name, s]) =>
        `<dt id="scheme-${slug(name)}">${code(name)}</dt><dd>Send ${code(credentialForm(s))}${s.bearerFormat ? `, the token being ${escape(s.bearerFormat)}` : ''}. ${prose(s.description)}</dd>`,
    )
    .join('')}</dl><p>Routes marked “Auth: none” take no credentials.</p></section>`

  const errorsSection = `<section aria-labelledby="errors"><h2 id="errors">Errors</h2>
<p>Every error is <code>{"error":{"code","message"}}</code> with the status below; the code is stable, the message is for people. <code>wrong_code</code> adds <code>attemptsLeft</code>.</p>
<table><thead><tr><th scope="col">Status</th><th scope="col">Code</th><th scope="col">Meaning</th></tr></thead><tbody>${Object.entries(ERRORS)
    .map(([name, e]) => `<tr id="error-${slug(name)}"><td>${e.status}</td><td>${code(name)}</td><td>${escape(e.means)}</td></tr>`)
    .join('')}</tbody></table></section>`

  const groups = tags
    .map(
      (t) =>
        `<section aria-labelledby="tag-${slug(t.name)}"><h2 id="tag-${slug(t.name)}">${escape(t.name)}</h2>${t.description ? `<p>${prose(t.description)}</p>` : ''}
${inTag(t.name).map(operation).join('\n')}<p class="top"><a href="#toc">Back to contents</a></p></section>`,
    )
    .join('\n')

  const schemaSection = `<section aria-labelledby="schemas"><h2 id="schemas">Schemas</h2><dl>${Object.entries(schemas)
    .map(([name, s]) => `<dt id="schema-${slug(name)}">${code(name)}</dt><dd>${describe(s, 1)}</dd>`)
    .join('')}</dl></section>`

  const server = doc.servers?.[0]?.url
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escape(doc.info.title)} API</title><style>
body{font:16px/1.5 system-ui,sans-serif;max-width:52rem;margin:0 auto;padding:1rem;color:#1a1a1a}
h1{font-size:1.6rem}h2{font-size:1.3rem;border-top:2px solid #25507a;padding-top:1rem}
h3{font-size:1.1rem;border-top:1px solid #ccc;padding-top:1rem;word-break:break-all}h4{font-size:1rem;margin:.8rem 0 0}
code{background:#f2f2f2;padding:0 .2em;border-radius:3px;word-break:break-word}
.m{display:inline-block;min-width:4.5em;color:#fff;background:#25507a;border-radius:3px;text-align:center;font-size:.85em}
ul,ol{padding-left:1.2rem}nav li{margin:.15rem 0}table{border-collapse:collapse;width:100%;margin:.6rem 0}caption{text-align:left;font-weight:600}
th,td{border-bottom:1px solid #ddd;padding:.1rem .4rem;line-height:1.4;text-align:left;vertical-align:top}@media (min-width:40rem){td code{white-space:nowrap}}
.errors td:first-child{width:4.5em}dt{margin-top:.6rem}.top{font-size:.9em}</style></head>
<body><main><h1>${escape(doc.info.title)} API <small>v${escape(doc.info.version)}</small></h1>
<p>${prose(doc.info.description)}</p><p>Machine-readable: <a href="/openapi.json">/openapi.json</a> (OpenAPI 3.1: generate a client from it)${server ? `. Server: ${code(server)}` : ''}.</p>
${toc}
${authSection}
${errorsSection}
${groups}
${schemaSection}</main></body></html>`
}
