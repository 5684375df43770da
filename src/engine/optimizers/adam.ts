import { wasmRuntimeFor } from '../kernels/wasm/runtime.js';
import type { UpdateRule } from './optimizer.js';

/**
 * Keras Adam (https://arxiv.org/abs/1412.6980), in Keras's form:
 * α = lr·√(1−β2ᵗ)/(1−β1ᵗ); m += (g−m)(1−β1); v += (g²−v)(1−β2); w −= α·m/(√v + ε).
 * AdamW is this plus decoupled weight decay, applied by the optimizer before the update.
 */
export function adamRule(beta1: number, beta2: number, epsilon: number, amsgrad: boolean): UpdateRule {
  return {
    slotNames: amsgrad ? ['m', 'v', 'vhat'] : ['m', 'v'],
    update(params, grads, slots, lr, step) {
      const m = slots['m']!;
      const v = slots['v']!;
      const vhat = amsgrad ? slots['vhat']! : null;
      const alpha = (lr * Math.sqrt(1 - Math.pow(beta2, step))) / (1 - Math.pow(beta1, step));
      const rt = wasmRuntimeFor(params, grads, m, v, vhat);
      if (rt) {
        // The same update in SIMD, on the arenas in place (shared with the helper thread when large).
        rt.adam(
          params.byteOffset,
          grads.byteOffset,
          m.byteOffset,
          v.byteOffset,
          vhat ? vhat.byteOffset : 0,
          params.length,
          alpha,
          beta1,
          beta2,
          epsilon,
        );
        return;
      }
      const oneMinusBeta1 = 1 - beta1;
      const oneMinusBeta2 = 1 - beta2;
      for (let i = 0; i < params.length; i++) {
        const g = grads[i]!;
        const mi = m[i]! + (g - m[i]!) * oneMinusBeta1;
        let vi = v[i]! + (g * g - v[i]!) * oneMinusBeta2;
        m[i] = mi;
        v[i] = vi;
        if (vhat) {
          if (vi < vhat[i]!) vi = vhat[i]!;
          vhat[i] = vi;
        }
        params[i] -= (alpha * mi) / (Math.sqrt(vi) + epsilon);
      }
    },
  };
}
