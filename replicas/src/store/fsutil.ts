/**
 * Durable file-system steps: fsync a directory, and replace a file atomically
 * (write a temporary, fsync it, rename over the target, fsync the directory).
 * @module
 */
import { open, rename, unlink } from 'node:fs/promises'
import { basename, dirname } from 'node:path'

/** Makes the directory's entries (creations, renames, unlinks) durable. */
export async function fsyncDir(dir: string): Promise<void> {
  const handle = await open(dir, 'r')
  try {
    await handle.sync()
  } finally {
    await handle.close()
  }
}

/** Replaces `path` with `data` so that a crash leaves either the old or the new file, whole. */
export async function replaceFile(path: string, data: Uint8Array | string): Promise<void> {
  const tmp = `${dirname(path)}/.${basename(path)}.tmp`
  const handle = await open(tmp, 'w')
  try {
    await handle.writeFile(data)
    await handle.sync()
  } finally {
    await handle.close()
  }
  await rename(tmp, path)
  await fsyncDir(dirname(path))
}

/** Deletes `path` if it exists. */
export async function removeIfExists(path: string): Promise<void> {
  try {
    await unlink(path)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
  }
}
