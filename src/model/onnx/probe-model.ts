// The smallest useful ONNX model (y = x + x, float32 [N]): enough to tell whether a provider loads.
import onnxProto from 'onnx-proto';

const { onnx } = onnxProto;

export function identityModel(): Uint8Array {
  const vi = (name: string): onnxProto.onnx.IValueInfoProto => ({
    name,
    type: { tensorType: { elemType: onnx.TensorProto.DataType.FLOAT, shape: { dim: [{ dimParam: 'N' }] } } },
  });
  return onnx.ModelProto.encode({
    irVersion: 8,
    opsetImport: [{ domain: '', version: 17 }],
    producerName: 'pinpoint',
    graph: {
      name: 'probe',
      node: [{ opType: 'Add', input: ['x', 'x'], output: ['y'] }],
      input: [vi('x')],
      output: [vi('y')],
    },
  }).finish();
}
