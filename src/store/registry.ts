/**
 * The model registry: models/<name>/versions/<v>/ holds checkpoint.json (kiln.checkpoint/1),
 * meta.json and model.onnx. A version exists once its meta.json does (written last). Versions
 * are allocated with an exclusive mkdir, and a per-job claim file fences publishing so a job
 * registers exactly one version even when two attempts race.
 */
import { createHash } from 'node:crypto';
import { mkdir, open, readdir, readFile, rename, rm, stat, utimes } from 'node:fs/promises';
import { join } from 'node:path';
import type { Checkpoint, HistoryEntry, ModelSpec, TrainingConfig } from '../engine/index.js';
import { CorruptJsonError, ensureDir, readJson, writeFileAtomic } from './atomic.js';
import { isValidId, isValidModelName } from './ids.js';
import { LatestVersionCache } from './latest-version.js';

export interface OnnxInfo {
  ok: boolean;
  maxAbsDiff: number | null;
  rowsChecked: number;
  opset: number | null;
  irVersion: number | null;
  tolerance: number;
  error?: string;
  sha256?: string;
  bytes?: number;
}

export interface Classifier {
  kind: 'softmax' | 'sigmoid';
  classes: number;
}

export interface ModelVersionMeta {
  name: string;
  version: number;
  createdAt: string;
  source: 'job' | 'import';
  jobId: string | null;
  spec: ModelSpec;
  training: TrainingConfig | null;
  history: HistoryEntry[];
  metrics: Record<string, number>;
  inputShape: number[];
  outputShape: number[];
  params: number;
  classifier: Classifier | null;
  checkpointSha256: string;
  onnx: OnnxInfo | null;
}

/** A published version whose files are unreadable, fail their digest, or are missing. */
export class VersionCorruptError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'VersionCorruptError';
  }
}

const sha256 = (data: string | Uint8Array): string => createHash('sha256').update(data).digest('hex');
const CLAIM_STALE_MS = 120_000;

export class ModelRegistry {
  readonly root: string;
  constructor(dataDir: string) {
    this.root = join(dataDir, 'models');
  }

  private modelDir(name: string): string {
    if (!isValidModelName(name)) throw new Error(`invalid model name ${JSON.stringify(name)}`);
    return join(this.root, name);
  }

  private versionDir(name: string, version: number): string {
    if (!Number.isSafeInteger(version) || version < 1) throw new Error(`invalid version ${version}`);
    return join(this.modelDir(name), 'versions', String(version));
  }

  async names(): Promise<string[]> {
    try {
      return (await readdir(this.root)).filter(isValidModelName).sort();
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw error;
    }
  }

  /** Published versions, ascending. */
  async versions(name: string): Promise<number[]> {
    if (!isValidModelName(name)) return [];
    let entries: string[];
    try {
      entries = await readdir(join(this.modelDir(name), 'versions'));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw error;
    }
    const numbers = entries.filter((e) => /^[1-9]\d*$/.test(e)).map(Number);
    const published: number[] = [];
    for (const v of numbers) {
      try {
        await stat(join(this.versionDir(name, v), 'meta.json'));
        published.push(v);
      } catch {
        // allocated but not (or no longer) published
      }
    }
    return published.sort((a, b) => a - b);
  }

  private readonly latestCache = new LatestVersionCache(
    (name) => join(this.modelDir(name), 'versions'),
    async (name) => {
      const versions = await this.versions(name);
      return versions.length > 0 ? versions[versions.length - 1]! : null;
    },
  );

  /** The newest published version; predicting on "latest" asks this on every request (cached, see LatestVersionCache). */
  async latest(name: string): Promise<number | null> {
    if (!isValidModelName(name)) return null;
    return this.latestCache.get(name);
  }

  /** Marks the versions folder changed, so cached "latest" answers are rechecked in every process. */
  private async touchVersions(name: string): Promise<void> {
    const now = new Date();
    await utimes(join(this.modelDir(name), 'versions'), now, now).catch(() => undefined);
    this.latestCache.invalidate(name);
  }

  /** Stops watching the versions folders. */
  close(): void {
    this.latestCache.close();
  }

  /**
   * A version's metadata; null when it does not exist. A meta.json that does not parse or lacks
   * its digests makes just this version unavailable (VersionCorruptError).
   */
  async meta(name: string, version: number): Promise<ModelVersionMeta | null> {
    if (!isValidModelName(name) || !Number.isSafeInteger(version) || version < 1) return null;
    let meta: ModelVersionMeta | null;
    try {
      meta = await readJson<ModelVersionMeta>(join(this.versionDir(name, version), 'meta.json'));
    } catch (error) {
      if (error instanceof CorruptJsonError) throw new VersionCorruptError(`${name} v${version}: meta.json is corrupt (not valid JSON)`);
      throw error;
    }
    if (meta === null) return null;
    if (
      typeof meta !== 'object' ||
      meta.version !== version ||
      typeof meta.checkpointSha256 !== 'string' ||
      typeof meta.spec !== 'object' ||
      meta.spec === null
    ) {
      throw new VersionCorruptError(`${name} v${version}: meta.json is corrupt (fields missing or wrong)`);
    }
    return meta;
  }

  private async readArtifact(name: string, version: number, file: string): Promise<Buffer> {
    try {
      return await readFile(join(this.versionDir(name, version), file));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') throw new VersionCorruptError(`${name} v${version}: ${file} is missing`);
      throw error;
    }
  }

