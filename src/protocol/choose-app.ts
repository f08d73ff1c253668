/**
 * Which app two people should talk on: the design essay's open question "will you get the same
 * app in each direction?" answered with a rule both sides compute alone and agree on.
 *
 * The rule, given each side's apps in order of preference (most preferred first):
 * 1. Only apps both sides have are candidates; with none in common there is no choice (null).
 * 2. The candidate with the lowest sum of its two preference ranks wins (rank 0 = favourite):
 *    neither side's wishes count more than the other's.
 * 3. Ties go to the candidate whose worse rank is better (the fairer compromise),
 * 4. then to the app id that sorts first (plain code-unit order), which both sides share.
 *
 * Every step is symmetric in the two sides, so `chooseApp(a, b) === chooseApp(b, a)`, and the
 * winner is never worse for both sides than another candidate (it is Pareto-optimal).
 * @module
 */

/** Picks the app two parties should use; null when they share none. Duplicates keep their first rank. */
export function chooseApp(mine: readonly string[], theirs: readonly string[]): string | null {
  const rankA = ranks(mine)
  const rankB = ranks(theirs)
  let best: { app: string; sum: number; worst: number } | null = null
  for (const [app, a] of rankA) {
    const b = rankB.get(app)
    if (b === undefined) continue
    const candidate = { app, sum: a + b, worst: Math.max(a, b) }
    if (!best || better(candidate, best)) best = candidate
  }
  return best?.app ?? null
}

function ranks(apps: readonly string[]): Map<string, number> {
  const out = new Map<string, number>()
  for (const app of apps) if (!out.has(app)) out.set(app, out.size)
  return out
}

function better(x: { app: string; sum: number; worst: number }, y: { app: string; sum: number; worst: number }): boolean {
  if (x.sum !== y.sum) return x.sum < y.sum
  if (x.worst !== y.worst) return x.worst < y.worst
  return x.app < y.app
}
