/**
 * The import boundary: `src/protocol` and the core (`src/core`) never import the platform, the
 * environment, the Durable Objects, the adapters or the routes (nor anything outside their own
 * layers, but the npm packages listed in `ALLOWED_PACKAGES`); `replicas/` imports nothing
 * of the repository but `src/protocol`; and no file of `src/` or `replicas/` takes part in an
 * import cycle, type-only imports included. The rules run on the real tree and, to show they can
 * fail, on synthetic trees that break each one.
 */
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { boundaryViolations, importCycles, importGraph, parseImports, readSources } from './import-graph.ts'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))
const inSources = (path: string) => path.startsWith('src/') || path.startsWith('replicas/')

describe('the repository', () => {
  const files = readSources(ROOT, ['src', 'replicas'])
  const graph = importGraph(files)

  it('reads the layers it guards', () => {
    // A walk that found nothing would pass every rule.
    for (const dir of ['src/protocol/', 'src/core/', 'src/core/memory/', 'replicas/src/', 'replicas/test/']) {
      expect([...files.keys()].filter((p) => p.startsWith(dir)).length, dir).toBeGreaterThan(3)
    }
    expect(graph.filter((i) => i.from.startsWith('src/core/') && i.target.kind === 'file' && i.target.path.startsWith('src/protocol/')).length).toBeGreaterThan(10)
  })

  it('keeps src/protocol, src/core and replicas/ inside their boundaries', () => {
    expect(boundaryViolations(graph)).toEqual([])
  })

  it('has no import cycle among src/ and replicas/ files, type-only imports included', () => {
    expect(importCycles(graph, inSources)).toEqual([])
  })
})

