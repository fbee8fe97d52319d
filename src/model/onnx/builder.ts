// A small typed builder for ONNX graphs. Pinpoint writes its inference graphs itself (weights in, model
// bytes out) instead of shipping exported .onnx files, so any input size, layer pair or precision can be
// built on the host that runs it.
import onnxProto from 'onnx-proto';
import { f32ToF16 } from '../safetensors.js';

const { onnx } = onnxProto;
const DT = onnx.TensorProto.DataType;
const AT = onnx.AttributeProto.AttributeType;

/** Element types, spelled as onnxruntime spells tensor types. */
export type ElemType = 'float32' | 'float16' | 'int64' | 'int32' | 'uint8' | 'bool';

const ELEM: Record<ElemType, number> = {
  float32: DT.FLOAT,
  float16: DT.FLOAT16,
  int64: DT.INT64,
  int32: DT.INT32,
  uint8: DT.UINT8,
  bool: DT.BOOL,
};

/** The ONNX TensorProto data-type code of an element type (Cast's `to` attribute). */
export function onnxType(t: ElemType): number {
  return ELEM[t];
}

/** A dimension: a fixed size, or a symbolic name for a dynamic one (e.g. 'batch'). */
export type Dim = number | string;

/** Tensor data an initialiser accepts; a Uint16Array is taken as float16 bits. */
export type InitData = Float32Array | Int32Array | BigInt64Array | Uint16Array | Uint8Array;

/** Forces a FLOAT attribute where the value happens to be an integer (e.g. alpha = 1). */
export interface FloatAttr {
  readonly kind: 'float';
  readonly value: number;
}
export interface TensorAttr {
  readonly kind: 'tensor';
  readonly data: InitData;
  readonly dims: number[];
}
/**
 * Attribute values. A number is INT when it is an integer, FLOAT otherwise (wrap with `float()` to force
 * FLOAT); number[] likewise becomes INTS or FLOATS; a Float32Array is always FLOATS.
 */
export type AttrValue =
  number | bigint | string | number[] | string[] | Float32Array | FloatAttr | TensorAttr;
export type Attrs = Record<string, AttrValue>;

export const float = (value: number): FloatAttr => ({ kind: 'float', value });
export const tensorAttr = (data: InitData, dims: number[]): TensorAttr => ({ kind: 'tensor', data, dims });

export interface OpOptions {
  /** Operator domain; 'com.microsoft' for onnxruntime contrib ops. */
  domain?: string;
  /** Node name stem (outputs are named after it); the op type by default. */
  name?: string;
  /** Explicit output tensor names, e.g. a graph output's name. */
  outputNames?: string[];
}

export interface InitializerOptions {
  /** Store a Float32Array as float16. */
  fp16?: boolean;
}

export interface BuilderOptions {
  /** Default-domain opset (17: LayerNormalization, axes as attributes of Reduce*). */
  opset?: number;
  graphName?: string;
}

/** Domain of onnxruntime's contrib operators (opset 1). */
export const MS_DOMAIN = 'com.microsoft';

export class GraphBuilder {
  private readonly nodes: onnxProto.onnx.INodeProto[] = [];
  private readonly inits: onnxProto.onnx.ITensorProto[] = [];
  private readonly inputs: onnxProto.onnx.IValueInfoProto[] = [];
  private readonly outputs: onnxProto.onnx.IValueInfoProto[] = [];
  /** Every tensor name defined so far: catches typos when the node is added, not at session load. */
  private readonly known = new Set<string>();
  private readonly domains = new Set<string>();
  private readonly stems = new Map<string, number>();
  /** Small constants are shared: one initialiser for every use of e.g. the scalar 0.5. */
  private readonly constCache = new Map<string, string>();
  private readonly opset: number;
  private readonly graphName: string;

  constructor(opts: BuilderOptions = {}) {
    this.opset = opts.opset ?? 17;
    this.graphName = opts.graphName ?? 'pinpoint';
  }

  input(name: string, elemType: ElemType, dims: Dim[]): string {
    this.define(name);
    this.inputs.push(valueInfo(name, elemType, dims));
    return name;
  }

  /** Declares a graph output; the tensor must exist by then (see `OpOptions.outputNames`). */
  output(name: string, elemType: ElemType, dims: Dim[]): string {
    if (!this.known.has(name)) throw new Error(`output '${name}' is not a tensor of this graph`);
    this.outputs.push(valueInfo(name, elemType, dims));
    return name;
  }

  /** The data is referenced, not copied, until build(): do not modify it in between. */
  initializer(name: string, data: InitData, dims: number[], opts: InitializerOptions = {}): string {
    const count = dims.reduce((a, d) => a * d, 1);
    if (count !== data.length)
      throw new Error(`initializer '${name}': ${data.length} values for dims [${dims}]`);
    this.define(name);
    const payload = opts.fp16 && data instanceof Float32Array ? f32ToF16(data) : data;
    this.inits.push({ name, dims, dataType: dataTypeOf(payload), rawData: bytesOf(payload) });
    return name;
  }

  /** A float constant (float16 with `fp16`); small ones are shared. `dims` defaults to 1-D. */
  constF32(
    values: ArrayLike<number>,
    dims: number[] = [values.length],
    opts: InitializerOptions = {},
  ): string {
    return this.cachedConst(opts.fp16 ? 'f16' : 'f32', values, dims, () =>
      this.initializer(this.unique('const'), Float32Array.from(values), dims, opts),
    );
  }

