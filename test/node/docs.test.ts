/**
 * What README.md and docs/storage.md say about the code, held to the code: the list of errors
 * (to ERRORS, the table every ApiError is built from), the shape `verifyPresented` returns, the
 * Layout (to the files in the repository) and the Durable Objects' tables and indexes (to their
 * CREATE statements).
 */
import { execFileSync } from 'node:child_process'
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { ERRORS } from '../../src/errors.ts'

const ROOT = fileURLToPath(new URL('../../', import.meta.url))
const read = (path: string) => readFileSync(join(ROOT, path), 'utf8')
const README = read('README.md')

/** The README section under `heading` (up to the next heading of the same or a higher level). */
function section(markdown: string, heading: string): string {
  const level = heading.match(/^#+/)![0].length
  const start = markdown.indexOf(`\n${heading}\n`)
  if (start < 0) throw new Error(`README has no "${heading}"`)
  const rest = markdown.slice(start + heading.length + 2)
  const end = rest.search(new RegExp(`\\n#{1,${level}} `))
  return end < 0 ? rest : rest.slice(0, end)
}

describe('README: errors', () => {
  it('lists exactly the codes of ERRORS, each with its status', () => {
    const rows = [...section(README, '### Errors').matchAll(/^\| (\d{3}) \| `([a-z_]+)` \|/gm)].map((m) => `${m[1]} ${m[2]}`)
    const table = Object.entries(ERRORS).map(([code, { status }]) => `${status} ${code}`)
    expect(rows.length).toBeGreaterThan(0)
    expect(new Set(rows).size).toBe(rows.length)
    expect([...rows].sort()).toEqual([...table].sort())
  })

  it('names no error code outside the table anywhere else', () => {
    // `404 not_found`-style mentions in prose must be codes that exist with that status.
    const mentions = [...README.matchAll(/`(\d{3}) ([a-z]+_[a-z_]+)`/g)].map((m) => ({ status: Number(m[1]), code: m[2]! }))
    expect(mentions.length).toBeGreaterThan(0)
    for (const { status, code } of mentions) expect(ERRORS[code as keyof typeof ERRORS]?.status, `${status} ${code}`).toBe(status)
  })
})

describe('README: the SDK', () => {
  it('gives verifyPresented the fields of the type it returns', () => {
    const client = read('src/client/index.ts')
    const returned = client.match(/async verifyPresented\(.*\): Promise<(\w+)> \{$/m)?.[1]
    expect(returned).toBeTruthy()
    const source = ['src/client/index.ts', 'src/protocol/credential.ts', 'src/protocol/receipt.ts'].map(read).join('\n')
    // The interface's own fields after those of the one it extends, if any.
    const fieldsOf = (name: string): string[] => {
      const m = source.match(new RegExp(`export interface ${name}(?: extends (\\w+))? \\{([\\s\\S]*?)\\n\\}`))
      expect(m, `interface ${name}`).toBeTruthy()
      const own = [...m![2]!.matchAll(/^ {2}(?:readonly )?(\w+)(\??):/gm)].map((f) => f[1]! + f[2]!)
      return [...(m![1] ? fieldsOf(m![1]) : []), ...own]
    }
    const fields = fieldsOf(returned!)
    const documented = README.match(/verifyPresented\(credential, receipt\)\s*\/\/ \{ ([^}]*) \}/)?.[1]?.split(', ')
    expect(documented).toEqual(fields)
  })
})

describe('README: Layout', () => {
  const block = section(README, '## Layout').match(/```\n([\s\S]*?)```/)![1]!
  // A line that starts at the margin names paths before its first run of two spaces.
  const listed = block
    .split('\n')
    .filter((line) => /^\S/.test(line))
    .flatMap((line) => line.split(/ {2,}/)[0]!.split(', '))

  it('names only paths that exist', () => {
    expect(listed.length).toBeGreaterThan(10)
    for (const path of listed) expect(existsSync(join(ROOT, path)), path).toBe(true)
    for (const path of listed.filter((p) => p.endsWith('/'))) expect(readdirSync(join(ROOT, path)).length, path).toBeGreaterThan(0)
  })

  it('covers every file of the repository but the top-level ones', () => {
    const files = execFileSync('git', ['ls-files', '--cached', '--others', '--exclude-standard'], { cwd: ROOT, encoding: 'utf8' })
      .split('\n')
      .filter((f) => f.includes('/') && !f.endsWith('/tsconfig.json') && existsSync(join(ROOT, f)))
    expect(files.length).toBeGreaterThan(100)
    const uncovered = files.filter((f) => !listed.some((p) => (p.endsWith('/') ? f.startsWith(p) : f === p)))
    expect(uncovered).toEqual([])
  })
})

describe('docs/storage.md', () => {
  it('names every table and index the Durable Objects create', () => {
    const storage = read('docs/storage.md')
    // Each Durable Object's schema is in its class or in the SQLite adapter it owns.
    const files = ['src/durable-objects', 'src/adapters'].flatMap((dir) =>
      readdirSync(join(ROOT, dir))
        .filter((f) => f.endsWith('.ts'))
        .map((f) => join(ROOT, dir, f)),
    )
    const created = files
      .flatMap((f) => {
        const text = readFileSync(f, 'utf8')
        // A table a later migration step drops is not part of the schema.
        const dropped = new Set([...text.matchAll(/DROP TABLE (\w+)/g)].map((m) => m[1]!))
        return [...text.matchAll(/CREATE (?:TABLE|INDEX)(?: IF NOT EXISTS)? (\w+)/g)].map((m) => m[1]!).filter((name) => !dropped.has(name))
      })
    expect(created).toEqual(expect.arrayContaining(['bindings', 'bindings_due', 'bindings_by_app', 'pool', 'history']))
    // Named in code type: `bindings`, `slots(leaves PK, count)`, `bindings_due (expires_at)`.
    expect(created.filter((name) => !new RegExp('`' + name + '[`( ]').test(storage))).toEqual([])
  })
})

describe('docs/scale.md', () => {
  const scale = read('docs/scale.md')
  /** A variable of wrangler.toml's `[env.production.vars]`, as a number. */
  const productionVar = (name: string): number => {
    const vars = read('wrangler.toml').split('[env.production.vars]')[1]!.split(/^\[/m)[0]!
    const value = vars.match(new RegExp(`^${name} = "(\\d+)"`, 'm'))?.[1]
    expect(value, name).toBeDefined()
    return Number(value)
  }
  /** Figures written `NAME` = 1,024, `NAME` (512), `NAME` = 1 s or `NAME` (8 MiB), in the code's units. */
  const quoted = [...scale.matchAll(/`([A-Z][A-Z_]+)`(?: = | \()\**(\d[\d,]*)(?: ?(MiB|s)(?![a-z]))?/g)].map((m) => ({
    name: m[1]!,
    value: Number(m[2]!.replace(/,/g, '')) * (m[3] === 'MiB' ? 2 ** 20 : m[3] === 's' ? 1000 : 1),
  }))

  it('quotes the code constants and the production settings as they are', async () => {
    const [{ MAX_SHARDS }, { MERGE_RECORDS }, { MAX_BATCH_CHANGES }, { MAX_ROUND_ENTRIES, REVOKE_BATCH }, { BACKGROUND_STEPS, MEASURE_STEP, SNAPSHOT_PART_BYTES }] = await Promise.all([
      import('../../src/core/shards.ts'),
      import('../../src/core/shard-merge.ts'),
      import('../../src/core/binding-shard.ts'),
      import('../../src/core/log-sequencer.ts'),
      import('../../src/core/snapshot-job.ts'),
    ])
    const actual: Record<string, number> = {
      MAX_SHARDS,
      MERGE_RECORDS,
      MAX_BATCH_CHANGES,
      MAX_ROUND_ENTRIES,
      REVOKE_BATCH,
      BACKGROUND_STEPS,
      MEASURE_STEP,
      SNAPSHOT_PART_BYTES,
      ...Object.fromEntries(['BINDING_SHARDS', 'LOG_ROUND_MS', 'SNAPSHOT_EVERY_ENTRIES', 'SNAPSHOTS_KEPT', 'BINDING_TTL_DAYS'].map((n) => [n, productionVar(n)])),
    }
    expect(new Set(quoted.map((q) => q.name))).toEqual(new Set(Object.keys(actual)))
    for (const q of quoted) expect(q.value, q.name).toBe(actual[q.name])
  })

  it('computes its per-shard figures from the production shard count', async () => {
    const shards = productionVar('BINDING_SHARDS')
    const { PRODUCTION_SHARDS } = await import('../../bench/snapshot-writer.ts')
    const { mergePage, MERGE_RECORDS } = await import('../../src/core/shard-merge.ts')
    const { SNAPSHOT_PART_BYTES } = await import('../../src/core/snapshot-job.ts')
    expect(PRODUCTION_SHARDS).toBe(shards)
    const perShard = scale.match(/^\| bindings per shard \| ([\d,]+) \| ([\d,]+) \|/m)
    expect(perShard?.slice(1).map((n) => Number(n.replace(/,/g, '')))).toEqual([1e8 / shards, 1e9 / shards])
    // What the snapshot writer's merge holds: a page from every shard.
    expect(scale).toContain(`${mergePage(shards).toLocaleString('en')} records a shard at ${shards} shards (${MERGE_RECORDS.toLocaleString('en')} in all)`)
    // R2's 10,000 parts of a multipart upload, at the writer's part size.
    expect(scale).toContain(`10,000 parts of \`SNAPSHOT_PART_BYTES\` (8 MiB) = ${Math.floor((10_000 * SNAPSHOT_PART_BYTES) / 2 ** 30)} GiB`)
  })

  it('was measured on a storage that refuses what a Durable Object refuses', async () => {
    const { DoSqliteStorage, DO_MAX_BOUND_PARAMETERS } = await import('../../bench/do-sqlite.ts')
    const storage = new DoSqliteStorage()
    storage.sql.exec('CREATE TABLE t (v BLOB)')
    const many = Array.from({ length: DO_MAX_BOUND_PARAMETERS + 1 }, (_, i) => i)
    expect(() => storage.sql.exec(`SELECT ${many.map(() => '?').join(', ')}`, ...many)).toThrow(/101 bound parameters/)
    expect(() => storage.sql.exec('INSERT INTO t (v) VALUES (?)', new Uint8Array(2_000_001))).toThrow(/2 MB/)
    storage.sql.exec('INSERT INTO t (v) VALUES (?)', new Uint8Array(2_000_000))
    expect(storage.counts).toMatchObject({ rowsWritten: 1, largestValue: 2_000_000, mostParameters: 1 })
    expect(scale).toMatch(/more than 100 bound parameters, a value\s+over 2 MB/)
  })

  it('is where the README sends its cost table', () => {
    const s = section(README, '## Scale and cost')
    expect(s).toMatch(/^\| a million verifications/m)
    expect(s).toContain('[docs/scale.md](docs/scale.md)')
  })
})
