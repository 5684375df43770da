/** The exported bytes, decoded with onnx-proto's decoder: structure, names, shapes and metadata. */
import { describe, expect, it } from 'vitest';
import { Sequential } from '../../src/engine/index.js';
import { ONNX_IR_VERSION, ONNX_OPSET, OnnxExportError, decodeModel, encodeModel, exportOnnx, kilnVersion } from '../../src/onnx/index.js';
import { onnx } from '../../src/onnx/proto.js';
import { plainModel, randomModel } from './helpers.js';

const FLOAT = onnx.TensorProto.DataType.FLOAT;

describe('exported ModelProto', () => {
  const model = randomModel(
    [6],
    [
      { type: 'dense', units: 8, activation: 'relu' },
      { type: 'batch_normalization' },
      { type: 'dropout', rate: 0.3 },
      { type: 'dense', units: 5, activation: 'gelu', useBias: false },
      { type: 'dense', units: 3, activation: 'softmax' },
    ],
  );
  const meta = { name: 'digits', version: 3, jobId: 'job-42', loss: 'sparse_categorical_crossentropy' };
  const bytes = exportOnnx(model, meta);
  const decoded = plainModel(bytes);

  it('has IR version, opset and producer', () => {
    expect(decoded.irVersion).toBe(ONNX_IR_VERSION);
    expect(decoded.irVersion).toBeLessThanOrEqual(13);
    expect(decoded.opsetImports).toEqual([{ domain: '', version: 13 }]);
    expect(decoded.opset).toBe(ONNX_OPSET);
    expect(decoded.producerName).toBe('kiln');
    expect(decoded.producerVersion).toBe(kilnVersion());
    expect(decoded.producerVersion).toMatch(/^\d+\.\d+\.\d+/);
    expect(decoded.modelVersion).toBe(3);
    expect(decoded.graphName).toBe('digits');
  });

  it('writes metadata_props, with the class count of a classifier', () => {
    expect(decoded.metadata).toEqual({
      name: 'digits',
      version: '3',
      jobId: 'job-42',
      loss: 'sparse_categorical_crossentropy',
      classes: '3',
      inputShape: '[6]',
      outputShape: '[3]',
    });
    const regression = randomModel([2], [{ type: 'dense', units: 1 }]);
    expect(plainModel(exportOnnx(regression, { name: 'reg', loss: 'mse', jobId: null })).metadata).toEqual({
      name: 'reg',
      loss: 'mse',
      inputShape: '[2]',
      outputShape: '[1]',
    });
    const binary = randomModel([2], [{ type: 'dense', units: 1, activation: 'sigmoid' }]);
    expect(plainModel(exportOnnx(binary, { name: 'b', loss: 'binary_crossentropy' })).metadata['classes']).toBe('2');
    expect(plainModel(exportOnnx(binary, { name: 'b', classes: null })).metadata['classes']).toBeUndefined();
    expect(plainModel(exportOnnx(regression, { name: 'b', classes: 7 })).metadata['classes']).toBe('7');
    expect(plainModel(exportOnnx(regression, { name: 'b', producerVersion: '9.9.9' })).producerVersion).toBe('9.9.9');
  });

  it('lists the nodes in order, in SSA form, ending in output', () => {
    const nodes = decoded.nodes;
    expect(nodes.map((n) => n.opType)).toEqual([
      'Gemm',
      'Relu',
      'BatchNormalization',
      'Gemm',
      'Div',
      'Erf',
      'Add',
      'Mul',
      'Mul',
      'Gemm',
      'Softmax',
    ]);
    const outputs = nodes.flatMap((n) => n.output);
    expect(new Set(outputs).size).toBe(outputs.length);
    expect(nodes[0]!.input[0]).toBe('input');
    expect(nodes.at(-1)!.output).toEqual(['output']);
    // Topological order: each node reads the graph input, an initializer, or an earlier output.
    const known = new Set(['input', ...decoded.initializers.map((t) => t.name)]);
    for (const node of nodes) {
      for (const name of node.input) expect(known.has(name), `${node.opType} reads ${name}`).toBe(true);
      for (const name of node.output) known.add(name);
    }
    // Gemm B is the kernel as stored, (K, N): transB keeps its default 0.
    expect(nodes[0]!.input).toEqual(['input', '0.kernel', '0.bias']);
    expect(nodes[0]!.attributes).toEqual({});
    // The bias-free dense layer is a Gemm without C.
    expect(nodes[3]!.input).toEqual([nodes[2]!.output[0], '3.kernel']);
    expect(nodes[2]!.input.slice(1)).toEqual(['1.gamma', '1.beta', '1.moving_mean', '1.moving_variance']);
    expect(nodes[2]!.attributes['epsilon']).toBeCloseTo(1e-3, 9);
    expect(nodes[4]!.input).toEqual(['3.gemm', 'gelu.sqrt2']);
    expect(nodes.at(-1)!.attributes).toEqual({ axis: -1 });
  });

  it('stores the weights as float32 raw_data initializers, not graph inputs', () => {
    expect(decoded.initializers.map((t) => [t.name, t.dims])).toEqual([
      ['0.kernel', [6, 8]],
      ['0.bias', [8]],
      ['1.gamma', [8]],
      ['1.beta', [8]],
      ['1.moving_mean', [8]],
      ['1.moving_variance', [8]],
      ['3.kernel', [8, 5]],
      ['gelu.sqrt2', []],
      ['gelu.one', []],
      ['gelu.half', []],
      ['4.kernel', [5, 3]],
      ['4.bias', [3]],
    ]);
    for (const tensor of decoded.initializers) {
      expect(tensor.dataType).toBe(FLOAT);
      expect(tensor.floatDataLength).toBe(0);
    }
    // raw_data is little-endian float32 equal to the engine's weights, in stored (Keras) order.
    for (const entry of model.weights) {
      const tensor = decoded.initializers.find((t) => t.name === `${entry.layer}.${entry.name}`)!;
      expect(tensor.values, tensor.name).toEqual(Array.from(model.view(entry)));
    }
    expect(decoded.initializers.find((t) => t.name === 'gelu.sqrt2')!.values[0]).toBeCloseTo(Math.SQRT2, 6);
    expect(decoded.inputs.map((i) => i.name)).toEqual(['input']);
  });

  it('declares input [N, ...inputShape] and output [N, ...outputShape] with a symbolic batch axis', () => {
    expect(decoded.inputs).toEqual([{ name: 'input', elemType: FLOAT, dims: ['N', 6] }]);
    expect(decoded.outputs).toEqual([{ name: 'output', elemType: FLOAT, dims: ['N', 3] }]);
    const image = plainModel(exportOnnx(randomModel([4, 3], [{ type: 'flatten' }]), { name: 'img' }));
    expect(image.inputs[0]!.dims).toEqual(['N', 4, 3]);
    expect(image.outputs[0]!.dims).toEqual(['N', 12]);
    expect(image.nodes).toEqual([{ opType: 'Flatten', input: ['input'], output: ['output'], attributes: { axis: 1 } }]);
  });

  it('writes channels-last batch normalization on rank > 2 as Sub/Mul/Add over the last axis', () => {
    const m = randomModel([4, 3], [{ type: 'batch_normalization' }, { type: 'flatten' }]);
    const g = plainModel(exportOnnx(m, { name: 'bn3' }));
    expect(g.nodes.map((n) => n.opType)).toEqual(['Sub', 'Mul', 'Add', 'Flatten']);
    expect(g.initializers.map((t) => [t.name, t.dims])).toEqual([
      ['0.moving_mean', [3]],
      ['0.multiplier', [3]],
      ['0.beta', [3]],
    ]);
  });

  it('writes an Identity when no layer changes the input', () => {
    const g = plainModel(exportOnnx(randomModel([3], [{ type: 'dropout', rate: 0.5 }]), { name: 'id' }));
    expect(g.nodes).toEqual([{ opType: 'Identity', input: ['input'], output: ['output'], attributes: {} }]);
  });

  it('is deterministic, and re-encoding the decoded message gives the same bytes', () => {
    expect(exportOnnx(model, meta)).toEqual(bytes);
    expect(encodeModel(decodeModel(bytes))).toEqual(bytes);
  });

  it('refuses a dense layer on a rank > 1 input (the spec validator rejects it too)', () => {
    const bad = new Sequential({ name: 'bad', inputShape: [4, 3], layers: [{ type: 'dense', units: 2 }] });
    expect(() => exportOnnx(bad, { name: 'bad' })).toThrow(OnnxExportError);
  });
});
