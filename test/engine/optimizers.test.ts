/**
 * Optimizer update rules against the published equations, written out here in float64:
 * PyTorch's (torch.optim docs, "Algorithm" sections) to within 1e-5, and Keras's (keras/optimizers
 * sources), which Kiln implements, to rounding. Plus AdamW, gradient clipping and the three
 * learning-rate schedules against hand-computed values.
 */
import { describe, expect, it } from 'vitest';
import { Sequential, Trainer, type DenseLayerSpec, type LearningRateScheduleSpec, type OptimizerSpec } from '../../src/engine/index.js';
import { clipGradients } from '../../src/engine/optimizers/clip.js';
import { applyGradients, createOptimizerState, learningRateAt, resolveOptimizer, type Segment } from '../../src/engine/optimizers/index.js';
import { expectAllClose } from '../helpers/gradcheck.js';
import { mulberry32, uniformArray } from '../helpers/random.js';

/** One reference optimizer: keeps its own state, updates theta in place; t is 1-based. */
type Reference = (theta: Float64Array, g: Float64Array, t: number) => void;

const zeros = (n: number): Float64Array => new Float64Array(n);

/**
 * torch.optim.SGD, dampening 0, no weight decay:
 *   b_1 = g_1, b_t = μ·b_{t−1} + g_t;  nesterov: d = g_t + μ·b_t, else d = b_t;  θ_t = θ_{t−1} − γ·d
 */
function torchSgd(n: number, lr: number, momentum: number, nesterov: boolean): Reference {
  const b = zeros(n);
  return (theta, g, t) => {
    for (let i = 0; i < n; i++) {
      let d = g[i]!;
      if (momentum !== 0) {
        b[i] = t === 1 ? g[i]! : momentum * b[i]! + g[i]!;
        d = nesterov ? g[i]! + momentum * b[i]! : b[i]!;
      }
      theta[i] -= lr * d;
    }
  };
}

/**
 * torch.optim.Adam / AdamW (weightDecay λ is AdamW's decoupled decay θ ← θ − γλθ, applied first):
 *   m_t = β1·m + (1−β1)·g;  v_t = β2·v + (1−β2)·g²;  m̂ = m_t/(1−β1ᵗ);  v̂ = v_t/(1−β2ᵗ)
 *   θ_t = θ − γ·m̂/(√v̂ + ε);  amsgrad: v_max = max(v_max, v_t), denominator √v_max/√(1−β2ᵗ) + ε
 */
function torchAdam(n: number, lr: number, beta1: number, beta2: number, eps: number, amsgrad = false, weightDecay = 0): Reference {
  const m = zeros(n);
  const v = zeros(n);
  const vMax = zeros(n);
  return (theta, g, t) => {
    const bc1 = 1 - beta1 ** t;
    const bc2 = 1 - beta2 ** t;
    for (let i = 0; i < n; i++) {
      theta[i] *= 1 - lr * weightDecay;
      m[i] = beta1 * m[i]! + (1 - beta1) * g[i]!;
      v[i] = beta2 * v[i]! + (1 - beta2) * g[i]! * g[i]!;
      let denominator: number;
      if (amsgrad) {
        vMax[i] = Math.max(vMax[i]!, v[i]!);
        denominator = Math.sqrt(vMax[i]!) / Math.sqrt(bc2) + eps;
      } else {
        denominator = Math.sqrt(v[i]! / bc2) + eps;
      }
      theta[i] -= (lr * (m[i]! / bc1)) / denominator;
    }
  };
}

/**
 * torch.optim.RMSprop (α is Keras's ρ):
 *   v_t = α·v + (1−α)·g²;  centered: ḡ = α·ḡ + (1−α)·g, ṽ = v_t − ḡ², else ṽ = v_t
 *   μ > 0: b_t = μ·b + g/(√ṽ + ε), θ −= γ·b_t;  else θ −= γ·g/(√ṽ + ε)
 */
