/**
 * Per-job training checkpoints (weights + full training state), written every epoch. The
 * previous one is kept, and each file has a SHA-256 sidecar: a torn or corrupted latest
 * checkpoint falls back to the previous good one instead of failing the resume.
 */
import { createHash } from 'node:crypto';
import { readFile, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Checkpoint } from '../engine/index.js';
import { writeFileAtomic } from './atomic.js';
import { isValidId } from './ids.js';

const sha256 = (text: string | Buffer): string => createHash('sha256').update(text).digest('hex');

export class CheckpointStore {
  readonly root: string;
  constructor(dataDir: string) {
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
    // Keep the last good checkpoint as `previous` before replacing it.
    await rename(latest, join(dir, 'previous.json')).catch(() => undefined);
    await rename(`${latest}.sha256`, join(dir, 'previous.json.sha256')).catch(() => undefined);
    await writeFileAtomic(latest, text);
    await writeFileAtomic(`${latest}.sha256`, sha256(text));
  }

  /** The newest checkpoint that passes its digest, or null. */
  async load(jobId: string): Promise<Checkpoint | null> {
    const dir = this.dir(jobId);
    for (const name of ['latest.json', 'previous.json']) {
      try {
        const [bytes, digest] = await Promise.all([readFile(join(dir, name)), readFile(join(dir, `${name}.sha256`), 'utf8')]);
        if (sha256(bytes) !== digest.trim()) continue;
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
