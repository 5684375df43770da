/**
 * Bridges publishing to the ONNX exporter: every version is exported and verified against the
 * engine before it is called usable. Loaded lazily, so a broken onnxruntime install degrades to
 * "no ONNX export" (visible in the version's metadata), never to failed training jobs.
 */
import type { Logger } from 'pino';
import type { Sequential } from '../engine/index.js';
import type { OnnxInfo } from '../store/registry.js';
import type { OnnxPublisher } from './runner.js';

export async function createOnnxPublisher(options: { onnxThreads: number }, log: Logger): Promise<OnnxPublisher | undefined> {
  let onnx: typeof import('../onnx/index.js');
  try {
    onnx = await import('../onnx/index.js');
  } catch (error) {
    log.warn({ err: error }, 'ONNX export unavailable: onnxruntime-node did not load');
    return undefined;
  }
  return {
    async exportAndVerify(model: Sequential, meta, rows, rowCount) {
      let bytes: Uint8Array;
      try {
        bytes = onnx.exportOnnx(model, {
          name: meta.name,
          version: meta.version,
          jobId: meta.jobId,
          ...(meta.loss ? { loss: meta.loss } : {}),
          classes: meta.classes,
        });
      } catch (error) {
        log.error({ err: error, model: meta.name }, 'ONNX export failed');
        return null;
      }
      // Seeded random rows (with edge values) plus real rows when there are some.
      const random = await onnx.verifyOnnx(model, bytes);
      const real = rows && rowCount > 0 ? await onnx.verifyOnnx(model, bytes, { rows, rowCount }) : null;
      const worst = real && (!real.ok || real.maxAbsDiff > random.maxAbsDiff) ? real : random;
      const info: OnnxInfo = {
        ok: random.ok && (real?.ok ?? true),
        maxAbsDiff: Math.max(random.maxAbsDiff, real?.maxAbsDiff ?? 0),
        rowsChecked: random.rowsChecked + (real?.rowsChecked ?? 0),
        opset: worst.opset,
        irVersion: worst.irVersion,
        tolerance: worst.tolerance,
        ...(worst.error ? { error: worst.error } : {}),
      };
      if (!info.ok) log.error({ model: meta.name, version: meta.version, info }, 'ONNX export failed verification');
      return { bytes, info };
    },
  };
}

/** For checkpoint imports: export and verify on seeded rows only. */
export function onnxForImport(publisher: OnnxPublisher | undefined) {
  if (!publisher) return undefined;
  return (model: Sequential, name: string, version: number) =>
    publisher.exportAndVerify(model, { name, version, jobId: null, loss: null, classes: null }, null, 0);
}
