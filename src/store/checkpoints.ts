/**
 * Per-job training checkpoints (weights + full training state), written every epoch. The
 * previous one is kept, and each file has a SHA-256 sidecar: a torn or corrupted latest
 * checkpoint falls back to the previous good one instead of failing the resume. Temp files a
 * crash left between write and rename are swept on the next save or load.
 */
import { createHash } from 'node:crypto';
import { readFile, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Checkpoint } from '../engine/index.js';
import { sweepTempFiles, writeFileAtomic } from './atomic.js';
import { isValidId } from './ids.js';

const sha256 = (text: string | Buffer): string => createHash('sha256').update(text).digest('hex');

/** Temp files older than this are leftovers of a crashed write, not a write in progress. */
export const STALE_TEMP_MS = 10_000;

export class CheckpointStore {
  readonly root: string;
  constructor(
    dataDir: string,
    private readonly staleTempMs = STALE_TEMP_MS,
  ) {
    this.root = join(dataDir, 'checkpoints');
  }

  private dir(jobId: string): string {
    if (!isValidId(jobId)) throw new Error(`invalid job id ${JSON.stringify(jobId)}`);
    return join(this.root, jobId);
  }

  async save(jobId: string, checkpoint: Checkpoint): Promise<void> {
    const dir = this.dir(jobId);
    const text = JSON.stringify(checkpoint);
    const latest = join(dir, 'latest.json');
    await sweepTempFiles(dir, this.staleTempMs);
    // Keep the last good checkpoint as `previous` before replacing it.
    await rename(latest, join(dir, 'previous.json')).catch(() => undefined);
    await rename(`${latest}.sha256`, join(dir, 'previous.json.sha256')).catch(() => undefined);
    await writeFileAtomic(latest, text);
    await writeFileAtomic(`${latest}.sha256`, sha256(text));
  }

  /**
   * The newest checkpoint that passes its digest, or null. A file may match either sidecar: a
   * crash between save's two renames leaves previous.json next to the other file's digest, and
   * a content digest cannot vouch for the wrong bytes.
   */
  async load(jobId: string): Promise<Checkpoint | null> {
    const dir = this.dir(jobId);
    await sweepTempFiles(dir, this.staleTempMs);
    const digests = new Set<string>();
    for (const name of ['latest.json.sha256', 'previous.json.sha256']) {
      const digest = await readFile(join(dir, name), 'utf8').catch(() => null);
      if (digest && /^[0-9a-f]{64}$/.test(digest.trim())) digests.add(digest.trim());
    }
    for (const name of ['latest.json', 'previous.json']) {
      try {
        const bytes = await readFile(join(dir, name));
        if (!digests.has(sha256(bytes))) continue;
        return JSON.parse(bytes.toString('utf8')) as Checkpoint;
      } catch {
        continue;
      }
    }
    return null;
  }

  async remove(jobId: string): Promise<void> {
    await rm(this.dir(jobId), { recursive: true, force: true });
  }
}
