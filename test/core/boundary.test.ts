/**
 * The house rule, held to the source: the core (src/core) and the protocol (src/protocol) never
 * import the platform (`cloudflare:*`) nor the code that wraps it (env, Durable Objects,
 * adapters, routes, middleware), and the protocol imports only itself and audited packages.
 */
import { readdirSync, readFileSync } from 'node:fs'
import { dirname, join, relative, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'

const SRC = fileURLToPath(new URL('../../src/', import.meta.url))

/** Every .ts file under `dir`. */
function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? sources(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : []))
}

/** The specifiers a module's text imports or re-exports, static or dynamic. */
function importsOf(text: string): string[] {
  return [...text.matchAll(/(?:^|\n)\s*(?:import|export)\b[^'"]*?from\s+['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)|(?:^|\n)\s*import\s+['"]([^'"]+)['"]/g)].map((m) => m[1] ?? m[2] ?? m[3]!)
}

/** Where a relative specifier of `file` lands, relative to src/ (a package name as is). */
function target(file: string, specifier: string): string {
  return specifier.startsWith('.') ? relative(SRC, resolve(dirname(file), specifier)) : specifier
}

const imports = (file: string) => importsOf(readFileSync(file, 'utf8'))

const PLATFORM_WRAPPERS = ['env.ts', 'durable-objects/', 'adapters/', 'routes/', 'middleware/', 'app.ts', 'index.ts', 'directory.ts']

describe('the import boundary', () => {
  it('keeps the platform and its wrappers out of src/core', () => {
    const files = sources(join(SRC, 'core'))
    expect(files.map((f) => relative(SRC, f))).toContain('core/meter.ts')
    for (const file of files) {
      for (const specifier of imports(file)) {
        const to = target(file, specifier)
        expect(to, `${relative(SRC, file)} imports ${specifier}`).not.toMatch(/^cloudflare:/)
        for (const wrapper of PLATFORM_WRAPPERS) expect(to.startsWith(wrapper), `${relative(SRC, file)} imports ${specifier}`).toBe(false)
      }
    }
  })

  it('lets src/protocol import only itself and audited packages', () => {
    const files = sources(join(SRC, 'protocol'))
    expect(files.map((f) => relative(SRC, f))).toContain('protocol/oprf.ts')
    for (const file of files) {
      for (const specifier of imports(file)) {
        const to = target(file, specifier)
        const allowed = to.startsWith('protocol/') || /^@noble\/(hashes|curves)\//.test(to) || /^libphonenumber-js(\/|$)/.test(to)
        expect(allowed, `${relative(SRC, file)} imports ${specifier}`).toBe(true)
      }
    }
  })

  it('would catch a platform import (the check is not vacuous)', () => {
    const file = join(SRC, 'core', 'x.ts')
    const fake = "import { DurableObject } from 'cloudflare:workers'\nimport type {\n  Env,\n} from '../env.ts'\nexport { x } from './y.ts'\nimport '../adapters/z.ts'\nconst m = await import('../routes/w.ts')"
    expect(importsOf(fake).map((s) => target(file, s))).toEqual(['cloudflare:workers', 'env.ts', 'core/y.ts', 'adapters/z.ts', 'routes/w.ts'])
  })
})
