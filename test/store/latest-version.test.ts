import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm, utimes, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Sequential, toCheckpoint } from '../../src/engine/index.js';
import { LatestVersionCache } from '../../src/store/latest-version.js';
import { ModelRegistry } from '../../src/store/registry.js';

const spec = { name: 'm', inputShape: [2], layers: [{ type: 'dense' as const, units: 1 }] };

async function publish(registry: ModelRegistry): Promise<number> {
  const model = new Sequential(spec, { seed: 1 });
  const meta = {
    source: 'import' as const,
    jobId: null,
    spec: model.spec,
    training: null,
    history: [],
    metrics: {},
    inputShape: [2],
    outputShape: [1],
    params: 3,
    classifier: null,
  };
  return (await registry.publish('m', null, toCheckpoint(model), meta, null)).version;
}

/** Lets pending I/O callbacks (watch events among them) run. */
const settle = async (): Promise<void> => {
  for (let i = 0; i < 5; i++) await new Promise((resolve) => setTimeout(resolve, 5));
};

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'kiln-latest-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('ModelRegistry.latest', () => {
  it('follows versions another registry (as another process would) publishes and deletes', async () => {
    const api = new ModelRegistry(dir);
    const worker = new ModelRegistry(dir);
    expect(await api.latest('m')).toBeNull();
    expect(await publish(worker)).toBe(1);
    expect(await api.latest('m')).toBe(1);
    expect(await publish(worker)).toBe(2);
    await settle();
    expect(await api.latest('m')).toBe(2);
    expect(await worker.deleteVersion('m', 2)).toBe(true);
    await settle();
    expect(await api.latest('m')).toBe(1);
    api.close();
    worker.close();
  });

  it('sees its own publish and delete at once, with no event to wait for', async () => {
    const registry = new ModelRegistry(dir);
    expect(await publish(registry)).toBe(1);
    expect(await registry.latest('m')).toBe(1);
    expect(await publish(registry)).toBe(2);
    expect(await registry.latest('m')).toBe(2);
    await registry.deleteVersion('m', 2);
    expect(await registry.latest('m')).toBe(1);
    registry.close();
  });

  it('sees a version published by another OS process once that process has exited', async () => {
    const api = new ModelRegistry(dir);
    expect(await publish(api)).toBe(1);
    expect(await api.latest('m')).toBe(1);
    const script = `
      import { Sequential, toCheckpoint } from ${JSON.stringify(path.resolve('src/engine/index.ts'))};
      import { ModelRegistry } from ${JSON.stringify(path.resolve('src/store/registry.ts'))};
      const model = new Sequential(${JSON.stringify(spec)}, { seed: 2 });
      const meta = { source: 'import', jobId: null, spec: model.spec, training: null, history: [], metrics: {},
        inputShape: [2], outputShape: [1], params: 3, classifier: null };
      const { version } = await new ModelRegistry(${JSON.stringify(dir)}).publish('m', null, toCheckpoint(model), meta, null);
      console.log(version);`;
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    expect(code).toBe(0);
    expect(out.trim()).toBe('2');
    await settle();
    expect(await api.latest('m')).toBe(2);
    api.close();
  });
});

