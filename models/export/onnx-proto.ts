// ONNX model writer: the subset of onnx.proto the exporter needs, encoded by protobufjs (the one import site
// of protobufjs), and a small graph builder over it. IR version 8 / opset 17 (+ com.microsoft 1 for
// MatMulNBits) ran on every onnxruntime execution provider we use (../shared/PLATFORM.md).
//
//   const g = new GraphBuilder('encoder');
//   const x = g.input('x', TensorType.FLOAT, ['B', 4]);
//   const w = g.initializer('w', new Float32Array(8), [4, 2]);
//   g.output(g.op('MatMul', [x, w]), TensorType.FLOAT, ['B', 2]);
//   const bytes = g.toModel();                                       // Uint8Array, an .onnx file
import protobuf from 'protobufjs';

// Field numbers are onnx.proto's (github.com/onnx/onnx, onnx/onnx.proto); only what we write is declared.
const ONNX_SUBSET = `
syntax = "proto3";
package onnx;
message AttributeProto {
  enum AttributeType { UNDEFINED = 0; FLOAT = 1; INT = 2; STRING = 3; TENSOR = 4; GRAPH = 5; FLOATS = 6; INTS = 7; STRINGS = 8; }
  string name = 1;
  float f = 2;
  int64 i = 3;
  bytes s = 4;
  TensorProto t = 5;
  repeated float floats = 7;
  repeated int64 ints = 8;
  repeated bytes strings = 9;
  AttributeType type = 20;
}
message ValueInfoProto { string name = 1; TypeProto type = 2; string doc_string = 3; }
message NodeProto {
  repeated string input = 1;
  repeated string output = 2;
  string name = 3;
  string op_type = 4;
  repeated AttributeProto attribute = 5;
  string doc_string = 6;
  string domain = 7;
}
message StringStringEntryProto { string key = 1; string value = 2; }
message OperatorSetIdProto { string domain = 1; int64 version = 2; }
message ModelProto {
  int64 ir_version = 1;
  repeated OperatorSetIdProto opset_import = 8;
  string producer_name = 2;
  string producer_version = 3;
  string domain = 4;
  int64 model_version = 5;
  string doc_string = 6;
  GraphProto graph = 7;
  repeated StringStringEntryProto metadata_props = 14;
}
message GraphProto {
  repeated NodeProto node = 1;
  string name = 2;
  repeated TensorProto initializer = 5;
  string doc_string = 10;
  repeated ValueInfoProto input = 11;
  repeated ValueInfoProto output = 12;
  repeated ValueInfoProto value_info = 13;
}
message TensorProto {
  repeated int64 dims = 1;
  int32 data_type = 2;
  string name = 8;
  bytes raw_data = 9;
  string doc_string = 12;
}
message TensorShapeProto {
  message Dimension { oneof value { int64 dim_value = 1; string dim_param = 2; } }
  repeated Dimension dim = 1;
}
message TypeProto {
  message Tensor { int32 elem_type = 1; TensorShapeProto shape = 2; }
  oneof value { Tensor tensor_type = 1; }
}
`;

const root = protobuf.parse(ONNX_SUBSET, { keepCase: true }).root;
const ModelProto = root.lookupType('onnx.ModelProto');

/** TensorProto.DataType values we use. */
export const TensorType = { FLOAT: 1, UINT8: 2, INT8: 3, INT32: 6, INT64: 7, BOOL: 9 } as const;
export type TensorTypeId = (typeof TensorType)[keyof typeof TensorType];

export const IR_VERSION = 8;
export const OPSET = 17;
export const MS_DOMAIN = 'com.microsoft';

/** A float attribute (a plain number is written as an INT attribute). */
export interface FloatAttribute {
  float: number;
}
export type AttributeValue = number | FloatAttribute | number[] | string;
export const float = (value: number): FloatAttribute => ({ float: value });

type TensorData = Float32Array | Uint8Array | Int8Array | Int32Array | BigInt64Array;

function attribute(name: string, value: AttributeValue): Record<string, unknown> {
  const A = { FLOAT: 1, INT: 2, STRING: 3, INTS: 7 };
  if (typeof value === 'number') {
    if (!Number.isInteger(value)) throw new TypeError(`attribute ${name} = ${value}: wrap non-integer values in float()`);
    return { name, type: A.INT, i: value };
  }
  if (typeof value === 'string') return { name, type: A.STRING, s: new TextEncoder().encode(value) };
  if (Array.isArray(value)) return { name, type: A.INTS, ints: value };
  return { name, type: A.FLOAT, f: value.float };
}

function valueInfo(name: string, elemType: TensorTypeId, dims: (number | string)[]): Record<string, unknown> {
  return {
    name,
    type: { tensor_type: { elem_type: elemType, shape: { dim: dims.map((d) => (typeof d === 'number' ? { dim_value: d } : { dim_param: d })) } } },
  };
}

function dataType(data: TensorData): TensorTypeId {
  if (data instanceof Float32Array) return TensorType.FLOAT;
  if (data instanceof Uint8Array) return TensorType.UINT8;
  if (data instanceof Int8Array) return TensorType.INT8;
  if (data instanceof Int32Array) return TensorType.INT32;
  return TensorType.INT64;
}