function torchRmsprop(n: number, lr: number, alpha: number, eps: number, momentum: number, centered: boolean): Reference {
  const v = zeros(n);
  const gAvg = zeros(n);
  const b = zeros(n);
  return (theta, g) => {
    for (let i = 0; i < n; i++) {
      v[i] = alpha * v[i]! + (1 - alpha) * g[i]! * g[i]!;
      let vTilde = v[i]!;
      if (centered) {
        gAvg[i] = alpha * gAvg[i]! + (1 - alpha) * g[i]!;
        vTilde -= gAvg[i]! * gAvg[i]!;
      }
      const step = g[i]! / (Math.sqrt(vTilde) + eps);
      if (momentum > 0) {
        b[i] = momentum * b[i]! + step;
        theta[i] -= lr * b[i]!;
      } else {
        theta[i] -= lr * step;
      }
    }
  };
}

/** keras.optimizers.SGD: v = μ·v − lr·g; θ += v (nesterov: θ += μ·v − lr·g); μ = 0: θ −= lr·g */
function kerasSgd(n: number, lr: number, momentum: number, nesterov: boolean): Reference {
  const v = zeros(n);
  return (theta, g) => {
    for (let i = 0; i < n; i++) {
      if (momentum === 0) {
        theta[i] -= lr * g[i]!;
        continue;
      }
      v[i] = momentum * v[i]! - lr * g[i]!;
      theta[i] += nesterov ? momentum * v[i]! - lr * g[i]! : v[i]!;
    }
  };
}

/**
 * keras.optimizers.Adam / AdamW: θ −= θ·wd·lr (AdamW); α = lr·√(1−β2ᵗ)/(1−β1ᵗ);
 * m += (g − m)(1−β1); v += (g² − v)(1−β2); amsgrad: v̂ = max(v̂, v); θ −= α·m/(√v + ε)
 */
function kerasAdam(n: number, lr: number, beta1: number, beta2: number, eps: number, amsgrad = false, weightDecay = 0): Reference {
  const m = zeros(n);
  const v = zeros(n);
  const vHat = zeros(n);
  return (theta, g, t) => {
    const alpha = (lr * Math.sqrt(1 - beta2 ** t)) / (1 - beta1 ** t);
    for (let i = 0; i < n; i++) {
      theta[i] -= theta[i]! * weightDecay * lr;
      m[i] += (g[i]! - m[i]!) * (1 - beta1);
      v[i] += (g[i]! * g[i]! - v[i]!) * (1 - beta2);
      let denominatorV = v[i]!;
      if (amsgrad) {
        vHat[i] = Math.max(vHat[i]!, v[i]!);
        denominatorV = vHat[i]!;
      }
      theta[i] -= (alpha * m[i]!) / (Math.sqrt(denominatorV) + eps);
    }
  };
}

/**
 * keras.optimizers.RMSprop: v = ρ·v + (1−ρ)·g²; centered: ḡ = ρ·ḡ + (1−ρ)·g, d = v − ḡ² + ε,
 * else d = v + ε; Δ = lr·g/√d; momentum: b = μ·b + Δ, θ −= b; else θ −= Δ
 */
function kerasRmsprop(n: number, lr: number, rho: number, eps: number, momentum: number, centered: boolean): Reference {
  const v = zeros(n);
  const gAvg = zeros(n);
  const b = zeros(n);
  return (theta, g) => {
    for (let i = 0; i < n; i++) {
      v[i] = rho * v[i]! + (1 - rho) * g[i]! * g[i]!;
      let d = v[i]!;
      if (centered) {
        gAvg[i] = rho * gAvg[i]! + (1 - rho) * g[i]!;
        d -= gAvg[i]! * gAvg[i]!;
      }
      const increment = (lr * g[i]!) / Math.sqrt(d + eps);
      if (momentum > 0) {
        b[i] = momentum * b[i]! + increment;
        theta[i] -= b[i]!;
      } else {
        theta[i] -= increment;
      }
    }
  };
}

// A fixed quadratic f(θ) = ½·Σ aᵢ(θᵢ − cᵢ)², gradient a ⊙ (θ − c): each trajectory takes the
// gradient at its own current θ.
const N = 6;
const STEPS = 12;
const quadRand = mulberry32(2024);
const A = uniformArray(N, quadRand, 0.5, 2);
const C = uniformArray(N, quadRand, -1, 1);
const THETA0 = uniformArray(N, quadRand, -2, 2);
const quadraticGrad = (theta: ArrayLike<number>): Float64Array => Float64Array.from({ length: N }, (_, i) => A[i]! * (theta[i]! - C[i]!));

