/**
 * `npm run bench`: the whole benchmark suite on one deterministic dataset, every headline figure
 * a ratio against a baseline measured in the same run, or a size. Prints a table and writes
 * `bench/results/latest.json` (flat, every value a number).
 *
 *   npm run bench                          1,000,000 records
 *   npm run bench -- --quick               100,000 records, short runs (under a minute)
 *   npm run bench -- --records 10000000    the full run
 *
 * Flags: --records N, --seed S, --out FILE, --no-live (skip the measurements against the real
 * Worker), --no-oprf (skip the sealed labels' OPRF costs), --replay N (tail entries to replay),
 * --queries N (lookups per timed pass), --smoke (the test suite's run: 2,000 records, every
 * measurement at its smallest).
 * @module
 */
import { mkdirSync, writeFileSync } from 'node:fs'
import { cpus, loadavg, totalmem } from 'node:os'
import { dirname, join } from 'node:path'
import { DATASET_NOW, generateDataset, generateTail, sampleSubjects, validNumbers, type Dataset } from './dataset.ts'
import { measureLive, type LiveOptions, type Section } from './live.ts'
import { buildBenchLog } from './log.ts'
import { measureLookups } from './lookups.ts'
import { bootstrapMirror } from './mirror.ts'
import { measureOprf, type OprfBenchOptions } from './oprf.ts'
import { measureSizes } from './sizes.ts'
import { measureSnapshotWriter, PRODUCTION_SHARDS } from './snapshot-writer.ts'

/** What a run measures (see the issue's list); every value is a number. */
export const REQUIRED_KEYS = [
  'records',
  'mirror_lookups_per_s',
  'map_lookups_per_s',
  'sqlite_lookups_per_s',
  'index_bytes_per_record',
  'snapshot_bytes_per_record',
  'ndjson_gzip_bytes_per_record',
  'bundle_bytes_per_entry',
  'replay_entries_per_s',
  'bootstrap_s',
  'mirror_http_rps',
  'mirror_http_connections',
  'mirror_http_p99_ms',
  'mirror_http_over_1s',
  'mirror_http_over_10s',
  'edge_http_rps',
  'edge_http_connections',
  'edge_http_p99_ms',
  'edge_http_over_1s',
  'edge_http_over_10s',
  'edge_proxy_http_rps',
  'read_lookup_rps',
  'read_lookup_without_limiter_rps',
  'read_lookup_proof_rps',
  'read_limiter_us_per_lookup',
  'read_sequencer_us_per_lookup',
  'visible_latency_p50_ms',
  'visible_latency_p99_ms',
  'sequencer_entries_per_s',
  'snapshot_writer_peak_heap_bytes',
  'sections_failed',
] as const

/** Options of {@link runBench}. */
export interface BenchOptions {
  records: number
  seed: number
  /** Tail entries replayed after the bootstrap. */
  replay: number
  /** Lookups per timed pass. */
  queries: number
  reps: number
  /** Measurements against the real Worker (null: skip). */
  live: (Omit<LiveOptions, 'seedPhones' | 'verifyPhones'> & { seeds: number; verifications: number }) | null
  /** The sealed labels' OPRF costs (null: skip). */
  oprf: OprfBenchOptions | null
  /** Progress lines go here. */
  log: (line: string) => void
}

/** The settings of `--quick`, the default run, and a run of `records` records. */
export function defaultOptions(records: number, quick: boolean): BenchOptions {
  return {
    records,
    seed: 1,
    replay: Math.max(10_000, Math.min(1_000_000, Math.round(records / 2))),
    queries: quick ? 1_000_000 : Math.max(2_000_000, Math.min(records, 10_000_000)),
    reps: 3,
    live: quick
      ? { seeds: 10_000, verifications: 24, concurrency: 4, httpSeconds: 2, httpRounds: 1, stepSeconds: 1, maxConnections: 64, pollMs: 250 }
      : { seeds: 30_000, verifications: 200, concurrency: 8, httpSeconds: 5, httpRounds: 2, stepSeconds: 2, maxConnections: 64, pollMs: 250 },
    oprf: quick ? { batches: [100], contacts: 100, reps: 1 } : { batches: [250, 1000], contacts: 1000, reps: 3 },
    log: (line) => process.stderr.write(`${line}\n`),
  }
}

const gc = (): void => {
  const g = (globalThis as { gc?: () => void }).gc
  if (g) {
    g()
    g()
  }
}

/** The flat results of a run, and the sections that failed (each with its reason). */
export interface BenchRun {
  results: Record<string, number>
  failed: string[]
}

/**
 * Runs the suite. Each measurement is a section: one that fails (a server that errs, a
 * measurement that means nothing) is recorded in `failed` and the run goes on with the others,
 * so that one bad measurement never costs a long run its other figures.
 */
