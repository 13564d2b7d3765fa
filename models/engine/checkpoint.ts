// Checkpoint files (docs/architecture.md, "Checkpoints"). Reading needs no GPU.
//
// Layout, little-endian:
//   bytes 0..7    ASCII "ORECKPT1" (format and version)
//   bytes 8..11   u32 H: byte length of the JSON header
//   bytes 12..    H bytes of UTF-8 JSON (padded with spaces so the data starts 4-byte aligned)
//   then          float32 tensor data, tensors back to back in the order of meta.tensors
// The JSON header is `meta`: { kind, config, step, rng, tensors: [{ name, shape, offset, length }], … }
// where offset/length count float32 elements from the start of the data. Optimizer moments are stored as
// `adam.m.<name>` / `adam.v.<name>`, the optimizer step as meta.optimizerStep.
import { closeSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import type { Engine, Tensor } from './engine.ts';
import { CheckpointError } from './errors.ts';
import type { AdamW } from './optim.ts';

const MAGIC = 'ORECKPT1';

export interface TensorEntry { name: string; shape: number[]; offset: number; length: number }
export interface CheckpointMeta {
  kind: string;
  config: unknown;
  step: number;
  /** RNG state(s) to continue the same random streams on resume. */
  rng: Record<string, number>;
  optimizerStep?: number;
  tensors: TensorEntry[];
  [extra: string]: unknown;
}
export interface Checkpoint { meta: CheckpointMeta; tensors: Record<string, { shape: number[]; data: Float32Array }> }

/** Write atomically (temp file + rename), so a run killed mid-write leaves the previous checkpoint intact. */
export function writeCheckpoint(path: string, meta: Omit<CheckpointMeta, 'tensors'>, tensors: Record<string, { shape: number[]; data: Float32Array }>): void {
  const table: TensorEntry[] = [];
  let offset = 0;
  for (const [name, t] of Object.entries(tensors)) {
    const n = t.shape.reduce((a, b) => a * b, 1);
    if (n !== t.data.length) throw new CheckpointError(`writeCheckpoint ${path}: tensor ${name} has ${t.data.length} values for shape [${t.shape.join(', ')}]`);
    table.push({ name, shape: t.shape, offset, length: n });
    offset += n;
  }
  let json = JSON.stringify({ ...meta, tensors: table });
  const raw = Buffer.byteLength(json);
  json += ' '.repeat((4 - ((12 + raw) % 4)) % 4);
  const head = Buffer.alloc(12);
  head.write(MAGIC, 0, 'ascii');
  head.writeUInt32LE(Buffer.byteLength(json), 8);
  const tmp = `${path}.tmp-${process.pid}`;
  const fd = openSync(tmp, 'w');
  try {
    writeSync(fd, head);
    writeSync(fd, Buffer.from(json));
    for (const t of Object.values(tensors)) writeSync(fd, new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength));
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
}

export function readCheckpoint(path: string): Checkpoint {
  let bytes: Buffer;
  try { bytes = readFileSync(path); } catch (e) { throw new CheckpointError(`cannot read checkpoint ${path}: ${(e as Error).message}`); }
  if (bytes.length < 12 || bytes.toString('ascii', 0, 8) !== MAGIC) {
    throw new CheckpointError(`${path} is not an onerec checkpoint (expected magic ${MAGIC}); pass a file written by writeCheckpoint/saveCheckpoint`);
  }
  const h = bytes.readUInt32LE(8);
  if (12 + h > bytes.length) throw new CheckpointError(`${path}: header of ${h} bytes runs past the end of the file (${bytes.length} bytes): truncated`);
  let meta: CheckpointMeta;
  try { meta = JSON.parse(bytes.toString('utf8', 12, 12 + h)); } catch (e) { throw new CheckpointError(`${path}: bad JSON header: ${(e as Error).message}`); }
  const start = 12 + h;
  const floats = new Float32Array(bytes.buffer.slice(bytes.byteOffset + start, bytes.byteOffset + bytes.length));
  const tensors: Checkpoint['tensors'] = {};
  for (const t of meta.tensors) {
    if (t.offset + t.length > floats.length) throw new CheckpointError(`${path}: tensor ${t.name} ends past the data (${floats.length} floats): truncated`);
    tensors[t.name] = { shape: t.shape, data: floats.subarray(t.offset, t.offset + t.length) };
  }
  return { meta, tensors };
}

/** AdamW's moments of parameter `name` are stored as `adam.m.<name>` and `adam.v.<name>`. */
const MOMENT_PREFIX = 'adam.';

/** A checkpoint's model parameters by name, its optimizer moments left out. */
export function checkpointWeights(checkpoint: Checkpoint): Record<string, Float32Array> {
  const weights: Record<string, Float32Array> = {};
  for (const [name, t] of Object.entries(checkpoint.tensors)) if (!name.startsWith(MOMENT_PREFIX)) weights[name] = t.data;
  return weights;
}

/** Read parameters (and AdamW moments) from the GPU and write a checkpoint. */
export async function saveCheckpoint(path: string, engine: Engine, params: Tensor[], meta: Omit<CheckpointMeta, 'tensors' | 'optimizerStep'>, optimizer?: AdamW): Promise<void> {
  const tensors: Checkpoint['tensors'] = {};
  const values = await engine.readMany([...params, ...(optimizer ? [...optimizer.m, ...optimizer.v] : [])]);
  params.forEach((p, i) => { tensors[p.name] = { shape: p.shape, data: values[i] }; });
  if (optimizer) {
    const n = optimizer.params.length;
    optimizer.params.forEach((p, i) => {
      tensors[`${MOMENT_PREFIX}m.${p.name}`] = { shape: p.shape, data: values[params.length + i] };
      tensors[`${MOMENT_PREFIX}v.${p.name}`] = { shape: p.shape, data: values[params.length + n + i] };
    });
  }
  writeCheckpoint(path, { ...meta, ...(optimizer ? { optimizerStep: optimizer.step } : {}) }, tensors);
}

/** Load a checkpoint into parameters (by name) and optionally the optimizer; returns its meta. */
export function loadCheckpoint(path: string, engine: Engine, params: Tensor[], optimizer?: AdamW): CheckpointMeta {
  const { meta, tensors } = readCheckpoint(path);
  const put = (name: string, t: Tensor) => {
    const src = tensors[name];
    if (!src) throw new CheckpointError(`${path}: no tensor '${name}' (has ${Object.keys(tensors).slice(0, 8).join(', ')}…); is it a checkpoint of this model?`);
    if (src.shape.join(',') !== t.shape.join(',')) throw new CheckpointError(`${path}: '${name}' is [${src.shape.join(', ')}], the model wants [${t.shape.join(', ')}]; check the config`);
    engine.write(t, src.data);
  };
  for (const p of params) put(p.name, p);
  if (optimizer) {
    optimizer.params.forEach((p, i) => { put(`${MOMENT_PREFIX}m.${p.name}`, optimizer.m[i]); put(`${MOMENT_PREFIX}v.${p.name}`, optimizer.v[i]); });
    optimizer.step = meta.optimizerStep ?? 0;
  }
  return meta;
}