function kilnTrajectory(spec: OptimizerSpec, gradient = quadraticGrad): Float64Array[] {
  const optimizer = resolveOptimizer(spec);
  const state = createOptimizerState(optimizer, N, 'float64');
  const params = THETA0.slice();
  const grads = new Float64Array(N);
  const trajectory: Float64Array[] = [];
  for (let t = 1; t <= STEPS; t++) {
    grads.set(gradient(params));
    applyGradients(optimizer, state, params, grads, [{ offset: 0, size: N }]);
    trajectory.push(params.slice());
  }
  expect(state.iterations).toBe(STEPS);
  return trajectory;
}

function referenceTrajectory(reference: Reference, gradient = quadraticGrad): Float64Array[] {
  const theta = THETA0.slice();
  const trajectory: Float64Array[] = [];
  for (let t = 1; t <= STEPS; t++) {
    reference(theta, gradient(theta), t);
    trajectory.push(theta.slice());
  }
  return trajectory;
}

interface OptimizerCase {
  name: string;
  spec: OptimizerSpec;
  torch: Reference;
  keras: Reference;
}

const CASES: OptimizerCase[] = [
  { name: 'SGD', spec: { type: 'sgd', learningRate: 0.1 }, torch: torchSgd(N, 0.1, 0, false), keras: kerasSgd(N, 0.1, 0, false) },
  {
    name: 'SGD momentum 0.9',
    spec: { type: 'sgd', learningRate: 0.05, momentum: 0.9 },
    torch: torchSgd(N, 0.05, 0.9, false),
    keras: kerasSgd(N, 0.05, 0.9, false),
  },
  {
    name: 'SGD nesterov momentum 0.8',
    spec: { type: 'sgd', learningRate: 0.05, momentum: 0.8, nesterov: true },
    torch: torchSgd(N, 0.05, 0.8, true),
    keras: kerasSgd(N, 0.05, 0.8, true),
  },
  {
    name: 'Adam',
    spec: { type: 'adam', learningRate: 0.05, beta1: 0.9, beta2: 0.999, epsilon: 1e-8 },
    torch: torchAdam(N, 0.05, 0.9, 0.999, 1e-8),
    keras: kerasAdam(N, 0.05, 0.9, 0.999, 1e-8),
  },
  {
    name: 'Adam with other betas',
    spec: { type: 'adam', learningRate: 0.02, beta1: 0.5, beta2: 0.9, epsilon: 1e-8 },
    torch: torchAdam(N, 0.02, 0.5, 0.9, 1e-8),
    keras: kerasAdam(N, 0.02, 0.5, 0.9, 1e-8),
  },
  {
    name: 'Adam amsgrad',
    spec: { type: 'adam', learningRate: 0.2, beta2: 0.9, epsilon: 1e-8, amsgrad: true },
    torch: torchAdam(N, 0.2, 0.9, 0.9, 1e-8, true),
    keras: kerasAdam(N, 0.2, 0.9, 0.9, 1e-8, true),
  },
  {
    name: 'AdamW weight decay 0.1',
    spec: { type: 'adamw', learningRate: 0.05, epsilon: 1e-8, weightDecay: 0.1 },
    torch: torchAdam(N, 0.05, 0.9, 0.999, 1e-8, false, 0.1),
    keras: kerasAdam(N, 0.05, 0.9, 0.999, 1e-8, false, 0.1),
  },
  {
    name: 'RMSprop',
    spec: { type: 'rmsprop', learningRate: 0.01, rho: 0.9, epsilon: 1e-8 },
    torch: torchRmsprop(N, 0.01, 0.9, 1e-8, 0, false),
    keras: kerasRmsprop(N, 0.01, 0.9, 1e-8, 0, false),
  },
  {
    name: 'RMSprop momentum 0.9',
    spec: { type: 'rmsprop', learningRate: 0.01, rho: 0.9, momentum: 0.9, epsilon: 1e-8 },
    torch: torchRmsprop(N, 0.01, 0.9, 1e-8, 0.9, false),
    keras: kerasRmsprop(N, 0.01, 0.9, 1e-8, 0.9, false),
  },
  {
    name: 'RMSprop centered',
    spec: { type: 'rmsprop', learningRate: 0.01, rho: 0.8, epsilon: 1e-8, centered: true },
    torch: torchRmsprop(N, 0.01, 0.8, 1e-8, 0, true),
    keras: kerasRmsprop(N, 0.01, 0.8, 1e-8, 0, true),
  },
];