export async function runBench(o: BenchOptions, measure: { live: typeof measureLive } = { live: measureLive }): Promise<BenchRun> {
  const t0 = performance.now()
  const lap = (what: string) => o.log(`[${((performance.now() - t0) / 1000).toFixed(1).padStart(6)} s] ${what}`)
  const results: Record<string, number> = {}
  const failed: string[] = []
  // The machine is shared: the load beside the run is part of what its figures mean.
  const loadAtStart = loadavg()[0]!
  const section: Section = async (name, fn) => {
    try {
      return await fn()
    } catch (err) {
      const reason = `${name}: ${err instanceof Error ? err.message : String(err)}`
      failed.push(reason)
      lap(`✗ ${reason}`)
      return null
    }
  }
  const live = o.live
  if (live) {
    // First, while this process is small: the Worker's runtime is single-threaded and shares two
    // cores with this process, whose collector would otherwise be sweeping the 10 M dataset.
    const phones = validNumbers(live.seeds + live.verifications, o.seed + 3)
    const seedPhones = phones.slice(0, live.seeds)
    const verifyPhones = phones.slice(live.seeds)
    lap(`live: the Worker under wrangler (LOG_ROUND_MS 1000), ${seedPhones.length} numbers, ${verifyPhones.length} verifications`)
    await section('live', async () => Object.assign(results, await measure.live({ ...live, seedPhones, verifyPhones }, section)))
  }

  await section('dataset', async () => {
    lap(`dataset: ${o.records.toLocaleString('en')} records, seed ${o.seed}`)
    let ds: Dataset | null = generateDataset(o.records, o.seed)
    const tail = generateTail(ds, o.replay, o.seed + 1)
    const queries = Float64Array.from(sampleSubjects(ds, o.queries, 0.5, o.seed + 2))

    lap(`log: ${ds.entryCount.toLocaleString('en')} entries + ${tail.length.toLocaleString('en')} tail entries, snapshot`)
    const log = await buildBenchLog(ds, tail)
    lap('sizes')
    const dataset = ds
    await section('sizes', async () => Object.assign(results, await measureSizes(dataset, log.snapshot)))
    lap(`snapshot writer: the directory's, over ${PRODUCTION_SHARDS} shards, in a worker of its own (its live peak)`)
    await section('snapshot writer', async () => Object.assign(results, await measureSnapshotWriter(dataset, PRODUCTION_SHARDS)))
    gc()
    // The mirror runs in this process: free the dataset's objects so its heap is the mirror's own.
    ds = null
    gc()

    lap('bootstrap from the snapshot')
    const m = await bootstrapMirror(log)
    try {
      const memory = m.mirror.memory
      const records = m.mirror.records
      Object.assign(results, {
        index_bytes_per_record: memory.index / records,
        payload_bytes_per_record: memory.payload / records,
        mirror_memory_bytes_per_record: (memory.index + memory.payload + memory.fingerprints) / records,
        records,
        bootstrap_s: m.bootstrap_s,
        ...Object.fromEntries(Object.entries(m.bootstrap_steps).map(([k, v]) => [`bootstrap_${k.replace(/\W+/g, '_')}_s`, v])),
      })
      lap(`bootstrapped in ${m.bootstrap_s.toFixed(2)} s; lookups (${o.queries.toLocaleString('en')} a pass, ${o.reps} passes)`)
      await section('lookups', async () => Object.assign(results, measureLookups(m.mirror, log.snapshot.bytes, queries, DATASET_NOW, o.reps)))
      // The baselines' Map and SQLite database are garbage now: collect them here, not during the replay.
      gc()
      lap(`replay ${tail.length.toLocaleString('en')} entries`)
      await section('replay', async () => {
        const replay = await m.replay()
        Object.assign(results, { replay_entries_per_s: replay.replay_entries_per_s, replay_entries: replay.entries })
      })
    } finally {
      await m.close()
    }
  })

  if (o.oprf) {
    const oprf = o.oprf
    lap(`oprf: evaluation in batches of ${oprf.batches.join(', ')}, ${oprf.contacts} contacts end to end`)
    await section('oprf', async () => Object.assign(results, await measureOprf(oprf)))
  }

  const ratio = (a: string, b: string) => (results[a] !== undefined && results[b] ? results[a]! / results[b]! : NaN)
  Object.assign(results, {
    mirror_vs_map: ratio('mirror_lookups_per_s', 'map_lookups_per_s'),
    mirror_vs_sqlite: ratio('mirror_lookups_per_s', 'sqlite_lookups_per_s'),
    mirror_batch_vs_map: ratio('mirror_batch_lookups_per_s', 'map_lookups_per_s'),
    mirror_http_vs_edge: ratio('mirror_http_rps', 'edge_http_rps'),
    read_proof_vs_lookup: ratio('read_lookup_proof_rps', 'read_lookup_rps'),
    read_without_limiter_vs_lookup: ratio('read_lookup_without_limiter_rps', 'read_lookup_rps'),
  })
  // Every value stays a number: a ratio of a figure that was not measured is left out.
  for (const [k, v] of Object.entries(results)) if (!Number.isFinite(v)) delete results[k]
  Object.assign(results, {
    sections_failed: failed.length,
    run_s: (performance.now() - t0) / 1000,
    generated_at_ms: Date.now(),
    cpus: cpus().length,
    memory_gib: totalmem() / 2 ** 30,
    load_average_1m_start: loadAtStart,
    load_average_1m_end: loadavg()[0]!,
  })
  lap(failed.length ? `done; ${failed.length} section(s) failed` : 'done')
  return { results, failed }
}

