// Reading an .onnx file's weights and input shapes without ONNX Runtime: a protobuf reader just large enough for
// ModelProto → GraphProto → TensorProto (initializers) and ValueInfoProto (inputs). The runtime's own engines
// (runtime/model-weights.ts, runtime/wasm-reward.ts) take their weights from the bundle's graphs this way, so a bundle
// ships each weight once.

/** A protobuf message's fields, read in order. Throws RangeError on bytes that do not parse. */
export class ProtoReader {
  at: number;

  /** `what` names the bytes in errors ('message', or 'file' for a whole .onnx file). */
  constructor(readonly bytes: Uint8Array, start = 0, readonly end = bytes.length, readonly what = 'message') {
    this.at = start;
  }

  get done(): boolean {
    return this.at >= this.end;
  }

  varint(): number {
    let value = 0;
    let scale = 1;
    for (let i = 0; i < 10; i++) {
      if (this.at >= this.end) throw new RangeError(`varint runs past the end at byte ${this.at} (truncated?)`);
      const b = this.bytes[this.at++];
      value += (b & 0x7f) * scale;
      if (b < 0x80) return value;
      scale *= 128;
    }
    throw new RangeError(`varint longer than 10 bytes at byte ${this.at} (truncated?)`);
  }

  /** The next field's number and wire type, its value skipped or returned: a varint, or [start, end) of a length-delimited field. */
  field(): { field: number; wire: number; start: number; value: number; from: number; to: number } {
    const start = this.at;
    const key = this.varint();
    const field = Math.floor(key / 8);
    const wire = key & 7;
    let value = 0;
    let from = this.at;
    if (field === 0) throw new RangeError(`field number 0 at byte ${start}`);
    if (wire === 0) value = this.varint();
    else if (wire === 1) this.at += 8;
    else if (wire === 5) this.at += 4;
    else if (wire === 2) {
      const length = this.varint(); // read before adding: `at += varint()` would add to the pre-varint offset
      from = this.at;
      this.at += length;
    } else throw new RangeError(`unsupported protobuf wire type ${wire} at byte ${start}`);
    if (this.at > this.end) throw new RangeError(`field ${field} at byte ${start} ends at byte ${this.at}, past the end of the ${this.end}-byte ${this.what} (truncated?)`);
    return { field, wire, start, value, from, to: this.at };
  }
}

/** One initializer: its dims and values (float32, uint8, int32 or int64 as numbers). */
export interface Initializer {
  dims: number[];
  data: Float32Array | Uint8Array | Int32Array | Float64Array;
}

const FLOAT = 1;
const UINT8 = 2;
const INT32 = 6;
const INT64 = 7;

/** The graph's initializers by name (float32, uint8, int32, int64; others are skipped). Throws RangeError on malformed bytes. */
export function readInitializers(bytes: Uint8Array): Map<string, Initializer> {
  const out = new Map<string, Initializer>();
  forEachGraphField(bytes, 5, (from, to) => { // GraphProto.initializer
    const t = readTensor(bytes, from, to);
    if (t) out.set(t.name, { dims: t.dims, data: t.data });
  });
  return out;
}

/** Calls `visit` with [from, to) of every length-delimited field `field` of the model's GraphProto. */
function forEachGraphField(bytes: Uint8Array, field: number, visit: (from: number, to: number) => void): void {
  const model = new ProtoReader(bytes);
  while (!model.done) {
    const m = model.field();
    if (m.field !== 7 || m.wire !== 2) continue; // ModelProto.graph
    for (const graph = new ProtoReader(bytes, m.from, m.to); !graph.done;) {
      const g = graph.field();
      if (g.field === field && g.wire === 2) visit(g.from, g.to);
    }
  }
}