describe('optimizer trajectories on a quadratic', () => {
  describe.each(CASES)('$name', ({ name, spec, torch, keras }) => {
    const kiln = kilnTrajectory(spec);

    it('moves the weights (the comparison is not vacuous)', () => {
      const moved = Math.max(...Array.from(kiln[STEPS - 1]!, (v, i) => Math.abs(v - THETA0[i]!)));
      expect(moved).toBeGreaterThan(0.05);
    });

    it(`matches PyTorch's update equations to 1e-5 at each of ${STEPS} steps`, () => {
      const reference = referenceTrajectory(torch);
      kiln.forEach((params, t) => expectAllClose(params, reference[t]!, { atol: 1e-5, rtol: 0, label: `${name} vs torch, step ${t + 1}` }));
    });

    it("matches Keras's update equations to rounding", () => {
      const reference = referenceTrajectory(keras);
      kiln.forEach((params, t) =>
        expectAllClose(params, reference[t]!, { atol: 1e-14, rtol: 1e-13, label: `${name} vs keras, step ${t + 1}` }),
      );
    });
  });

  it('amsgrad really differs from Adam once v shrinks', () => {
    const adam = kilnTrajectory({ type: 'adam', learningRate: 0.2, beta2: 0.9, epsilon: 1e-8 });
    const ams = kilnTrajectory({ type: 'adam', learningRate: 0.2, beta2: 0.9, epsilon: 1e-8, amsgrad: true });
    const diff = Math.max(...Array.from(adam[STEPS - 1]!, (v, i) => Math.abs(v - ams[STEPS - 1]![i]!)));
    expect(diff).toBeGreaterThan(1e-3);
  });

  it('Keras epsilon placement differs from PyTorch only far below 1e-5 (Adam default epsilon 1e-7)', () => {
    const kiln = kilnTrajectory({ type: 'adam', learningRate: 0.05 });
    const torch = referenceTrajectory(torchAdam(N, 0.05, 0.9, 0.999, 1e-7));
    const last = kiln[STEPS - 1]!;
    const diff = Math.max(...Array.from(last, (v, i) => Math.abs(v - torch[STEPS - 1]![i]!)));
    expect(diff).toBeGreaterThan(0); // the forms are not literally the same...
    expect(diff).toBeLessThan(1e-5); // ...but agree to well within the tolerance
  });
});

describe('optimizer defaults (Keras)', () => {
  it('resolves learning rates, weight decay and epsilon', () => {
    expect(resolveOptimizer(undefined).type).toBe('adam');
    expect(resolveOptimizer(undefined).learningRate).toBe(0.001);
    expect(resolveOptimizer({ type: 'sgd' }).learningRate).toBe(0.01);
    expect(resolveOptimizer({ type: 'rmsprop' }).learningRate).toBe(0.001);
    expect(resolveOptimizer({ type: 'adamw' }).weightDecay).toBe(0.004);
    expect(resolveOptimizer({ type: 'adam' }).weightDecay).toBe(0);
    expect(resolveOptimizer({ type: 'sgd' }).rule.slotNames).toEqual([]);
    expect(resolveOptimizer({ type: 'sgd', momentum: 0.9 }).rule.slotNames).toEqual(['momentum']);
    expect(resolveOptimizer({ type: 'adam' }).rule.slotNames).toEqual(['m', 'v']);
  });

  it('Adam default epsilon is 1e-7 (Keras), not 1e-8', () => {
    const kiln = kilnTrajectory({ type: 'adam', learningRate: 0.05 });
    const keras = referenceTrajectory(kerasAdam(N, 0.05, 0.9, 0.999, 1e-7));
    expectAllClose(kiln[STEPS - 1]!, keras[STEPS - 1]!, { atol: 1e-14, rtol: 1e-13, label: 'adam defaults' });
  });

  it('AdamW defaults to weight decay 0.004 applied as θ ← θ·(1 − lr·wd) before the Adam step', () => {
    const kiln = kilnTrajectory({ type: 'adamw', learningRate: 0.05 });
    const torch = referenceTrajectory(torchAdam(N, 0.05, 0.9, 0.999, 1e-7, false, 0.004));
    expectAllClose(kiln[STEPS - 1]!, torch[STEPS - 1]!, { atol: 1e-5, rtol: 0, label: 'adamw defaults vs torch' });
    const adam = kilnTrajectory({ type: 'adam', learningRate: 0.05 });
    expect(Math.abs(adam[STEPS - 1]![0]! - kiln[STEPS - 1]![0]!)).toBeGreaterThan(1e-5);
  });

  it('AdamW with a zero gradient only decays the weights', () => {
    const optimizer = resolveOptimizer({ type: 'adamw', learningRate: 0.1, weightDecay: 0.5 });
    const state = createOptimizerState(optimizer, 2, 'float64');
    const params = new Float64Array([2, -4]);
    applyGradients(optimizer, state, params, new Float64Array(2), [{ offset: 0, size: 2 }]);
    // θ·(1 − 0.1·0.5); Adam's m stays 0 so the rule adds nothing.
    expectAllClose(params, [2 * 0.95, -4 * 0.95], { rtol: 1e-15, label: 'decay only' });
  });
});