/** The first figure whose key matches `pattern` and the size its first group names (the OPRF keys carry their batch sizes). */
function sized(r: Record<string, number>, pattern: RegExp): { size: number; value: number } {
  for (const [k, value] of Object.entries(r)) {
    const m = pattern.exec(k)
    if (m) return { size: Number(m[1]), value }
  }
  return { size: NaN, value: NaN }
}

/** The results as a table: figure, value, baseline in the same run, target. */
export function table(r: Record<string, number>): string {
  const n = (x: number | undefined, digits = 0) =>
    x === undefined || !Number.isFinite(x) ? '–' : x.toLocaleString('en', { minimumFractionDigits: digits, maximumFractionDigits: digits })
  const rate = (x: number | undefined) => (x === undefined ? '–' : x >= 1e6 ? `${n(x / 1e6, 2)} M/s` : x >= 1e3 ? `${n(x / 1e3, 1)} k/s` : `${n(x, 0)}/s`)
  const x = (v: number) => `${n(v, 2)}×`
  const tail = (r: Record<string, number>, k: string) =>
    `${n(r[`${k}_connections`])} conn.; p50 ${n(r[`${k}_p50_ms`], 1)}, p99 ${n(r[`${k}_p99_ms`], 1)}, max ${n(r[`${k}_max_ms`])} ms; > 1 s ${n(r[`${k}_over_1s`])}, > 10 s ${n(r[`${k}_over_10s`])} of ${n(r[`${k}_requests`])}`
  const rows: [string, string, string, string][] = [
    ['mirror lookups (library API)', rate(r.mirror_lookups_per_s), `Map ${rate(r.map_lookups_per_s)} (${x(r.mirror_vs_map!)}), SQLite ${rate(r.sqlite_lookups_per_s)} (${x(r.mirror_vs_sqlite!)})`, '≥ 3 M/s, ≥ 2× Map, ≥ 4× SQLite'],
    ['mirror lookups, batches of 1024', rate(r.mirror_batch_lookups_per_s), `Map (${x(r.mirror_batch_vs_map!)})`, ''],
    ['lookup index', `${n(r.index_bytes_per_record, 1)} B/record`, `+ ${n(r.payload_bytes_per_record, 1)} B bindings; Map ${n(r.map_bytes_per_record, 0)} B/record`, '≤ 24 B/record'],
    [
      'snapshot',
      `${n(r.snapshot_bytes_per_record, 2)} B/record`,
      `NDJSON.gz ${n(r.ndjson_gzip_bytes_per_record, 1)} B (${x(r.snapshot_vs_ndjson!)}); state ${n(r.snapshot_state_bytes_per_record, 2)} B + log indexes ≥ ${n(r.snapshot_provenance_bound_bytes_per_record, 2)} B`,
      '≤ 3 B, ≤ 0.10× NDJSON',
    ],
    [
      'snapshot writer (directory)',
      `peak ${n((r.snapshot_writer_peak_heap_bytes ?? NaN) / 2 ** 20, 1)} MiB`,
      `${n(r.snapshot_writer_records)} records, ${n(r.snapshot_writer_shards)} shards, ${n(r.snapshot_writer_steps)} steps, CPU ${n(r.snapshot_writer_cpu_s, 1)} s`,
      '≤ 64 MB',
    ],
    ['entry bundle (gzip)', `${n(r.bundle_bytes_per_entry, 2)} B/entry`, `raw ${n(r.bundle_raw_bytes_per_entry, 1)} B`, '≤ 9 B/entry'],
    ['replay (verify + apply)', rate(r.replay_entries_per_s), `${n(r.replay_entries)} entries`, '≥ 200 k/s'],
    ['bootstrap from snapshot', `${n(r.bootstrap_s, 1)} s`, `${n(r.records)} records`, '≤ 30 s at 10 M'],
    ['mirror HTTP', `${n(r.mirror_http_rps)} req/s`, `directory ${n(r.edge_http_rps)} req/s (${x(r.mirror_http_vs_edge!)})`, '≥ 5× directory'],
    ['  mirror: connections, tail', tail(r, 'mirror_http'), '', ''],
    ['  directory: connections, tail', tail(r, 'edge_http'), `via wrangler's proxy ${n(r.edge_proxy_http_rps)} req/s, p99 ${n(r.edge_proxy_http_p99_ms)} ms, > 1 s ${n(r.edge_proxy_http_over_1s)}`, 'no request > 10 s'],
    [
      'directory lookups: Limiter, proofs',
      `${n(r.read_lookup_rps)}/s; without Limiter ${n(r.read_lookup_without_limiter_rps)}/s; ?proof=1 ${n(r.read_lookup_proof_rps)}/s`,
      `per lookup: Limiter call ${n(r.read_limiter_us_per_lookup)} µs, Sequencer call ${n(r.read_sequencer_us_per_lookup)} µs`,
      '',
    ],
    ['write → visible at mirror', `p50 ${n(r.visible_latency_p50_ms)} ms, p99 ${n(r.visible_latency_p99_ms)} ms`, `after receipt p50 ${n(r.visible_after_receipt_p50_ms)} ms`, 'p50 ≤ 2 s, p99 ≤ 5 s'],
    ['sequencer', rate(r.sequencer_entries_per_s), 'LOG_ROUND_MS 1000', '≥ 1,000/s'],
    [
      'OPRF labels: evaluate, resolve',
      `${n(sized(r, /^oprf_evaluate_(\d+)_per_element_us$/).value)} µs/element; ${n(sized(r, /^oprf_resolve_(\d+)_contacts_ms$/).value)} ms for ${n(sized(r, /^oprf_resolve_(\d+)_contacts_ms$/).size)} contacts`,
      `${n(sized(r, /^oprf_evaluate_(\d+)_per_element_vs_mult$/).value, 2)}× and ${n(sized(r, /^oprf_resolve_(\d+)_contacts_vs_mult$/).value)}× one scalar mult (${n(r.oprf_scalar_mult_us)} µs)`,
      '',
    ],
  ]
  const widths = [0, 1, 2, 3].map((i) => Math.max(...rows.map((row) => row[i]!.length), ['figure', 'value', 'baseline (same run)', 'target'][i]!.length))
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ')
  return [line(['figure', 'value', 'baseline (same run)', 'target']), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n')
}

function parseArgs(argv: string[]): { options: BenchOptions; out: string } {
  const flag = (name: string) => {
    const i = argv.indexOf(`--${name}`)
    return i >= 0 ? argv[i + 1] : undefined
  }
  const quick = argv.includes('--quick') || argv.includes('--smoke')
  const records = Number(flag('records') ?? (argv.includes('--smoke') ? 2000 : quick ? 100_000 : 1_000_000))
  if (!Number.isSafeInteger(records) || records < 1000) throw new Error('--records must be an integer ≥ 1000')
  const options = defaultOptions(records, quick)
  if (argv.includes('--smoke')) {
    // The test suite's run: every measurement, as small as it gets (seconds, not minutes).
    Object.assign(options, { replay: 2000, queries: 20_000, reps: 1 })
    options.live = { seeds: 40, verifications: 4, concurrency: 2, httpSeconds: 0.5, httpRounds: 1, stepSeconds: 0.3, maxConnections: 4, pollMs: 100 }
    options.oprf = { batches: [20], contacts: 20, reps: 1 }
  }
  if (flag('seed')) options.seed = Number(flag('seed'))
  if (flag('replay')) options.replay = Number(flag('replay'))
  if (flag('queries')) options.queries = Number(flag('queries'))
  if (argv.includes('--no-live')) options.live = null
  if (argv.includes('--no-oprf')) options.oprf = null
  return { options, out: flag('out') ?? join(import.meta.dirname, 'results', 'latest.json') }
}

/**
 * The command: runs the suite, writes the JSON (whatever failed), prints the table and the
 * sections that failed; returns the run and where it went. The exit code is 1 if any failed.
 */
export async function main(argv: string[], print: (text: string) => void = console.log): Promise<BenchRun & { out: string }> {
  const { options, out } = parseArgs(argv)
  const run = await runBench(options)
  mkdirSync(dirname(out), { recursive: true })
  writeFileSync(out, `${JSON.stringify(run.results, null, 2)}\n`)
  print(table(run.results))
  if (run.failed.length > 0) print(`\n${run.failed.length} section(s) failed; the figures above are the others:\n${run.failed.map((f) => `  ✗ ${f}`).join('\n')}`)
  print(`\n${out}`)
  return { ...run, out }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const run = await main(process.argv.slice(2))
  process.exit(run.failed.length > 0 ? 1 : 0)
}
