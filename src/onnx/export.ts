/**
 * Exports an engine `Sequential` as an ONNX model (ModelProto bytes) that onnxruntime-node loads:
 * one input `input` [N, ...inputShape] with a symbolic batch axis, one output `output`, weights as
 * float32 initializers (raw_data, little-endian), encoded with onnx-proto's generated encoder.
 *
 * Layer mapping (inference form; every op exists at opset 13):
 * - dense → Gemm(input, kernel, bias); the kernel is stored [in, units], which is Gemm's B with
 *   transB = 0, so it is written as is. Without a bias, Gemm omits its optional C.
 * - activations (dense `activation` or an activation layer) → Relu, LeakyRelu(α 0.2), Elu(α 1),
 *   Sigmoid, Tanh, Softmax(axis −1), exact GELU as 0.5·x·(1 + Erf(x/√2)) from Div/Erf/Add/Mul
 *   (the Gelu op needs opset 20); linear writes nothing.
 * - batch_normalization → BatchNormalization(scale, B, mean, var, epsilon) on 2-D [N, C] input,
 *   whose channel axis 1 is the engine's last axis. On rank > 2 inputs the engine normalizes the
 *   last axis (channels last) while ONNX's op wants channels on axis 1, so it becomes
 *   (x − mean) · (γ/√(var + ε)) + β with Sub/Mul/Add, which broadcast over the last axis.
 *   center/scale false use β = 0 / γ = 1.
 * - dropout → nothing (identity at inference); flatten → Flatten(axis 1), nothing on 2-D input.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ActivationName } from '../engine/activations.js';
import { ELU_ALPHA, LEAKY_RELU_SLOPE } from '../engine/activations.js';
import type { Sequential } from '../engine/model.js';
import { finalActivation } from '../engine/validate.js';
import type { FloatArray } from '../engine/tensor.js';
import { encodeModel, onnx, type IAttributeProto, type INodeProto, type ITensorProto, type IValueInfoProto } from './proto.js';

/**
 * IR version 7 is the one ONNX 1.8 paired with opset 13 (docs/Versioning.md), the lowest that
 * can carry it; onnxruntime-node 1.30 loads IR ≤ 13.
 */
export const ONNX_IR_VERSION = 7;
/**
 * Opset 13: Softmax-13 normalizes one axis (−1, the engine's last axis) instead of coercing the
 * input to 2-D, Gemm's bias is optional, and Erf, Flatten, BatchNormalization-9 are all there.
 */
export const ONNX_OPSET = 13;
export const ONNX_INPUT_NAME = 'input';
export const ONNX_OUTPUT_NAME = 'output';
export const ONNX_BATCH_DIM = 'N';

export interface OnnxExportMeta {
  /** Registry name of the model; also the graph name. */
  name: string;
  version?: number;
  jobId?: string | null;
  /** Training loss; used to decide whether the model is a classifier when `classes` is omitted. */
  loss?: string;
  /** Class count for classifiers; null = not a classifier; omitted = inferred (see classCount). */
  classes?: number | null;
  /** Written as producer_version; defaults to Kiln's package.json version. */
  producerVersion?: string;
}

/** Raised for a model the exporter cannot express (e.g. a dense layer on a rank > 1 input). */
export class OnnxExportError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'OnnxExportError';
  }
}

/** Exports `model` (its current weights, inference behaviour) as ONNX ModelProto bytes. */
export function exportOnnx(model: Sequential, meta: OnnxExportMeta): Uint8Array {
  const graph = new GraphBuilder();
  let current = ONNX_INPUT_NAME;
  // Rank of the tensor `current`, batch axis included.
  let rank = model.inputShape.length + 1;

  model.layers.forEach((layer, index) => {
    const spec = layer.spec;
    const prefix = `${index}`;
    switch (spec.type) {
      case 'dense': {
        if (rank !== 2) {
          throw new OnnxExportError(`layer ${index} (dense) needs a 1-D input per row, got shape [${layer.inputShape}]`);
        }
        const inputs = [current, graph.weight(`${prefix}.kernel`, model, index, 'kernel')];
        if (spec.useBias ?? true) inputs.push(graph.weight(`${prefix}.bias`, model, index, 'bias'));
        current = graph.node('Gemm', inputs, `${prefix}.gemm`);
        current = graph.activation(spec.activation ?? 'linear', current, prefix);
        break;
      }
      case 'activation':
        current = graph.activation(spec.activation, current, prefix);
        break;
      case 'dropout':
        break;
      case 'batch_normalization':
        current = batchNormalization(graph, model, index, current, rank);
        break;
      case 'flatten':
        if (rank > 2) current = graph.node('Flatten', [current], `${prefix}.flatten`, [intAttribute('axis', 1)]);
        rank = 2;
        break;
    }
  });
  graph.setOutput(current);

  const producerVersion = meta.producerVersion ?? kilnVersion();
  const metadata: Record<string, string> = { name: meta.name };
  if (meta.version !== undefined) metadata['version'] = String(meta.version);
  if (meta.jobId) metadata['jobId'] = meta.jobId;
  if (meta.loss) metadata['loss'] = meta.loss;
  const classes = meta.classes === undefined ? classCount(model, meta.loss) : meta.classes;
  if (classes !== null) metadata['classes'] = String(classes);
  metadata['inputShape'] = JSON.stringify(model.inputShape);
  metadata['outputShape'] = JSON.stringify(model.outputShape);

  const versionText = meta.version === undefined ? '' : ` version ${meta.version}`;
  return encodeModel({
    irVersion: ONNX_IR_VERSION,
    opsetImport: [{ domain: '', version: ONNX_OPSET }],
    producerName: 'kiln',
    producerVersion,
    modelVersion: meta.version ?? 0,
    docString: `Kiln model ${meta.name}${versionText}`,
    metadataProps: Object.entries(metadata).map(([key, value]) => ({ key, value })),
    graph: {
      name: meta.name,
      node: graph.nodes,
      initializer: graph.initializers,
      input: [valueInfo(ONNX_INPUT_NAME, model.inputShape)],
      output: [valueInfo(ONNX_OUTPUT_NAME, model.outputShape)],
    },
  });
}