describe('gradient clipping', () => {
  // Two tensors: [3, 4] (norm 5) and [0.3, −0.4] (norm 0.5). Global norm √25.25.
  const segments: Segment[] = [
    { offset: 0, size: 2 },
    { offset: 2, size: 2 },
  ];
  const gradients = (): Float64Array => new Float64Array([3, 4, 0.3, -0.4]);

  /** One plain-SGD step with lr 1 from θ = 0, so θ becomes −(clipped gradient). */
  function clippedBySgd(clip: Pick<OptimizerSpec, 'clipnorm' | 'clipvalue' | 'globalClipnorm'>): Float64Array {
    const optimizer = resolveOptimizer({ type: 'sgd', learningRate: 1, ...clip });
    const state = createOptimizerState(optimizer, 4, 'float64');
    const params = new Float64Array(4);
    applyGradients(optimizer, state, params, gradients(), segments);
    return params.map((v) => -v);
  }

  it('clipnorm rescales each tensor to at most that norm', () => {
    expectAllClose(clippedBySgd({ clipnorm: 1 }), [0.6, 0.8, 0.3, -0.4], { rtol: 1e-15, label: 'clipnorm 1' });
    expectAllClose(clippedBySgd({ clipnorm: 0.25 }), [0.15, 0.2, 0.15, -0.2], { rtol: 1e-15, label: 'clipnorm 0.25' });
  });

  it('globalClipnorm rescales all tensors jointly', () => {
    const scale = 1 / Math.sqrt(9 + 16 + 0.09 + 0.16);
    expectAllClose(clippedBySgd({ globalClipnorm: 1 }), [3 * scale, 4 * scale, 0.3 * scale, -0.4 * scale], {
      rtol: 1e-15,
      label: 'global',
    });
    expectAllClose(clippedBySgd({ globalClipnorm: 10 }), [3, 4, 0.3, -0.4], { rtol: 0, label: 'global, under the limit' });
  });

  it('clipvalue clamps each element', () => {
    expectAllClose(clippedBySgd({ clipvalue: 0.35 }), [0.35, 0.35, 0.3, -0.35], { rtol: 0, label: 'clipvalue' });
  });

  it('clipGradients returns the global norm before clipping', () => {
    const grads = gradients();
    expect(clipGradients(grads, segments, { globalClipnorm: 1 })).toBeCloseTo(Math.sqrt(25.25), 14);
    expect(Math.hypot(...grads)).toBeCloseTo(1, 14);
  });

  it('clips before the Adam moments see the gradient', () => {
    const optimizer = resolveOptimizer({ type: 'adam', learningRate: 0.1, clipvalue: 0.5 });
    const state = createOptimizerState(optimizer, 4, 'float64');
    applyGradients(optimizer, state, new Float64Array(4), gradients(), segments);
    // m = (1 − β1)·clipped g
    expectAllClose(state.slots['m']!, [0.05, 0.05, 0.03, -0.04], { rtol: 1e-14, label: 'adam m after clipvalue' });
  });
});