function readTensor(bytes: Uint8Array, from: number, to: number): (Initializer & { name: string }) | null {
  const r = new ProtoReader(bytes, from, to);
  const dims: number[] = [];
  let type = 0;
  let name = '';
  let raw: Uint8Array | null = null;
  const floats: number[] = [];
  while (!r.done) {
    const f = r.field();
    if (f.field === 1) { // dims: int64, packed or not
      if (f.wire === 0) dims.push(f.value);
      else for (const sub = new ProtoReader(bytes, f.from, f.to); !sub.done;) dims.push(sub.varint());
    } else if (f.field === 2) type = f.value;
    else if (f.field === 8) name = new TextDecoder().decode(bytes.subarray(f.from, f.to));
    else if (f.field === 9) raw = bytes.subarray(f.from, f.to);
    else if (f.field === 4) { // float_data
      const view = new DataView(bytes.buffer, bytes.byteOffset);
      if (f.wire === 5) floats.push(view.getFloat32(f.to - 4, true));
      else for (let at = f.from; at < f.to; at += 4) floats.push(view.getFloat32(at, true));
    }
  }
  const size = dims.reduce((a, b) => a * b, 1);
  const copy = raw ? new Uint8Array(raw) : null; // a copy: aligned, independent of the file's buffer (Node's Buffer.slice would be a view)
  let data: Initializer['data'];
  if (type === FLOAT) data = copy ? new Float32Array(copy.buffer, 0, size) : Float32Array.from(floats);
  else if (type === UINT8 && copy) data = copy;
  else if (type === INT32 && copy) data = new Int32Array(copy.buffer, 0, size);
  else if (type === INT64 && copy) data = Float64Array.from(new BigInt64Array(copy.buffer, 0, size), Number);
  else return null;
  if (data.length !== size) throw new RangeError(`initializer ${name} has ${data.length} values for dims [${dims}]`);
  return { name, dims, data };
}

/** The graph's inputs by name: each dimension a number, or its symbolic name (e.g. 'N'). Throws RangeError on malformed bytes. */
export function readGraphInputs(bytes: Uint8Array): Map<string, (number | string)[]> {
  return readGraphValues(bytes, 11);
}

/** The graph's outputs by name, as readGraphInputs reads its inputs. */
export function readGraphOutputs(bytes: Uint8Array): Map<string, (number | string)[]> {
  return readGraphValues(bytes, 12);
}

/** GraphProto.input (11) or .output (12): ValueInfoProto name → tensor dims. */
function readGraphValues(bytes: Uint8Array, field: 11 | 12): Map<string, (number | string)[]> {
  const out = new Map<string, (number | string)[]>();
  const text = (r: { from: number; to: number }): string => new TextDecoder().decode(bytes.subarray(r.from, r.to));
  forEachGraphField(bytes, field, (from, to) => { // ValueInfoProto
    let name = '';
    const dims: (number | string)[] = [];
    for (const info = new ProtoReader(bytes, from, to); !info.done;) {
      const f = info.field();
      if (f.field === 1 && f.wire === 2) name = text(f);
      if (f.field !== 2 || f.wire !== 2) continue; // ValueInfoProto.type: TypeProto
      for (const type = new ProtoReader(bytes, f.from, f.to); !type.done;) {
        const t = type.field();
        if (t.field !== 1 || t.wire !== 2) continue; // TypeProto.tensor_type
        for (const tensor = new ProtoReader(bytes, t.from, t.to); !tensor.done;) {
          const sh = tensor.field();
          if (sh.field !== 2 || sh.wire !== 2) continue; // TypeProto.Tensor.shape: TensorShapeProto
          for (const shape = new ProtoReader(bytes, sh.from, sh.to); !shape.done;) {
            const d = shape.field();
            if (d.field !== 1 || d.wire !== 2) continue; // TensorShapeProto.dim
            for (const dim = new ProtoReader(bytes, d.from, d.to); !dim.done;) {
              const v = dim.field();
              if (v.field === 1 && v.wire === 0) dims.push(v.value); // dim_value
              else if (v.field === 2 && v.wire === 2) dims.push(text(v)); // dim_param
            }
          }
        }
      }
    }
    out.set(name, dims);
  });
  return out;
}