describe('LatestVersionCache', () => {
  const folder = (): string => path.join(dir, 'versions');

  it('answers from the cache while the watched folder is unchanged, and rescans when it changes', async () => {
    await mkdir(folder());
    let scans = 0;
    let answer: number | null = 1;
    const cache = new LatestVersionCache(folder, async () => (scans++, answer));
    expect(await cache.get('m')).toBe(1);
    expect(cache.watchCount).toBe(1);
    answer = 7; // what a scan would find now, without any change to the folder
    for (let i = 0; i < 100; i++) expect(await cache.get('m')).toBe(1);
    expect(scans).toBe(1);
    await writeFile(path.join(folder(), 'x'), '');
    await settle();
    expect(await cache.get('m')).toBe(7);
    expect(scans).toBe(2);
    cache.close();
    expect(cache.watchCount).toBe(0);
  });

  it('keeps following a folder that is deleted and made again', async () => {
    await mkdir(folder());
    let answer: number | null = 1;
    const cache = new LatestVersionCache(folder, async () => answer);
    expect(await cache.get('m')).toBe(1);
    for (let round = 2; round <= 4; round++) {
      await rm(folder(), { recursive: true, force: true });
      await mkdir(folder());
      await settle();
      answer = round;
      expect(await cache.get('m')).toBe(round);
      // The new folder is watched: a change in it is seen at once.
      answer = round * 10;
      await writeFile(path.join(folder(), 'x'), '');
      await settle();
      expect(await cache.get('m')).toBe(round * 10);
      expect(cache.watchCount).toBe(1);
    }
    cache.close();
  });

  it('stops watching when closed and still answers', async () => {
    await mkdir(folder());
    let answer: number | null = 1;
    const cache = new LatestVersionCache(folder, async () => answer, { maxWatches: 4 });
    expect(await cache.get('m')).toBe(1);
    cache.close();
    answer = 2;
    expect(await cache.get('m')).toBe(2);
    expect(cache.watchCount).toBe(0);
  });

  it('falls back to the folder mtime when no watch can be set, and sees a change at once', async () => {
    await mkdir(folder());
    let scans = 0;
    let answer: number | null = 1;
    const cache = new LatestVersionCache(folder, async () => (scans++, answer), { maxWatches: 0 });
    expect(await cache.get('m')).toBe(1);
    expect(cache.watchCount).toBe(0);
    answer = 2;
    expect(await cache.get('m')).toBe(1);
    expect(scans).toBe(1);
    const later = new Date(Date.now() + 5000);
    await utimes(folder(), later, later);
    expect(await cache.get('m')).toBe(2);
    expect(scans).toBe(2);
  });

  it('watches a folder that did not exist at the first call once it does', async () => {
    let answer: number | null = null;
    const cache = new LatestVersionCache(folder, async () => answer);
    expect(await cache.get('m')).toBeNull();
    expect(cache.watchCount).toBe(0);
    await mkdir(folder());
    answer = 1;
    // The folder's mtime went from "missing" to a real one: the fallback rescans and sets a watch.
    expect(await cache.get('m')).toBe(1);
    expect(cache.watchCount).toBe(1);
    cache.close();
  });

  it('rescans an answer older than maxAgeMs even without any change', async () => {
    await mkdir(folder());
    let scans = 0;
    const cache = new LatestVersionCache(folder, async () => ++scans, { maxAgeMs: 30 });
    expect(await cache.get('m')).toBe(1);
    expect(await cache.get('m')).toBe(1);
    await new Promise((resolve) => setTimeout(resolve, 40));
    expect(await cache.get('m')).toBe(2);
    cache.close();
  });

  it('does not keep an answer when the folder changed during its scan', async () => {
    await mkdir(folder());
    let scans = 0;
    const cache: LatestVersionCache = new LatestVersionCache(folder, async (name) => {
      scans++;
      if (scans === 1) cache.invalidate(name); // a publish lands while the first scan reads the folder
      return scans;
    });
    expect(await cache.get('m')).toBe(1);
    expect(await cache.get('m')).toBe(2);
    expect(await cache.get('m')).toBe(2);
    expect(scans).toBe(2);
    cache.close();
  });

  it('watches at most maxWatches folders and evicts beyond maxEntries, closing their watches', async () => {
    for (const name of ['a', 'b', 'c']) await mkdir(path.join(dir, name));
    const cache = new LatestVersionCache(
      (name) => path.join(dir, name),
      async () => 1,
      { maxWatches: 2, maxEntries: 2 },
    );
    await cache.get('a');
    await cache.get('b');
    expect(cache.watchCount).toBe(2);
    await cache.get('c'); // evicts a, whose watch is closed, and watches c
    expect(cache.watchCount).toBe(2);
    cache.close();
    expect(cache.watchCount).toBe(0);
  });
});