  /** A 1-D int64 constant (shapes, axes, slice bounds); `dims` [] makes a scalar. */
  constI64(values: ArrayLike<number>, dims: number[] = [values.length]): string {
    return this.cachedConst('i64', values, dims, () =>
      this.initializer(
        this.unique('const'),
        BigInt64Array.from(Array.from(values), (v) => BigInt(v)),
        dims,
      ),
    );
  }

  op(opType: string, inputs: string[], attrs?: Attrs, opts?: OpOptions & { outputs?: undefined }): string;
  op(
    opType: string,
    inputs: string[],
    attrs: Attrs | undefined,
    opts: OpOptions & { outputs: number },
  ): string[];
  op(
    opType: string,
    inputs: string[],
    attrs: Attrs = {},
    opts: OpOptions & { outputs?: number } = {},
  ): string | string[] {
    for (const i of inputs) {
      // '' marks an omitted optional input.
      if (i !== '' && !this.known.has(i)) throw new Error(`${opType}: unknown input tensor '${i}'`);
    }
    const name = this.unique(opts.name ?? opType);
    const n = opts.outputNames?.length ?? opts.outputs ?? 1;
    const outs = opts.outputNames ?? Array.from({ length: n }, (_, k) => (n === 1 ? name : `${name}_o${k}`));
    for (const o of outs) this.define(o);
    const domain = opts.domain ?? '';
    if (domain !== '') this.domains.add(domain);
    this.nodes.push({
      name,
      opType,
      domain,
      input: inputs,
      output: outs,
      attribute: Object.entries(attrs).map(([k, v]) => attribute(k, v)),
    });
    return opts.outputs === undefined ? outs[0] : outs;
  }

  /** Serialised ModelProto (ir_version 8). */
  build(): Uint8Array {
    const opsetImport: onnxProto.onnx.IOperatorSetIdProto[] = [{ domain: '', version: this.opset }];
    for (const d of this.domains) opsetImport.push({ domain: d, version: 1 });
    return onnx.ModelProto.encode({
      irVersion: 8,
      opsetImport,
      producerName: 'pinpoint',
      graph: {
        name: this.graphName,
        node: this.nodes,
        initializer: this.inits,
        input: this.inputs,
        output: this.outputs,
      },
    }).finish();
  }

  /** Node op types in insertion order (tests check fusable patterns with it). */
  opTypes(): string[] {
    return this.nodes.map((n) => n.opType ?? '');
  }

  /** A fresh name with the given stem, unique in this graph. */
  unique(stem: string): string {
    for (;;) {
      const k = this.stems.get(stem) ?? 0;
      this.stems.set(stem, k + 1);
      const name = `${stem}_${k}`;
      if (!this.known.has(name)) return name;
    }
  }

  private define(name: string): void {
    if (this.known.has(name)) throw new Error(`tensor '${name}' is defined twice`);
    this.known.add(name);
  }

  private cachedConst(kind: string, values: ArrayLike<number>, dims: number[], make: () => string): string {
    if (values.length > 16) return make();
    const key = `${kind}|${dims.join(',')}|${Array.from(values).join(',')}`;
    let name = this.constCache.get(key);
    if (name === undefined) {
      name = make();
      this.constCache.set(key, name);
    }
    return name;
  }
}

function valueInfo(name: string, elemType: ElemType, dims: Dim[]): onnxProto.onnx.IValueInfoProto {
  return {
    name,
    type: {
      tensorType: {
        elemType: ELEM[elemType],
        shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) },
      },
    },
  };
}

function dataTypeOf(data: InitData): number {
  if (data instanceof Float32Array) return DT.FLOAT;
  if (data instanceof Uint16Array) return DT.FLOAT16;
  if (data instanceof Int32Array) return DT.INT32;
  if (data instanceof BigInt64Array) return DT.INT64;
  return DT.UINT8;
}

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** ONNX raw_data is little-endian; a view of the typed array's bytes is already that on every host Node runs on. */
function bytesOf(data: InitData): Uint8Array {
  if (!LITTLE_ENDIAN) throw new Error('big-endian hosts are not supported');
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

function attribute(name: string, v: AttrValue): onnxProto.onnx.IAttributeProto {
  if (typeof v === 'number') {
    return Number.isInteger(v) ? { name, type: AT.INT, i: v } : { name, type: AT.FLOAT, f: v };
  }
  if (typeof v === 'bigint') return { name, type: AT.INT, i: Number(v) };
  if (typeof v === 'string') return { name, type: AT.STRING, s: new TextEncoder().encode(v) };
  if (v instanceof Float32Array) return { name, type: AT.FLOATS, floats: Array.from(v) };
  if (Array.isArray(v)) {
    if (v.length > 0 && v.every((x): x is string => typeof x === 'string')) {
      return { name, type: AT.STRINGS, strings: v.map((s) => new TextEncoder().encode(s)) };
    }
    const nums = v as number[];
    return nums.every(Number.isInteger)
      ? { name, type: AT.INTS, ints: nums }
      : { name, type: AT.FLOATS, floats: nums };
  }
  if (v.kind === 'float') return { name, type: AT.FLOAT, f: v.value };
  return {
    name,
    type: AT.TENSOR,
    t: { dims: v.dims, dataType: dataTypeOf(v.data), rawData: bytesOf(v.data) },
  };
}
