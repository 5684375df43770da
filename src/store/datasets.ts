/**
 * Datasets on disk: inputs and targets as raw little-endian float32 (x.f32, y.f32) next to a
 * JSON manifest with their shapes and SHA-256 digests. Training data lives here, never on a queue.
 */
import { createHash } from 'node:crypto';
import { readFile, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { CorruptJsonError, ensureDir, readJson, writeFileAtomic } from './atomic.js';
import { isValidId, newId } from './ids.js';

export interface DatasetMeta {
  id: string;
  rows: number;
  features: number;
  /** Target values per row (1 for labels or a single output). */
  targetWidth: number;
  createdAt: string;
  source: 'json' | 'csv' | 'inline';
  /** CSV only: the feature column names in order and the label column. */
  columns?: string[];
  label?: string;
  sha256: { x: string; y: string };
}

export interface Dataset {
  meta: DatasetMeta;
  x: Float32Array;
  y: Float32Array;
}

/** A stored dataset whose manifest or data files are unreadable, missing or fail their digests. */
export class DatasetCorruptError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DatasetCorruptError';
  }
}

const sha256 = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex');
const bytesOf = (values: Float32Array): Uint8Array => new Uint8Array(values.buffer, values.byteOffset, values.byteLength);

export class DatasetStore {
  readonly root: string;
  constructor(dataDir: string) {
    this.root = join(dataDir, 'datasets');
  }

  private dir(id: string): string {
    if (!isValidId(id)) throw new Error(`invalid dataset id ${JSON.stringify(id)}`);
    return join(this.root, id);
  }

  /** Stores a dataset; the manifest is written last, so a dataset without one never existed. */
  async create(
    x: Float32Array,
    y: Float32Array,
    shape: { rows: number; features: number; targetWidth: number },
    extra: Pick<DatasetMeta, 'source'> & Partial<Pick<DatasetMeta, 'columns' | 'label'>>,
  ): Promise<DatasetMeta> {
    const id = newId('ds');
    const dir = this.dir(id);
    const staging = `${dir}.staging`;
    await ensureDir(staging);
    const meta: DatasetMeta = {
      id,
      ...shape,
      createdAt: new Date().toISOString(),
      ...extra,
      sha256: { x: sha256(bytesOf(x)), y: sha256(bytesOf(y)) },
    };
    try {
      await writeFileAtomic(join(staging, 'x.f32'), bytesOf(x));
      await writeFileAtomic(join(staging, 'y.f32'), bytesOf(y));
      await writeFileAtomic(join(staging, 'meta.json'), JSON.stringify(meta));
      await rename(staging, dir);
    } catch (error) {
      await rm(staging, { recursive: true, force: true });
      throw error;
    }
    return meta;
  }

  async meta(id: string): Promise<DatasetMeta | null> {
    if (!isValidId(id)) return null;
    let meta: DatasetMeta | null;
    try {
      meta = await readJson<DatasetMeta>(join(this.dir(id), 'meta.json'));
    } catch (error) {
      if (error instanceof CorruptJsonError) throw new DatasetCorruptError(`dataset ${id}: meta.json is corrupt (not valid JSON)`);
      throw error;
    }
    if (meta !== null && (typeof meta !== 'object' || meta.id !== id || typeof meta.sha256?.x !== 'string'))
      throw new DatasetCorruptError(`dataset ${id}: meta.json is corrupt (fields missing or wrong)`);
    return meta;
  }

  /** Loads and checks a dataset against its digests; null when it does not exist. */
  async load(id: string): Promise<Dataset | null> {
    const meta = await this.meta(id);
    if (!meta) return null;
    const dir = this.dir(id);
    const read = (file: string) =>
      readFile(join(dir, file)).catch((error: NodeJS.ErrnoException) => {
        if (error.code === 'ENOENT') throw new DatasetCorruptError(`dataset ${id}: ${file} is missing`);
        throw error;
      });
    const [xBytes, yBytes] = await Promise.all([read('x.f32'), read('y.f32')]);
    if (sha256(xBytes) !== meta.sha256.x || sha256(yBytes) !== meta.sha256.y) {
      throw new DatasetCorruptError(`dataset ${id} failed its SHA-256 check`);
    }
    return { meta, x: toFloat32(xBytes), y: toFloat32(yBytes) };
  }

  /** Deletes a dataset, corrupt ones included. */
  async delete(id: string): Promise<boolean> {
    if (!isValidId(id)) return false;
    const dir = this.dir(id);
    try {
      await stat(join(dir, 'meta.json'));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw error;
    }
    const trash = `${dir}.deleting`;
    await rename(dir, trash);
    await rm(trash, { recursive: true, force: true });
    return true;
  }
}

function toFloat32(bytes: Buffer): Float32Array {
  const out = new Float32Array(bytes.byteLength / 4);
  new Uint8Array(out.buffer).set(bytes);
  return out;
}
