// The WebGPU training engine's public API (see docs/architecture.md, "Engine API").
//
//   const engine = await createEngine();                 // logs the adapter in use
//   const rng = new Rng(7);
//   const w = engine.param('w', [64, 10], { normal: 0.02 }, rng);
//   const opt = new AdamW(engine, [w], { lr: 1e-3, warmupSteps: 100, totalSteps: 10_000, clipNorm: 1 });
//   for (let step = 0; step < steps; step++) {
//     const x = engine.upload(batchX, [B, 64]);          // Float32Array → f32, Int32Array → i32 (ids, targets)
//     const loss = crossEntropy(matmul(x, w), engine.upload(batchY, [B]));
//     backward(loss);
//     opt.update();
//     const shown = step % 50 === 0 ? engine.read(loss) : null;   // the only readback
//     engine.endStep();                                   // submit; step tensors go back to the pool
//     if (shown) console.log((await shown)[0]);
//   }
import { Engine, type EngineOptions, type Tensor } from './engine.ts';
import { accumulateAdd } from './ops.ts';

export { Engine, Tensor, numel, type Init, type DType, type EngineOptions } from './engine.ts';
export { EngineError, GpuRequiredError, ShapeError, CheckpointError } from './errors.ts';
export { Rng } from '../random.ts';
export {
  add, sub, mul, axpby, scale, gelu, silu, sigmoid, relu, exp, log, square, swiglu,
  sum, mean, view, reshape, slice, concat, matmul, linear, embedding, layerNorm, rmsNorm, softmax,
  crossEntropy, softCrossEntropy, logProbGather, bceWithLogits, dropout, sumTo, addInto,
} from './ops.ts';
export { argminRows } from './argmin.ts';
export { attention, attentionVariant, setAttentionVariant, type AttentionOptions, type AttentionVariant } from './attention.ts';
export { moe, type MoeWeights, type MoeResult } from './moe.ts';
export { AdamW, learningRate, type AdamWOptions, type Schedule } from './optim.ts';
export { readCheckpoint, writeCheckpoint, saveCheckpoint, loadCheckpoint, checkpointWeights, type Checkpoint, type CheckpointMeta } from './checkpoint.ts';

/** Open the GPU (Dawn) and return an engine; logs the adapter unless quiet. */
export function createEngine(options: EngineOptions = {}): Promise<Engine> {
  return Engine.create(options);
}

/** Reverse-mode autodiff from a scalar loss (or with an explicit output gradient). */
export function backward(loss: Tensor, grad?: Tensor): void {
  loss.engine.backward(loss, grad, accumulateAdd);
}

/** Copy a tensor to the host. */
export function read(t: Tensor): Promise<Float32Array> {
  return t.engine.read(t);
}