describe('learning-rate schedules', () => {
  it('exponential_decay: lr0 · rate^(step/decaySteps), staircase floors the exponent', () => {
    const spec = { type: 'exponential_decay', initialLearningRate: 0.1, decaySteps: 10, decayRate: 0.5 } as const;
    expect(learningRateAt(spec, 0)).toBe(0.1);
    expect(learningRateAt(spec, 5)).toBeCloseTo(0.1 * Math.SQRT1_2, 15);
    expect(learningRateAt(spec, 10)).toBeCloseTo(0.05, 15);
    expect(learningRateAt(spec, 25)).toBeCloseTo(0.1 * 0.5 ** 2.5, 15);
    const stair = { ...spec, staircase: true };
    expect(learningRateAt(stair, 9)).toBe(0.1);
    expect(learningRateAt(stair, 15)).toBeCloseTo(0.05, 15);
    expect(learningRateAt(stair, 29)).toBeCloseTo(0.025, 15);
  });

  it('cosine_decay: half a cosine down to alpha·lr, then flat', () => {
    const spec = { type: 'cosine_decay', initialLearningRate: 1, decaySteps: 4 } as const;
    expect(learningRateAt(spec, 0)).toBe(1);
    expect(learningRateAt(spec, 1)).toBeCloseTo(0.5 * (1 + Math.SQRT1_2), 15);
    expect(learningRateAt(spec, 2)).toBeCloseTo(0.5, 15);
    expect(learningRateAt(spec, 4)).toBeCloseTo(0, 15);
    expect(learningRateAt(spec, 100)).toBeCloseTo(0, 15);
    const withAlpha = { ...spec, initialLearningRate: 0.2, alpha: 0.1 };
    // lr·((1 − α)·cosine + α)
    expect(learningRateAt(withAlpha, 2)).toBeCloseTo(0.2 * (0.9 * 0.5 + 0.1), 15);
    expect(learningRateAt(withAlpha, 9)).toBeCloseTo(0.02, 15);
  });

  it('cosine_decay with warmup: linear from initialLearningRate to warmupTarget, then cosine from warmupTarget', () => {
    const spec = {
      type: 'cosine_decay',
      initialLearningRate: 0,
      warmupTarget: 0.1,
      warmupSteps: 10,
      decaySteps: 100,
      alpha: 0.1,
    } as const;
    expect(learningRateAt(spec, 0)).toBe(0);
    expect(learningRateAt(spec, 5)).toBeCloseTo(0.05, 15);
    expect(learningRateAt(spec, 10)).toBeCloseTo(0.1, 15);
    // 50 of 100 decay steps: cosine 0.5 → 0.1·(0.9·0.5 + 0.1)
    expect(learningRateAt(spec, 60)).toBeCloseTo(0.055, 15);
    expect(learningRateAt(spec, 110)).toBeCloseTo(0.01, 15);
    expect(learningRateAt(spec, 1000)).toBeCloseTo(0.01, 15);
    const fromNonZero = { ...spec, initialLearningRate: 0.02 };
    expect(learningRateAt(fromNonZero, 5)).toBeCloseTo(0.02 + (0.1 - 0.02) / 2, 15);
  });

  it('piecewise_constant_decay: values[i] while step ≤ boundaries[i]', () => {
    const spec: LearningRateScheduleSpec = { type: 'piecewise_constant_decay', boundaries: [3, 6], values: [1, 0.5, 0.1] };
    expect([0, 1, 2, 3, 4, 5, 6, 7, 100].map((s) => learningRateAt(spec, s))).toEqual([1, 1, 1, 1, 0.5, 0.5, 0.5, 0.1, 0.1]);
  });

  it('the optimizer evaluates the schedule at its iteration count before each update (0 first)', () => {
    const optimizer = resolveOptimizer({
      type: 'sgd',
      learningRate: { type: 'exponential_decay', initialLearningRate: 0.1, decaySteps: 2, decayRate: 0.5 },
    });
    const state = createOptimizerState(optimizer, 1, 'float64');
    expect(state.learningRate).toBeNull();
    const params = new Float64Array([0]);
    for (let i = 0; i < 3; i++) applyGradients(optimizer, state, params, new Float64Array([1]), [{ offset: 0, size: 1 }]);
    // Steps use lr at iterations 0, 1, 2: 0.1, 0.1·0.5^0.5, 0.1·0.5
    expect(params[0]).toBeCloseTo(-(0.1 + 0.1 * Math.SQRT1_2 + 0.05), 15);
    expect(state.iterations).toBe(3);
  });
});