/**
 * Class count of a classifier, or null: a crossentropy loss (or, without a loss, a softmax or
 * single-unit sigmoid ending) over a 1-D output. Softmax → one class per output unit; a single
 * sigmoid unit → 2 classes (output ≥ 0.5).
 */
export function classCount(model: Sequential, loss?: string): number | null {
  if (model.outputShape.length !== 1) return null;
  if (loss !== undefined && !loss.endsWith('crossentropy')) return null;
  const last = finalActivation(model.spec);
  const units = model.outputShape[0]!;
  if (last === 'softmax' && units >= 2) return units;
  if (last === 'sigmoid' && units === 1) return 2;
  return null;
}

function batchNormalization(graph: GraphBuilder, model: Sequential, index: number, x: string, rank: number): string {
  const layerSpec = model.layers[index]!.spec;
  if (layerSpec.type !== 'batch_normalization') throw new OnnxExportError(`layer ${index} is not batch_normalization`);
  const prefix = `${index}`;
  const epsilon = layerSpec.epsilon ?? 1e-3;
  const gamma = weightValues(model, index, 'gamma');
  const beta = weightValues(model, index, 'beta');
  const mean = weightValues(model, index, 'moving_mean')!;
  const variance = weightValues(model, index, 'moving_variance')!;
  const channels = mean.length;

  if (rank === 2) {
    const scale = graph.constant(`${prefix}.gamma`, [channels], gamma ?? new Float32Array(channels).fill(1));
    const bias = graph.constant(`${prefix}.beta`, [channels], beta ?? new Float32Array(channels));
    const meanName = graph.constant(`${prefix}.moving_mean`, [channels], mean);
    const varName = graph.constant(`${prefix}.moving_variance`, [channels], variance);
    return graph.node('BatchNormalization', [x, scale, bias, meanName, varName], `${prefix}.batch_normalization`, [
      floatAttribute('epsilon', epsilon),
    ]);
  }

  // Channels last on rank > 2: (x − mean) · γ/√(var + ε) + β, constants of shape [C] broadcast
  // over the last axis. Subtracting the mean first keeps the engine's order of operations.
  const multiplier = new Float64Array(channels);
  for (let j = 0; j < channels; j++) multiplier[j] = (gamma ? gamma[j]! : 1) / Math.sqrt(variance[j]! + epsilon);
  let y = graph.node('Sub', [x, graph.constant(`${prefix}.moving_mean`, [channels], mean)], `${prefix}.centered`);
  y = graph.node('Mul', [y, graph.constant(`${prefix}.multiplier`, [channels], multiplier)], `${prefix}.scaled`);
  if (beta) y = graph.node('Add', [y, graph.constant(`${prefix}.beta`, [channels], beta)], `${prefix}.shifted`);
  return y;
}

/** The values of one named weight of a layer, or null when the layer does not have it. */
function weightValues(model: Sequential, layer: number, name: string): FloatArray | null {
  const entry = model.weights.find((w) => w.layer === layer && w.name === name);
  return entry ? model.view(entry) : null;
}

/** Collects nodes and initializers; every tensor name is unique (SSA). */
class GraphBuilder {
  readonly nodes: INodeProto[] = [];
  readonly initializers: ITensorProto[] = [];
  private readonly names = new Set<string>([ONNX_INPUT_NAME, ONNX_OUTPUT_NAME]);

  /** Adds a node with one output named `output`; returns that name. */
  node(opType: string, inputs: string[], output: string, attribute: IAttributeProto[] = []): string {
    this.claim(output);
    this.nodes.push({ opType, input: inputs, output: [output], name: output, attribute });
    return output;
  }