/** Builds one graph: inputs, outputs, initializers and nodes; names are made unique by the builder. */
export class GraphBuilder {
  private readonly nodes: Record<string, unknown>[] = [];
  private readonly initializers: Record<string, unknown>[] = [];
  private readonly inputs: Record<string, unknown>[] = [];
  private readonly outputs: Record<string, unknown>[] = [];
  private readonly names = new Set<string>();
  private readonly constants = new Map<string, string>();
  private counter = 0;
  private usesMicrosoftDomain = false;
  /** Bytes of initializer data, to report sizes. */
  initializerBytes = 0;

  constructor(readonly name: string) {}

  private fresh(hint: string): string {
    let n = hint;
    while (this.names.has(n)) n = `${hint}_${++this.counter}`;
    this.names.add(n);
    return n;
  }

  input(name: string, elemType: TensorTypeId, dims: (number | string)[]): string {
    if (this.names.has(name)) throw new Error(`graph ${this.name}: duplicate name ${name}`);
    this.names.add(name);
    this.inputs.push(valueInfo(name, elemType, dims));
    return name;
  }

  /** Marks `value` as a graph output called `name` (an Identity is inserted when the names differ). */
  output(value: string, name: string, elemType: TensorTypeId, dims: (number | string)[]): void {
    if (value !== name) this.op('Identity', [value], { outputName: name });
    this.outputs.push(valueInfo(name, elemType, dims));
  }

  /** A weight tensor stored in the file (raw little-endian bytes). */
  initializer(name: string, data: TensorData, dims: number[]): string {
    const size = dims.reduce((a, b) => a * b, 1);
    if (size !== data.length) throw new Error(`graph ${this.name}: initializer ${name} has ${data.length} values for dims [${dims}]`);
    const unique = this.fresh(name);
    const raw = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    this.initializers.push({ name: unique, data_type: dataType(data), dims, raw_data: raw });
    this.initializerBytes += raw.byteLength;
    return unique;
  }

  /** An int64 constant (shapes, axes, indices), shared when the same values are asked for twice. */
  int64(values: number[], dims: number[] = [values.length]): string {
    const key = `i64:${dims}:${values}`;
    const known = this.constants.get(key);
    if (known) return known;
    const name = this.initializer('const_i64', BigInt64Array.from(values.map(BigInt)), dims);
    this.constants.set(key, name);
    return name;
  }

  /** A float32 scalar constant (dims []), shared. */
  scalar(value: number): string {
    const key = `f32:${value}`;
    const known = this.constants.get(key);
    if (known) return known;
    const name = this.initializer('const_f32', Float32Array.of(value), []);
    this.constants.set(key, name);
    return name;
  }

  /**
   * Adds a node and returns its first output's name (`outputs` > 1 returns all of them via opMulti).
   * `options.outputName` names the (single) output; `domain` for com.microsoft ops.
   */
  op(opType: string, inputs: string[], attributes: Record<string, AttributeValue> & { outputName?: string; domain?: string } = {}): string {
    return this.opMulti(opType, inputs, 1, attributes)[0];
  }

  opMulti(opType: string, inputs: string[], outputCount: number, attributes: Record<string, AttributeValue> & { outputName?: string; domain?: string } = {}): string[] {
    const { outputName, domain, ...attrs } = attributes;
    const nodeName = this.fresh(`${opType}_node`);
    const outputs = Array.from({ length: outputCount }, (_, i) => (outputName && i === 0 ? (this.names.add(outputName), outputName) : this.fresh(`${opType.toLowerCase()}_${this.counter}`)));
    if (domain === MS_DOMAIN) this.usesMicrosoftDomain = true;
    this.nodes.push({
      name: nodeName,
      op_type: opType,
      domain: domain ?? '',
      input: inputs,
      output: outputs,
      attribute: Object.entries(attrs).map(([k, v]) => attribute(k, v as AttributeValue)),
    });
    return outputs;
  }

  /** The serialized ModelProto (an .onnx file's bytes). */
  toModel(metadata: Record<string, string> = {}, docString = ''): Uint8Array {
    const opsets = [{ domain: '', version: OPSET }];
    if (this.usesMicrosoftDomain) opsets.push({ domain: MS_DOMAIN, version: 1 });
    const model = {
      ir_version: IR_VERSION,
      opset_import: opsets,
      producer_name: 'onerec-web',
      producer_version: '1',
      doc_string: docString,
      graph: { name: this.name, node: this.nodes, initializer: this.initializers, input: this.inputs, output: this.outputs },
      metadata_props: Object.entries(metadata).map(([key, value]) => ({ key, value })),
    };
    return ModelProto.encode(ModelProto.fromObject(model)).finish();
  }
}

/** Decodes an .onnx file's header fields (for validation and tests): IR version, opsets, graph io names. */
export function readModelSummary(bytes: Uint8Array): { irVersion: number; opsets: Record<string, number>; inputs: string[]; outputs: string[]; nodes: string[] } {
  const m = ModelProto.toObject(ModelProto.decode(bytes), { longs: Number, defaults: true }) as {
    ir_version: number;
    opset_import: { domain: string; version: number }[];
    graph: { input: { name: string }[]; output: { name: string }[]; node: { op_type: string }[] };
  };
  return {
    irVersion: m.ir_version,
    opsets: Object.fromEntries(m.opset_import.map((o) => [o.domain, o.version])),
    inputs: m.graph.input.map((i) => i.name),
    outputs: m.graph.output.map((o) => o.name),
    nodes: m.graph.node.map((n) => n.op_type),
  };
}
