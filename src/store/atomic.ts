/**
 * Crash-safe file writes: write a temp file in the same directory, fsync it, rename it over the
 * target, then fsync the directory so the rename itself survives a power cut. Readers see the
 * old file or the new one, never half of one.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, open, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { dirname, basename, join } from 'node:path';

/**
 * mkdir -p that reports why it failed: Node's recursive mkdir says ENOENT on a read-only
 * filesystem, so the first missing level is created alone to surface EROFS, EACCES or ENOSPC.
 */
export async function ensureDir(dir: string): Promise<void> {
  try {
    await mkdir(dir, { recursive: true });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    let missing = dir;
    for (;;) {
      const parent = dirname(missing);
      if (
        parent === missing ||
        (await stat(parent).then(
          () => true,
          () => false,
        ))
      )
        break;
      missing = parent;
    }
    await mkdir(missing);
    await mkdir(dir, { recursive: true });
  }
}

export async function writeFileAtomic(path: string, data: string | Uint8Array): Promise<void> {
  const dir = dirname(path);
  await ensureDir(dir);
  const tmp = join(dir, `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
  const handle = await open(tmp, 'w');
  try {
    await handle.writeFile(data);
    await handle.sync();
  } catch (error) {
    await handle.close().catch(() => undefined);
    await rm(tmp, { force: true });
    throw error;
  }
  await handle.close();
  try {
    await rename(tmp, path);
  } catch (error) {
    await rm(tmp, { force: true });
    throw error;
  }
  await syncDir(dir);
}

export async function syncDir(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** A stored JSON file that exists but does not parse (torn, truncated or overwritten). */
export class CorruptJsonError extends Error {
  constructor(readonly file: string) {
    super(`${file} is not valid JSON`);
    this.name = 'CorruptJsonError';
  }
}

/** The parsed file, null when it does not exist; CorruptJsonError when it does not parse. */
export async function readJson<T>(path: string): Promise<T | null> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw error;
  }
  try {
    return JSON.parse(text) as T;
  } catch {
    // Only the file name: absolute paths stay out of messages that may reach a client.
    throw new CorruptJsonError(basename(path));
  }
}

/** writeFileAtomic's temp files: `.<name>.<hex>.tmp`. */
const TEMP_FILE = /^\..+\.[0-9a-f]{12}\.tmp$/;

/**
 * Removes temp files that a crash between write and rename left in `dir`, once they are older
 * than `maxAgeMs` (younger ones may belong to a write in progress). Best effort: never throws.
 */
export async function sweepTempFiles(dir: string, maxAgeMs: number): Promise<number> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return 0;
  }
  let removed = 0;
  const cutoff = Date.now() - maxAgeMs;
  for (const name of names) {
    if (!TEMP_FILE.test(name)) continue;
    try {
      const info = await stat(join(dir, name));
      if (!info.isFile() || info.mtimeMs > cutoff) continue;
      await rm(join(dir, name), { force: true });
      removed++;
    } catch {
      // gone already, or not ours to remove
    }
  }
  return removed;
}
