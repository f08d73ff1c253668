/**
 * One writer per store directory: a `LOCK` file created with O_EXCL holding `pid hostname`.
 * A lock left by a dead process on this host (e.g. after kill -9) is taken over; a live or
 * foreign-host holder makes `acquireLock` throw `StoreError('locked')`.
 *
 * Limits: two processes that find the same stale lock at the same instant can both take it
 * over (there is no flock in Node); pid reuse after a crash can make a stale lock look live
 * (remove LOCK by hand once sure no mirror runs on the directory).
 * @module
 */
import { closeSync, openSync, readFileSync, unlinkSync, writeSync } from 'node:fs'
import { hostname } from 'node:os'
import { StoreError } from './errors.ts'

/** A held lock; `release` removes the file (once). */
export interface Lock {
  readonly path: string
  release(): void
}

/** Takes the lock file `path` for this process. */
export function acquireLock(path: string): Lock {
  const me = `${process.pid} ${hostname()}\n`
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(path, 'wx')
      try {
        writeSync(fd, me)
      } finally {
        closeSync(fd)
      }
      let held = true
      return {
        path,
        release() {
          if (!held) return
          held = false
          try {
            if (readFileSync(path, 'utf8') === me) unlinkSync(path)
          } catch {
            // Already gone.
          }
        },
      }
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err
    }
    let holder = ''
    try {
      holder = readFileSync(path, 'utf8')
    } catch {
      continue // Released meanwhile: try again.
    }
    const [pidText, host] = holder.trim().split(' ')
    const pid = Number(pidText)
    const live = !Number.isSafeInteger(pid) || pid <= 0 || host !== hostname() || pid === process.pid || isAlive(pid)
    if (live) throw new StoreError('locked', `store is locked by ${holder.trim() || 'an unknown process'} (${path})`)
    try {
      unlinkSync(path) // Stale: its process is gone.
    } catch {
      // Someone else removed it first.
    }
  }
  throw new StoreError('locked', `could not take the store lock ${path}`)
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}
