/**
 * Just the mirror's bootstrap and replay on the benchmark log (what `npm run bench` measures as
 * `bootstrap_s` and `replay_entries_per_s`, without the rest): the quickest way to time or
 * profile the sync engine.
 *
 *   node --max-old-space-size=16384 --import tsx bench/bootstrap-replay.ts --records 1000000
 *   node --cpu-prof --cpu-prof-dir=/tmp/prof --max-old-space-size=16384 --import tsx bench/bootstrap-replay.ts
 *
 * Flags (or WHODIS_BENCH_<FLAG>): --records N (1,000,000), --replay N (half the records, at most
 * 1,000,000), --seed S, --chunk-entries N (entries per commit, 65,536).
 * @module
 */
import { numberFlag } from './args.ts'
import { generateDataset, generateTail, type Dataset } from './dataset.ts'
import { buildBenchLog } from './log.ts'
import { bootstrapMirror } from './mirror.ts'

const argv = process.argv.slice(2)
const records = numberFlag(argv, 'records', 1_000_000)
const seed = numberFlag(argv, 'seed', 1)
const replay = numberFlag(argv, 'replay', Math.max(10_000, Math.min(1_000_000, Math.round(records / 2))))
const chunkEntries = numberFlag(argv, 'chunk-entries', 65_536)

let started = performance.now()
let ds: Dataset | null = generateDataset(records, seed)
const log = await buildBenchLog(ds, generateTail(ds, replay, seed + 1))
ds = null
console.log(`log: ${log.size.toLocaleString('en')} entries, snapshot at ${log.snapshotSize.toLocaleString('en')} (${((performance.now() - started) / 1000).toFixed(1)} s)`)
started = performance.now()
const m = await bootstrapMirror(log, { chunkEntries })
console.log(`bootstrap: ${m.bootstrap_s.toFixed(2)} s`, Object.fromEntries(Object.entries(m.bootstrap_steps).map(([k, v]) => [k, Number(v.toFixed(2))])))
const r = await m.replay()
console.log(`replay: ${Math.round(r.replay_entries_per_s).toLocaleString('en')} entries/s (${r.entries.toLocaleString('en')} in ${r.replay_s.toFixed(2)} s)`)
await m.close()
process.exit(0)
