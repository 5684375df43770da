/**
 * Idempotency-Key support for POST /v1/jobs: a retried request with the same key (from the same
 * caller) gets the job the first one created; the same key with a different body is refused.
 * Records live on disk next to the jobs, so a restart does not forget them.
 */
import { createHash } from 'node:crypto';
import { open, readFile, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { ensureDir, writeFileAtomic } from '../../store/atomic.js';

interface Entry {
  bodyHash: string;
  jobId: string | null;
  at: number;
}

const sha = (text: string): string => createHash('sha256').update(text).digest('hex');
const STALE_MS = 30_000;

/** An entry, or 'partial' while its creator is still writing it, or 'missing'. */
async function readEntry(path: string): Promise<Entry | 'partial' | 'missing'> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return 'missing';
    throw error;
  }
  try {
    const entry = JSON.parse(text) as Entry | null;
    return entry && typeof entry.bodyHash === 'string' ? entry : 'partial';
  } catch {
    return 'partial';
  }
}

export class IdempotencyStore {
  private readonly root: string;
  constructor(dataDir: string) {
    this.root = join(dataDir, 'idempotency');
  }

  private path(principal: string, key: string): string {
    return join(this.root, `${sha(`${principal}\n${key}`)}.json`);
  }

  /**
   * Runs `create` once per (principal, key). Returns the job id and whether it was created now.
   * A concurrent duplicate waits for the first; a different body throws `mismatch`.
   */
  async run(
    principal: string,
    key: string,
    body: unknown,
    create: () => Promise<string>,
  ): Promise<{ jobId: string; replayed: boolean } | 'mismatch'> {
    await ensureDir(this.root);
    const path = this.path(principal, key);
    const bodyHash = sha(JSON.stringify(body));
    for (let attempt = 0; ; attempt++) {
      let handle;
      try {
        handle = await open(path, 'wx');
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      }
      if (handle) {
        try {
          await handle.writeFile(JSON.stringify({ bodyHash, jobId: null, at: Date.now() } satisfies Entry));
        } catch (error) {
          await handle.close().catch(() => undefined);
          await rm(path, { force: true });
          throw error;
        }
        await handle.close();
        break;
      }
      const entry = await readEntry(path);
      if (entry === 'missing') continue; // the first request gave up; try to take the key
      if (entry !== 'partial' && entry.bodyHash !== bodyHash) return 'mismatch';
      if (entry !== 'partial' && entry.jobId) return { jobId: entry.jobId, replayed: true };
      // The first request is still creating the job, or still writing its entry (an empty or
      // half-written file); if it died doing so, take over after 30 s.
      const at =
        entry === 'partial'
          ? await stat(path).then(
              (s) => s.mtimeMs,
              () => 0,
            )
          : entry.at;
      if (Date.now() - at > STALE_MS || attempt > 300) await rm(path, { force: true });
      else await new Promise((r) => setTimeout(r, 100));
    }
    try {
      const jobId = await create();
      await writeFileAtomic(path, JSON.stringify({ bodyHash, jobId, at: Date.now() } satisfies Entry));
      return { jobId, replayed: false };
    } catch (error) {
      await rm(path, { force: true });
      throw error;
    }
  }
}