describe('optimizers through the Trainer, on the same weights and batches', () => {
  // A linear layer 3 → 2 with mse; the test computes each batch's gradient itself:
  //   Y = X·K + b, L = mean((Y − T)²), dY = 2(Y − T)/(B·2), dK = Xᵀ·dY, db = Σ_rows dY.
  const rows = 12;
  const batch = 4;
  const rand = mulberry32(55);
  const x = uniformArray(rows * 3, rand);
  const y = uniformArray(rows * 2, rand);
  const layer: DenseLayerSpec = { type: 'dense', units: 2 };

  function referenceRun(reference: Reference, kernel0: Float64Array, bias0: Float64Array, epochs: number): Float64Array[] {
    const theta = new Float64Array(8);
    theta.set(kernel0);
    theta.set(bias0, 6);
    const trajectory: Float64Array[] = [];
    let t = 0;
    for (let epoch = 0; epoch < epochs; epoch++) {
      for (let start = 0; start < rows; start += batch) {
        const g = new Float64Array(8);
        for (let r = start; r < start + batch; r++) {
          for (let j = 0; j < 2; j++) {
            let out = theta[6 + j]!;
            for (let i = 0; i < 3; i++) out += x[r * 3 + i]! * theta[i * 2 + j]!;
            const dOut = (2 * (out - y[r * 2 + j]!)) / (batch * 2);
            for (let i = 0; i < 3; i++) g[i * 2 + j] += x[r * 3 + i]! * dOut;
            g[6 + j] += dOut;
          }
        }
        reference(theta, g, ++t);
        trajectory.push(theta.slice());
      }
    }
    return trajectory;
  }

  it.each([
    { name: 'SGD momentum', spec: { type: 'sgd', learningRate: 0.1, momentum: 0.9 } as OptimizerSpec, torch: torchSgd(8, 0.1, 0.9, false) },
    {
      name: 'Adam',
      spec: { type: 'adam', learningRate: 0.01, epsilon: 1e-8 } as OptimizerSpec,
      torch: torchAdam(8, 0.01, 0.9, 0.999, 1e-8),
    },
    {
      name: 'RMSprop',
      spec: { type: 'rmsprop', learningRate: 0.01, epsilon: 1e-8 } as OptimizerSpec,
      torch: torchRmsprop(8, 0.01, 0.9, 1e-8, 0, false),
    },
  ])('$name matches the PyTorch update at every batch', async ({ name, spec, torch }) => {
    const model = new Sequential({ name: 'linear', inputShape: [3], layers: [layer] }, { seed: 4, dtype: 'float64' });
    const kernel = model.view(model.weights[0]!);
    const bias = model.view(model.weights[1]!);
    bias.set([0.3, -0.2]);
    const reference = referenceRun(torch, Float64Array.from(kernel), Float64Array.from(bias), 2);
    const seen: Float64Array[] = [];
    const trainer = new Trainer(model, { loss: 'mse', epochs: 2, batchSize: batch, shuffle: false, optimizer: spec }, { x, y, rows });
    await trainer.fit({
      onBatchEnd: () => {
        const flat = new Float64Array(8);
        flat.set(kernel);
        flat.set(bias, 6);
        seen.push(flat);
      },
    });
    expect(seen).toHaveLength(6);
    seen.forEach((params, t) => expectAllClose(params, reference[t]!, { atol: 1e-5, rtol: 0, label: `${name} step ${t + 1}` }));
    const moved = Math.max(...Array.from(reference[5]!, (v, i) => Math.abs(v - reference[0]![i]!)));
    expect(moved).toBeGreaterThan(1e-3);
  });
});
