/**
 * The import graph of the repository's sources, read with TypeScript's parser: every static
 * `import` and `import type`, `export ... from`, dynamic `import()`, `import('x').T` type and
 * `require()`, each resolved to a repository path or a package. {@link boundaryViolations} and
 * {@link importCycles} are the rules the boundary test holds the tree to; they take a plain
 * map of files, so a test can feed them a synthetic tree and watch them fail.
 * @module
 */
import { readdirSync, readFileSync } from 'node:fs'
import { join, posix } from 'node:path'
import ts from 'typescript'

/** How a file names another. */
export type ImportForm = 'import' | 'import type' | 'export from' | 'dynamic import' | 'type import()' | 'require'

/** One import as written. */
export interface ImportRef {
  specifier: string
  form: ImportForm
  line: number
}

/** What an import names: a repository file (path from the root), a package, or the platform. */
export type Target = { kind: 'file'; path: string } | { kind: 'package'; name: string; specifier: string } | { kind: 'platform'; specifier: string }

/** An import with its target. */
export interface ResolvedImport extends ImportRef {
  from: string
  target: Target
}

/** Every import of one source file. */
export function parseImports(fileName: string, source: string): ImportRef[] {
  const file = ts.createSourceFile(fileName, source, ts.ScriptTarget.Latest, true, fileName.endsWith('x') ? ts.ScriptKind.TSX : ts.ScriptKind.TS)
  const out: ImportRef[] = []
  const add = (node: ts.Node, lit: ts.Expression | undefined, form: ImportForm) => {
    if (lit && ts.isStringLiteralLike(lit)) out.push({ specifier: lit.text, form, line: file.getLineAndCharacterOfPosition(node.getStart()).line + 1 })
  }
  const visit = (node: ts.Node): void => {
    if (ts.isImportDeclaration(node)) add(node, node.moduleSpecifier, node.importClause?.isTypeOnly ? 'import type' : 'import')
    else if (ts.isExportDeclaration(node)) add(node, node.moduleSpecifier, 'export from')
    else if (ts.isImportEqualsDeclaration(node) && ts.isExternalModuleReference(node.moduleReference)) add(node, node.moduleReference.expression, 'require')
    else if (ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument)) add(node, node.argument.literal, 'type import()')
    else if (ts.isCallExpression(node)) {
      if (node.expression.kind === ts.SyntaxKind.ImportKeyword) add(node, node.arguments[0], 'dynamic import')
      else if (ts.isIdentifier(node.expression) && node.expression.text === 'require') add(node, node.arguments[0], 'require')
    }
    ts.forEachChild(node, visit)
  }
  visit(file)
  return out
}

const SOURCE = /\.(ts|mts|cts|tsx|js|mjs|cjs)$/

/** Resolves `specifier` imported by `from` (paths from the repository root, `/`-separated) among `files`. */
export function resolveImport(from: string, specifier: string, files: ReadonlySet<string>): Target {
  if (/^[a-z]+:/.test(specifier)) return specifier.startsWith('cloudflare:') ? { kind: 'platform', specifier } : { kind: 'package', name: specifier.split('/')[0]!, specifier }
  if (!specifier.startsWith('.') && !specifier.startsWith('/')) {
    const parts = specifier.split('/')
    return { kind: 'package', name: specifier.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0]!, specifier }
  }
  const base = posix.normalize(posix.join(posix.dirname(from), specifier))
  const candidates = [base, base.replace(/\.(m|c)?js$/, '.$1ts'), `${base}.ts`, `${base}/index.ts`]
  return { kind: 'file', path: candidates.find((c) => files.has(c)) ?? base }
}

/** Every import of every file in `files` (path → source), resolved. */
export function importGraph(files: ReadonlyMap<string, string>): ResolvedImport[] {
  const paths = new Set(files.keys())
  const out: ResolvedImport[] = []
  for (const [path, source] of files) {
    for (const ref of parseImports(path, source)) out.push({ ...ref, from: path, target: resolveImport(path, ref.specifier, paths) })
  }
  return out
}

/** The packages each layer may import, beyond its own files: listed one by one. */
export const ALLOWED_PACKAGES = {
  // The audited hash and curve libraries (any module of theirs: an entry ending in `/` is a prefix);
  // libphonenumber's full metadata, to parse and validate numbers.
  protocol: ['@noble/hashes/', '@noble/curves/', 'libphonenumber-js/max'],
  // The audited libraries only (today SHA-256, for a bound key's fingerprint).
  core: ['@noble/hashes/', '@noble/curves/'],
} as const

const allows = (list: readonly string[], specifier: string) => list.some((p) => (p.endsWith('/') ? specifier.startsWith(p) : specifier === p))

/**
 * Imports the rules let through, each named: the mirror's end-to-end test starts the real
 * directory (another process, over loopback) with the repository's test harness. The mirror
 * itself, replicas/src and replicas/bin, has no exemption.
 */
export const EXEMPT: readonly { from: string; to: string }[] = [{ from: 'replicas/test/e2e.test.ts', to: 'test/node/directory.ts' }]

/** A rule an import breaks. */
export interface Violation {
  from: string
  line: number
  specifier: string
  rule: string
}

const layerOf = (path: string) => (path.startsWith('src/protocol/') ? 'protocol' : path.startsWith('src/core/') ? 'core' : path.startsWith('replicas/') ? 'replicas' : null)

