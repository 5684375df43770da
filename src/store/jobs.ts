/**
 * Job records as one JSON file each (jobs/<id>.json), written atomically. While a job runs, its
 * worker owns the record; the API writes only queued records and cancel markers
 * (jobs/<id>.cancel), which workers poll, so writers never race on one file.
 */
import { access, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { JobRecord, JobStatus } from '../jobs/types.js';
import { CorruptJsonError, readJson, writeFileAtomic } from './atomic.js';
import { isValidId } from './ids.js';

export interface JobListQuery {
  status?: JobStatus | undefined;
  limit: number;
  offset: number;
}

/** A job record that exists but cannot be read back (torn or overwritten file). */
export class JobRecordCorruptError extends Error {
  constructor(readonly jobId: string) {
    super(`job ${jobId}: its record is corrupt (not valid JSON)`);
    this.name = 'JobRecordCorruptError';
  }
}

export class JobStore {
  readonly root: string;
  private readonly chains = new Map<string, Promise<unknown>>();

  constructor(dataDir: string) {
    this.root = join(dataDir, 'jobs');
  }

  private path(id: string, suffix = '.json'): string {
    if (!isValidId(id)) throw new Error(`invalid job id ${JSON.stringify(id)}`);
    return join(this.root, `${id}${suffix}`);
  }

  /**
   * The record, or null when it does not exist. A corrupt record also reads as null here, so
   * queues, workers and counts skip it instead of failing; `read` tells the two apart.
   */
  async get(id: string): Promise<JobRecord | null> {
    try {
      return await this.read(id);
    } catch (error) {
      if (error instanceof JobRecordCorruptError) return null;
      throw error;
    }
  }

  /** Like `get`, but a corrupt record throws JobRecordCorruptError. */
  async read(id: string): Promise<JobRecord | null> {
    if (!isValidId(id)) return null;
    let record: JobRecord | null;
    try {
      record = await readJson<JobRecord>(this.path(id));
    } catch (error) {
      if (error instanceof CorruptJsonError) throw new JobRecordCorruptError(id);
      throw error;
    }
    if (record !== null && (typeof record !== 'object' || record.id !== id || typeof record.status !== 'string'))
      throw new JobRecordCorruptError(id);
    return record;
  }

  async put(record: JobRecord): Promise<void> {
    record.updatedAt = new Date().toISOString();
    await this.serialize(record.id, () => writeFileAtomic(this.path(record.id), JSON.stringify(record)));
  }

  /** Read-modify-write, serialized per job within this process. */
  async update(id: string, change: (record: JobRecord) => void | false): Promise<JobRecord | null> {
    return this.serialize(id, async () => {
      const record = await this.get(id);
      if (!record) return null;
      if (change(record) === false) return record;
      record.updatedAt = new Date().toISOString();
      await writeFileAtomic(this.path(id), JSON.stringify(record));
      return record;
    });
  }

  private serialize<T>(id: string, task: () => Promise<T>): Promise<T> {
    const previous = this.chains.get(id) ?? Promise.resolve();
    const next = previous.then(task, task);
    const settled = next.catch(() => undefined);
    this.chains.set(id, settled);
    void settled.then(() => {
      if (this.chains.get(id) === settled) this.chains.delete(id);
    });
    return next;
  }

  /**
   * Newest first (ids are time-ordered), optionally filtered by status. Corrupt records are
   * left out and named in `corrupt`, so one bad file never breaks the listing.
   */
  async list(query: JobListQuery): Promise<{ items: JobRecord[]; total: number; corrupt: string[] }> {
    const ids = await this.ids();
    ids.sort().reverse();
    const corrupt: string[] = [];
    const load = async (id: string): Promise<JobRecord | null> => {
      try {
        return await this.read(id);
      } catch (error) {
        if (!(error instanceof JobRecordCorruptError)) throw error;
        corrupt.push(id);
        return null;
      }
    };
    if (!query.status) {
      const page = await Promise.all(ids.slice(query.offset, query.offset + query.limit).map(load));
      return { items: page.filter((r): r is JobRecord => r !== null), total: ids.length, corrupt };
    }
    const records = (await Promise.all(ids.map(load))).filter((r): r is JobRecord => r?.status === query.status);
    return { items: records.slice(query.offset, query.offset + query.limit), total: records.length, corrupt };
  }

  async ids(): Promise<string[]> {
    try {
      return (await readdir(this.root)).filter((f) => f.endsWith('.json') && !f.startsWith('.')).map((f) => f.slice(0, -5));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw error;
    }
  }

  async requestCancel(id: string): Promise<void> {
    await writeFileAtomic(this.path(id, '.cancel'), new Date().toISOString());
  }

  async isCancelRequested(id: string): Promise<boolean> {
    try {
      await access(this.path(id, '.cancel'));
      return true;
    } catch {
      return false;
    }
  }

  async clearCancel(id: string): Promise<void> {
    await rm(this.path(id, '.cancel'), { force: true });
  }
}
