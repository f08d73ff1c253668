/**
 * The serve command's counters, rendered in the Prometheus text format (version 0.0.4).
 * @module
 */
import type { MirrorStatus } from './mirror.ts'

/** Lookup outcomes counted separately. */
export type LookupResult = 'found' | 'not_found' | 'invalid_phone' | 'invalid_request' | 'error'

/** Counters kept by the server and the follow loop. */
export class Metrics {
  readonly #lookups = new Map<string, number>()
  readonly #syncErrors = new Map<string, number>()
  readonly #peerChecks = new Map<string, number>()

  /** Counts one lookup. */
  lookup(result: LookupResult, proof: boolean): void {
    const key = `result="${result}",proof="${proof ? 1 : 0}"`
    this.#lookups.set(key, (this.#lookups.get(key) ?? 0) + 1)
  }

  /** Counts one failed sync step by error code. */
  syncError(code: string): void {
    this.#syncErrors.set(code, (this.#syncErrors.get(code) ?? 0) + 1)
  }

  /** Counts one peer comparison by outcome. */
  peerCheck(status: string): void {
    this.#peerChecks.set(status, (this.#peerChecks.get(status) ?? 0) + 1)
  }

  /** The exposition text, with gauges taken from `status` at `nowMs`. */
  render(status: MirrorStatus, records: number, nowMs: number): string {
    const out: string[] = []
    const metric = (name: string, type: 'counter' | 'gauge', help: string, samples: [string, number][]) => {
      out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`)
      for (const [labels, value] of samples) out.push(`${name}${labels ? `{${labels}}` : ''} ${Number.isFinite(value) ? value : 'NaN'}`)
    }
    metric('whodis_mirror_lookups_total', 'counter', 'Lookups answered, by result and whether proofs were asked for.', [...this.#lookups])
    metric('whodis_mirror_tree_size', 'gauge', 'Log entries applied to the served state.', [['', status.treeSize]])
    metric('whodis_mirror_checkpoint_size', 'gauge', 'Tree size of the held verified checkpoint.', [['', status.checkpointSize]])
    metric('whodis_mirror_directory_size', 'gauge', 'Largest verified tree size seen at the directory.', [['', status.directorySize]])
    metric('whodis_mirror_sync_lag_entries', 'gauge', 'Entries the directory has signed that are not applied yet.', [
      ['', Math.max(0, status.directorySize - status.treeSize)],
    ])
    metric('whodis_mirror_checkpoint_age_seconds', 'gauge', 'Seconds since a sync last proved the held checkpoint current (NaN: never).', [
      ['', status.lastVerifiedAt === null ? NaN : (nowMs - status.lastVerifiedAt) / 1000],
    ])
    metric('whodis_mirror_records', 'gauge', 'Numbers with at least one binding in the served state.', [['', records]])
    metric('whodis_mirror_syncs_total', 'counter', 'Successful sync steps.', [['', status.syncs]])
    metric(
      'whodis_mirror_sync_errors_total',
      'counter',
      'Failed sync steps, by error code.',
      [...this.#syncErrors].map(([code, n]) => [`code="${code}"`, n]),
    )
    metric(
      'whodis_mirror_peer_checks_total',
      'counter',
      'Peer checkpoint comparisons, by outcome.',
      [...this.#peerChecks].map(([s, n]) => [`status="${s}"`, n]),
    )
    return `${out.join('\n')}\n`
  }
}