// Why a target is named in the charter's list, for a readable failure.
function named(target: Target): string | null {
  if (target.kind === 'platform') return 'the platform (cloudflare:*)'
  if (target.kind === 'package') return target.name === 'wrangler' || target.name === 'hono' || target.name.startsWith('@hono/') ? `the platform's tooling (${target.name})` : null
  const p = target.path
  if (p === 'src/env.ts') return 'the environment (src/env.ts)'
  for (const dir of ['durable-objects', 'adapters', 'routes']) if (p.startsWith(`src/${dir}/`)) return `src/${dir}/`
  return null
}

/**
 * The imports that break the layering: `src/protocol` imports only itself and
 * {@link ALLOWED_PACKAGES}.protocol; `src/core` only the protocol, itself and
 * {@link ALLOWED_PACKAGES}.core; `replicas/` nothing of the repository but `src/protocol` (and itself).
 */
export function boundaryViolations(imports: readonly ResolvedImport[], exempt: readonly { from: string; to: string }[] = EXEMPT): Violation[] {
  const out: Violation[] = []
  for (const imp of imports) {
    const layer = layerOf(imp.from)
    if (!layer) continue
    const t = imp.target
    if (t.kind === 'file' && exempt.some((e) => e.from === imp.from && e.to === t.path)) continue
    let rule: string | null = null
    if (layer === 'replicas') {
      if (t.kind === 'platform') rule = 'replicas/ imports the platform'
      else if (t.kind === 'package' && t.name === 'whodis') rule = 'replicas/ imports the repository (whodis/*) other than src/protocol'
      else if (t.kind === 'file' && !t.path.startsWith('replicas/') && !t.path.startsWith('src/protocol/')) rule = `replicas/ imports ${t.path}, outside src/protocol`
    } else {
      const mayImport = layer === 'protocol' ? ['src/protocol/'] : ['src/protocol/', 'src/core/']
      const packages: readonly string[] = ALLOWED_PACKAGES[layer]
      const reason = named(t)
      if (reason) rule = `src/${layer} imports ${reason}`
      else if (t.kind === 'file' && !mayImport.some((d) => t.path.startsWith(d))) rule = `src/${layer} imports ${t.path}, outside ${mayImport.join(' and ')}`
      else if (t.kind === 'package' && !allows(packages, t.specifier)) rule = `src/${layer} imports package ${t.specifier}, not in its allowlist`
    }
    if (rule) out.push({ from: imp.from, line: imp.line, specifier: imp.specifier, rule })
  }
  return out
}

/** The import cycles among the files `within` selects (type-only imports included): each as a path that returns to its start. */
export function importCycles(imports: readonly ResolvedImport[], within: (path: string) => boolean): string[][] {
  const edges = new Map<string, Set<string>>()
  for (const imp of imports) {
    if (imp.target.kind !== 'file' || !within(imp.from) || !within(imp.target.path)) continue
    let set = edges.get(imp.from)
    if (!set) edges.set(imp.from, (set = new Set()))
    set.add(imp.target.path)
  }
  // Tarjan's strongly connected components; every component of two or more files (or a file importing itself) holds a cycle.
  const index = new Map<string, number>()
  const low = new Map<string, number>()
  const stack: string[] = []
  const onStack = new Set<string>()
  const components: string[][] = []
  let counter = 0
  const connect = (v: string): void => {
    index.set(v, counter)
    low.set(v, counter++)
    stack.push(v)
    onStack.add(v)
    for (const w of edges.get(v) ?? []) {
      if (!index.has(w)) {
        connect(w)
        low.set(v, Math.min(low.get(v)!, low.get(w)!))
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!))
    }
    if (low.get(v) === index.get(v)) {
      const component: string[] = []
      let w: string
      do {
        w = stack.pop()!
        onStack.delete(w)
        component.push(w)
      } while (w !== v)
      if (component.length > 1 || edges.get(v)?.has(v)) components.push(component.sort())
    }
  }
  for (const v of [...edges.keys()].sort()) if (!index.has(v)) connect(v)
  // One concrete cycle per component: a shortest path from its first file back to itself.
  return components.map((component) => {
    const inside = new Set(component)
    const start = component[0]!
    const previous = new Map<string, string>()
    const queue = [start]
    while (queue.length > 0) {
      const v = queue.shift()!
      for (const w of edges.get(v) ?? []) {
        if (!inside.has(w)) continue
        if (w === start) {
          const path = [start]
          for (let at = v; at !== start; at = previous.get(at)!) path.splice(1, 0, at)
          return [...path, start]
        }
        if (!previous.has(w)) {
          previous.set(w, v)
          queue.push(w)
        }
      }
    }
    return component
  })
}

/** The repository's sources under `dirs` (path from `root` → text), skipping node_modules and dot folders. */
export function readSources(root: string, dirs: readonly string[]): Map<string, string> {
  const out = new Map<string, string>()
  const walk = (dir: string): void => {
    for (const entry of readdirSync(join(root, dir), { withFileTypes: true })) {
      if (entry.name === 'node_modules' || entry.name.startsWith('.')) continue
      const path = `${dir}/${entry.name}`
      if (entry.isDirectory()) walk(path)
      else if (SOURCE.test(entry.name) && !entry.name.endsWith('.d.ts')) out.set(path, readFileSync(join(root, path), 'utf8'))
    }
  }
  for (const dir of dirs) walk(dir)
  return out
}
