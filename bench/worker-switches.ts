/**
 * The switches of the benchmarks' Worker (`bench/worker.ts`), in a module of their own so that
 * Node code can name them without loading the Worker.
 * @module
 */

/** The request header that makes a request run with a LIMITER whose every object grants (any value). */
export const WITHOUT_LIMITER = 'x-bench-without-limiter'