describe('the rules fail on a tree that breaks them', () => {
  const check = (tree: Record<string, string>) => boundaryViolations(importGraph(new Map(Object.entries(tree))))

  it('reads every form of import', () => {
    const refs = parseImports(
      'src/core/x.ts',
      [
        "import a from './a.ts'",
        "import type { B } from './b.ts'",
        "import './c.ts'",
        "export { d } from './d.ts'",
        "export * from './e.ts'",
        "export type { F } from './f.ts'",
        "const g = await import('./g.ts')",
        "type H = import('./h.ts').H",
        "const i = require('./i.ts')",
        "// import j from './j.ts' (a comment is not an import)",
        "const k = 'import l from \"./l.ts\"'",
      ].join('\n'),
    )
    expect(refs.map((r) => [r.specifier, r.form])).toEqual([
      ['./a.ts', 'import'],
      ['./b.ts', 'import type'],
      ['./c.ts', 'import'],
      ['./d.ts', 'export from'],
      ['./e.ts', 'export from'],
      ['./f.ts', 'export from'],
      ['./g.ts', 'dynamic import'],
      ['./h.ts', 'type import()'],
      ['./i.ts', 'require'],
    ])
  })

  it('refuses the platform, the environment and the shells in the protocol and the core, in every form', () => {
    const found = check({
      'src/protocol/a.ts': "import { DurableObject } from 'cloudflare:workers'",
      'src/protocol/b.ts': "import type { Env } from '../env.ts'",
      'src/core/c.ts': "export { Sequencer } from '../durable-objects/sequencer.ts'",
      'src/core/d.ts': "const m = await import('../adapters/sql.ts')",
      'src/core/memory/e.ts': "type R = import('../../routes/lookup.ts').R",
      'src/core/f.ts': "import { Hono } from 'hono'",
      'src/core/g.ts': "import { unstable_dev } from 'wrangler'",
      'src/env.ts': '',
    })
    expect(found.map((v) => [v.from, v.rule])).toEqual([
      ['src/protocol/a.ts', 'src/protocol imports the platform (cloudflare:*)'],
      ['src/protocol/b.ts', 'src/protocol imports the environment (src/env.ts)'],
      ['src/core/c.ts', 'src/core imports src/durable-objects/'],
      ['src/core/d.ts', 'src/core imports src/adapters/'],
      ['src/core/memory/e.ts', 'src/core imports src/routes/'],
      ['src/core/f.ts', "src/core imports the platform's tooling (hono)"],
      ['src/core/g.ts', "src/core imports the platform's tooling (wrangler)"],
    ])
  })

  it('refuses anything outside each layer, and packages off the allowlist', () => {
    const found = check({
      'src/protocol/a.ts': "import { x } from '../core/ports.ts'\nimport { sha256 } from '@noble/hashes/sha2.js'\nimport p from 'libphonenumber-js/max'",
      'src/protocol/b.ts': "import { z } from 'zod'\nimport { readFileSync } from 'node:fs'",
      'src/core/c.ts': "import type { Logger } from '../log.ts'\nimport { y } from '../protocol/entry.ts'\nimport { w } from './memory/faults.ts'",
      'src/core/d.ts': "import p from 'libphonenumber-js/max'",
      'src/core/ports.ts': '',
      'src/protocol/entry.ts': '',
      'src/core/memory/faults.ts': '',
    })
    expect(found.map((v) => [v.from, v.specifier, v.rule])).toEqual([
      ['src/protocol/a.ts', '../core/ports.ts', 'src/protocol imports src/core/ports.ts, outside src/protocol/'],
      ['src/protocol/b.ts', 'zod', 'src/protocol imports package zod, not in its allowlist'],
      ['src/protocol/b.ts', 'node:fs', 'src/protocol imports package node:fs, not in its allowlist'],
      ['src/core/c.ts', '../log.ts', 'src/core imports src/log.ts, outside src/protocol/ and src/core/'],
      ['src/core/d.ts', 'libphonenumber-js/max', 'src/core imports package libphonenumber-js/max, not in its allowlist'],
    ])
  })

  it('refuses a replica that imports the directory, and lets it import the protocol and itself', () => {
    const found = check({
      'replicas/src/a.ts': "import { x } from '../../src/protocol/entry.ts'\nimport { y } from './b.ts'\nimport { createHash } from 'node:crypto'",
      'replicas/src/b.ts': "import type { Env } from '../../src/env.ts'",
      'replicas/src/c.ts': "export { shardOf } from '../../src/core/shards.ts'",
      'replicas/test/d.test.ts': "const t = await import('../../test/node/directory.ts')",
      'replicas/src/e.ts': "import { Client } from 'whodis/client'",
      'replicas/src/f.ts': "import { DurableObject } from 'cloudflare:workers'",
      'src/protocol/entry.ts': '',
    })
    expect(found.map((v) => [v.from, v.rule])).toEqual([
      ['replicas/src/b.ts', 'replicas/ imports src/env.ts, outside src/protocol'],
      ['replicas/src/c.ts', 'replicas/ imports src/core/shards.ts, outside src/protocol'],
      ['replicas/test/d.test.ts', 'replicas/ imports test/node/directory.ts, outside src/protocol'],
      ['replicas/src/e.ts', 'replicas/ imports the repository (whodis/*) other than src/protocol'],
      ['replicas/src/f.ts', 'replicas/ imports the platform'],
    ])
  })

  it('finds cycles, type-only ones and long ones included, and reports each as a path', () => {
    const graph = importGraph(
      new Map(
        Object.entries({
          'src/env.ts': "import type { Sequencer } from './durable-objects/sequencer.ts'",
          'src/durable-objects/sequencer.ts': "import { readLogConfig } from '../env.ts'",
          'src/a.ts': "import { b } from './b.ts'",
          'src/b.ts': "export * from './c.ts'",
          'src/c.ts': "type A = import('./a.ts').A",
          'src/self.ts': "import type { S } from './self.ts'",
          'src/leaf.ts': "import { env } from './env.ts'",
        }),
      ),
    )
    expect(importCycles(graph, inSources)).toEqual([
      ['src/a.ts', 'src/b.ts', 'src/c.ts', 'src/a.ts'],
      ['src/durable-objects/sequencer.ts', 'src/env.ts', 'src/durable-objects/sequencer.ts'],
      ['src/self.ts', 'src/self.ts'],
    ])
  })
})