  /** Adds a float32 initializer; returns its name. */
  constant(name: string, dims: number[], values: FloatArray | number[]): string {
    this.claim(name);
    this.initializers.push({ name, dims, dataType: onnx.TensorProto.DataType.FLOAT, rawData: float32LittleEndian(values) });
    return name;
  }

  /** Adds one of the model's weights as an initializer, in its stored shape. */
  weight(name: string, model: Sequential, layer: number, weightName: string): string {
    const entry = model.weights.find((w) => w.layer === layer && w.name === weightName);
    if (!entry) throw new OnnxExportError(`layer ${layer} has no weight ${weightName}`);
    return this.constant(name, entry.shape, model.view(entry));
  }

  /** A scalar constant shared by every node that needs it (GELU's √2, 1 and 0.5). */
  scalar(name: string, value: number): string {
    if (!this.names.has(name)) this.constant(name, [], [value]);
    return name;
  }

  /** Applies an activation along the last axis; linear adds nothing. */
  activation(name: ActivationName, x: string, prefix: string): string {
    switch (name) {
      case 'linear':
        return x;
      case 'relu':
        return this.node('Relu', [x], `${prefix}.relu`);
      case 'leaky_relu':
        return this.node('LeakyRelu', [x], `${prefix}.leaky_relu`, [floatAttribute('alpha', LEAKY_RELU_SLOPE)]);
      case 'elu':
        return this.node('Elu', [x], `${prefix}.elu`, [floatAttribute('alpha', ELU_ALPHA)]);
      case 'sigmoid':
        return this.node('Sigmoid', [x], `${prefix}.sigmoid`);
      case 'tanh':
        return this.node('Tanh', [x], `${prefix}.tanh`);
      case 'softmax':
        return this.node('Softmax', [x], `${prefix}.softmax`, [intAttribute('axis', -1)]);
      case 'gelu': {
        // Exact GELU (Keras approximate=false): 0.5 · x · (1 + erf(x / √2)).
        const scaled = this.node('Div', [x, this.scalar('gelu.sqrt2', Math.SQRT2)], `${prefix}.gelu.div`);
        const erf = this.node('Erf', [scaled], `${prefix}.gelu.erf`);
        const cdf2 = this.node('Add', [erf, this.scalar('gelu.one', 1)], `${prefix}.gelu.add`);
        const product = this.node('Mul', [x, cdf2], `${prefix}.gelu.mul`);
        return this.node('Mul', [product, this.scalar('gelu.half', 0.5)], `${prefix}.gelu`);
      }
    }
  }

  /** Names the final tensor `output`: renames the last node's output, or adds an Identity. */
  setOutput(current: string): void {
    const last = this.nodes[this.nodes.length - 1];
    if (current === ONNX_INPUT_NAME || !last || last.output?.[0] !== current) {
      this.nodes.push({ opType: 'Identity', input: [current], output: [ONNX_OUTPUT_NAME], name: 'identity' });
      return;
    }
    last.output = [ONNX_OUTPUT_NAME];
  }

  private claim(name: string): void {
    if (this.names.has(name)) throw new OnnxExportError(`duplicate tensor name ${name}`);
    this.names.add(name);
  }
}

function valueInfo(name: string, rowShape: readonly number[]): IValueInfoProto {
  return {
    name,
    type: {
      tensorType: {
        elemType: onnx.TensorProto.DataType.FLOAT,
        shape: { dim: [{ dimParam: ONNX_BATCH_DIM }, ...rowShape.map((dimValue) => ({ dimValue }))] },
      },
    },
  };
}

function floatAttribute(name: string, f: number): IAttributeProto {
  return { name, type: onnx.AttributeProto.AttributeType.FLOAT, f };
}

function intAttribute(name: string, i: number): IAttributeProto {
  return { name, type: onnx.AttributeProto.AttributeType.INT, i };
}

/** IEEE 754 float32, little-endian whatever the host order (TensorProto.raw_data). */
function float32LittleEndian(values: ArrayLike<number>): Uint8Array {
  const bytes = new Uint8Array(values.length * 4);
  const view = new DataView(bytes.buffer);
  for (let i = 0; i < values.length; i++) view.setFloat32(i * 4, values[i]!, true);
  return bytes;
}

let cachedVersion: string | null = null;

/** Kiln's version from the nearest package.json above this file (src/ or dist/), else 0.0.0. */
export function kilnVersion(): string {
  if (cachedVersion !== null) return cachedVersion;
  cachedVersion = '0.0.0';
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let depth = 0; depth < 6; depth++) {
    const file = join(dir, 'package.json');
    if (existsSync(file)) {
      try {
        const pkg = JSON.parse(readFileSync(file, 'utf8')) as { name?: unknown; version?: unknown };
        if (pkg.name === 'kiln' && typeof pkg.version === 'string') {
          cachedVersion = pkg.version;
          break;
        }
      } catch {
        // An unreadable package.json: keep looking further up.
      }
    }
    const parent = dirname(dir);
    if (parent === dir) break;
    dir = parent;
  }
  return cachedVersion;
}