  /** The checkpoint text, checked against the digest recorded at publication. */
  async checkpointText(name: string, version: number): Promise<string | null> {
    const meta = await this.meta(name, version);
    if (!meta) return null;
    const bytes = await this.readArtifact(name, version, 'checkpoint.json');
    if (sha256(bytes) !== meta.checkpointSha256) throw new VersionCorruptError(`${name} v${version}: checkpoint failed its SHA-256 check`);
    return bytes.toString('utf8');
  }

  async checkpoint(name: string, version: number): Promise<Checkpoint | null> {
    const text = await this.checkpointText(name, version);
    return text === null ? null : (JSON.parse(text) as Checkpoint);
  }

  async onnx(name: string, version: number): Promise<Uint8Array | null> {
    const meta = await this.meta(name, version);
    if (!meta?.onnx?.sha256) return null;
    const bytes = await this.readArtifact(name, version, 'model.onnx');
    if (sha256(bytes) !== meta.onnx.sha256) throw new VersionCorruptError(`${name} v${version}: model.onnx failed its SHA-256 check`);
    return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  /**
   * Publishes the next version of `name`. With a jobId, a claim file fences the step: a second
   * attempt of the same job gets the version the first one registered.
   */
  async publish(
    name: string,
    jobId: string | null,
    checkpoint: Checkpoint,
    meta: Omit<ModelVersionMeta, 'name' | 'version' | 'createdAt' | 'checkpointSha256' | 'onnx'>,
    makeOnnx: ((version: number) => Promise<{ bytes: Uint8Array; info: OnnxInfo } | null>) | null,
  ): Promise<{ version: number; created: boolean }> {
    const modelDir = this.modelDir(name);
    let claimPath: string | null = null;
    if (jobId !== null) {
      if (!isValidId(jobId)) throw new Error(`invalid job id ${JSON.stringify(jobId)}`);
      await ensureDir(join(modelDir, 'jobs'));
      claimPath = join(modelDir, 'jobs', `${jobId}.json`);
      const existing = await this.claim(claimPath);
      if (existing !== null) return { version: existing, created: false };
    }
    await ensureDir(join(modelDir, 'versions'));
    let version = ((await this.highestAllocated(name)) ?? 0) + 1;
    for (;;) {
      try {
        await mkdir(this.versionDir(name, version));
        break;
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
        version += 1;
      }
    }
    const dir = this.versionDir(name, version);
    try {
      const text = JSON.stringify(checkpoint);
      await writeFileAtomic(join(dir, 'checkpoint.json'), text);
      let onnxInfo: OnnxInfo | null = null;
      const onnx = makeOnnx ? await makeOnnx(version) : null;
      if (onnx) {
        await writeFileAtomic(join(dir, 'model.onnx'), onnx.bytes);
        onnxInfo = { ...onnx.info, sha256: sha256(onnx.bytes), bytes: onnx.bytes.byteLength };
      }
      const full: ModelVersionMeta = {
        name,
        version,
        createdAt: new Date().toISOString(),
        ...meta,
        checkpointSha256: sha256(text),
        onnx: onnxInfo,
      };
      await writeFileAtomic(join(dir, 'meta.json'), JSON.stringify(full));
      await this.touchVersions(name);
      if (claimPath) await writeFileAtomic(claimPath, JSON.stringify({ version, at: Date.now() }));
    } catch (error) {
      await rm(dir, { recursive: true, force: true });
      if (claimPath) await rm(claimPath, { force: true });
      throw error;
    }
    return { version, created: true };
  }

  /** Takes the job's claim, or returns the version an earlier attempt published. */
  private async claim(claimPath: string): Promise<number | null> {
    for (;;) {
      try {
        const handle = await open(claimPath, 'wx');
        await handle.writeFile(JSON.stringify({ version: null, at: Date.now() }));
        await handle.close();
        return null;
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      }
      const existing = await readJson<{ version: number | null; at: number }>(claimPath).catch(() => null);
      if (existing?.version) return existing.version;
      // Another attempt is publishing right now, or died mid-way: wait, or take over when stale.
      if (!existing || Date.now() - existing.at > CLAIM_STALE_MS) {
        await rm(claimPath, { force: true });
        continue;
      }
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  private async highestAllocated(name: string): Promise<number | null> {
    try {
      const entries = (await readdir(join(this.modelDir(name), 'versions'))).filter((e) => /^[1-9]\d*$/.test(e)).map(Number);
      return entries.length ? Math.max(...entries) : null;
    } catch {
      return null;
    }
  }

  /** Deletes a published version, corrupt ones included. */
  async deleteVersion(name: string, version: number): Promise<boolean> {
    if (!isValidModelName(name) || !Number.isSafeInteger(version) || version < 1) return false;
    try {
      await stat(join(this.versionDir(name, version), 'meta.json'));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw error;
    }
    const dir = this.versionDir(name, version);
    // Rename away first so readers never see a half-deleted version; the number is not reused
    // because the tombstone keeps it allocated.
    const tomb = join(this.modelDir(name), 'versions', `.deleted-${version}-${Date.now()}`);
    await rename(dir, tomb);
    await mkdir(dir);
    await rm(tomb, { recursive: true, force: true });
    await this.touchVersions(name);
    return true;
  }
}
