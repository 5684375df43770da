/** Serving through onnxruntime-node: one cached session per version, released on eviction. */
import type { Logger } from 'pino';
import type { OnnxRunner } from './predictor.js';

export async function createOnnxRunner(threads: number, log: Logger): Promise<OnnxRunner | null> {
  let onnx: typeof import('../../onnx/index.js');
  try {
    onnx = await import('../../onnx/index.js');
  } catch (error) {
    log.warn({ err: error }, 'ONNX serving unavailable: onnxruntime-node did not load');
    return null;
  }
  const sessions = onnx.createOnnxSessionCache({
    intraOpNumThreads: threads,
    onReleaseError: (error, key) => log.warn({ err: error, key }, 'could not release an ONNX session'),
  });
  return {
    run: (name, version, load, x, rows, inputShape) =>
      sessions.use(
        onnx.onnxSessionKey(name, version),
        async () => {
          const bytes = await load();
          if (!bytes) throw new Error(`${name} v${version} has no ONNX file`);
          return bytes;
        },
        (session) => onnx.runOnnx(session, x, rows, inputShape),
      ),
    evict: (name, version) => void sessions.delete(onnx.onnxSessionKey(name, version)),
    close: () => sessions.clear(),
  };
}
