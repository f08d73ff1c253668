/**
 * Command-line flags of the standalone benchmark scripts: `--name N`, each also readable as an
 * environment variable (`WHODIS_BENCH_NAME`, dashes as underscores).
 * @module
 */

/** The number given as `--name N` (or `WHODIS_BENCH_NAME`), else `fallback`; throws on anything but a finite number. */
export function numberFlag(argv: readonly string[], name: string, fallback: number): number {
  const i = argv.indexOf(`--${name}`)
  const raw = i >= 0 ? argv[i + 1] : process.env[`WHODIS_BENCH_${name.toUpperCase().replace(/-/g, '_')}`]
  if (raw === undefined) return fallback
  const value = Number(raw)
  if (raw.trim() === '' || !Number.isFinite(value)) throw new Error(`--${name} must be a number, not ${JSON.stringify(raw)}`)
  return value
}
