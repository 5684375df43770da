/** The session cache: one session per key, LRU eviction with release(), and runOnnx. */
import type { InferenceSession } from 'onnxruntime-node';
import { describe, expect, it, vi } from 'vitest';
import { createOnnxSessionCache, exportOnnx, onnxSessionKey, onnxSessionOptions, runOnnx } from '../../src/onnx/index.js';
import { compare, randomModel, randomRows } from './helpers.js';

const model = randomModel([4], [{ type: 'dense', units: 3, activation: 'softmax' }], 2);
const bytes = exportOnnx(model, { name: 'cache', version: 1 });

/** A loader that counts its calls. */
function counting(): { load: () => Promise<Uint8Array>; calls: () => number } {
  let calls = 0;
  return {
    load: async () => {
      calls++;
      await new Promise((resolve) => setTimeout(resolve, 5));
      return bytes;
    },
    calls: () => calls,
  };
}

function spyRelease(session: InferenceSession): ReturnType<typeof vi.fn> {
  const original = session.release.bind(session);
  const spy = vi.fn(original);
  session.release = spy;
  return spy;
}

describe('onnx session cache', () => {
  it('keys by name@version and defaults to one intra-op thread with all optimizations', () => {
    expect(onnxSessionKey('digits', 3)).toBe('digits@3');
    expect(onnxSessionOptions()).toMatchObject({ intraOpNumThreads: 1, graphOptimizationLevel: 'all' });
    expect(onnxSessionOptions({ intraOpNumThreads: 4 })).toMatchObject({ intraOpNumThreads: 4 });
  });

  it('returns the same session for the same key and loads once, even for concurrent gets', async () => {
    const cache = createOnnxSessionCache();
    const loader = counting();
    const [a, b, c] = await Promise.all([cache.get('m@1', loader.load), cache.get('m@1', loader.load), cache.get('m@1', loader.load)]);
    expect(loader.calls()).toBe(1);
    expect(b).toBe(a);
    expect(c).toBe(a);
    expect(await cache.get('m@1', loader.load)).toBe(a);
    expect(loader.calls()).toBe(1);
    expect(cache.size).toBe(1);
    await cache.clear();
  });

  it('evicts the least recently used session beyond maxSessions and releases it', async () => {
    const cache = createOnnxSessionCache({ maxSessions: 2 });
    const load = (): Uint8Array => bytes;
    const first = await cache.get('a@1', load);
    const second = await cache.get('b@1', load);
    const releaseFirst = spyRelease(first);
    const releaseSecond = spyRelease(second);
    await cache.get('a@1', load); // a becomes the most recently used
    await cache.get('c@1', load);
    await vi.waitFor(() => expect(releaseSecond).toHaveBeenCalledTimes(1));
    expect(releaseFirst).not.toHaveBeenCalled();
    expect(cache.keys()).toEqual(['a@1', 'c@1']);
    expect(cache.has('b@1')).toBe(false);
    // A later get makes a new session for the evicted key.
    const again = await cache.get('b@1', load);
    expect(again).not.toBe(second);
    await cache.clear();
    expect(cache.size).toBe(0);
  });

  it('releases on delete and clear', async () => {
    const cache = createOnnxSessionCache();
    const load = (): Uint8Array => bytes;
    const a = await cache.get('a@1', load);
    const b = await cache.get('b@1', load);
    const releaseA = spyRelease(a);
    const releaseB = spyRelease(b);
    expect(await cache.delete('a@1')).toBe(true);
    expect(releaseA).toHaveBeenCalledTimes(1);
    expect(await cache.delete('a@1')).toBe(false);
    await cache.clear();
    expect(releaseB).toHaveBeenCalledTimes(1);
    expect(releaseA).toHaveBeenCalledTimes(1);
  });

  it('holds a session used by `use` until the callback settles', async () => {
    const cache = createOnnxSessionCache({ maxSessions: 1 });
    const load = (): Uint8Array => bytes;
    let releaseSpy: ReturnType<typeof vi.fn> | null = null;
    let finish!: () => void;
    const gate = new Promise<void>((resolve) => (finish = resolve));
    const running = cache.use('a@1', load, async (session) => {
      releaseSpy = spyRelease(session);
      await gate;
      return runOnnx(session, randomRows(2, 4), 2, [4]);
    });
    await vi.waitFor(() => expect(releaseSpy).not.toBeNull());
    await cache.get('b@1', load); // evicts a@1 while it is in use
    expect(cache.keys()).toEqual(['b@1']);
    expect(releaseSpy).not.toHaveBeenCalled();
    finish();
    expect((await running).length).toBe(6);
    await vi.waitFor(() => expect(releaseSpy).toHaveBeenCalledTimes(1));
    await cache.clear();
  });

  it('does not cache a failed load or a bad model, and retries next time', async () => {
    const cache = createOnnxSessionCache();
    await expect(cache.get('x@1', () => Promise.reject(new Error('missing')))).rejects.toThrow('missing');
    await expect(cache.get('x@1', () => new Uint8Array([1, 2, 3]))).rejects.toThrow();
    expect(cache.has('x@1')).toBe(false);
    const session = await cache.get('x@1', () => bytes);
    expect(session.inputNames).toEqual(['input']);
    await cache.clear();
  });

  it('runOnnx runs rows (also a subarray view) and checks the input size', async () => {
    const cache = createOnnxSessionCache({ intraOpNumThreads: 2 });
    const session = await cache.get(onnxSessionKey('cache', 1), () => bytes);
    const all = randomRows(10, 4, 4);
    const view = all.subarray(8, 40); // rows 2..9
    const out = await runOnnx(session, view, 8, [4]);
    expect(out).toBeInstanceOf(Float32Array);
    expect(compare(out, model.predict(view, 8), 1e-5).maxAbsDiff).toBeLessThanOrEqual(1e-5);
    await expect(runOnnx(session, all, 3, [4])).rejects.toThrow(RangeError);
    await expect(runOnnx(session, all, 2.5, [4])).rejects.toThrow(RangeError);
    await cache.clear();
  });
});
