// reward.onnx, the reward model that reranks the candidate sessions: run by the runtime's wasm kernels
// (runtime/wasm-reward.ts) or by an ONNX Runtime session, behind one interface; and the rerank's inputs and scores.
import type { InferenceSession } from 'onnxruntime-common';
import { BundleFormatError } from './errors.ts';
import { WasmReward, WasmRewardError } from './wasm-reward.ts';
import { ortSessionOptions, tensorFloats, toInt64, type OrtModule } from './onnx-decoder-session.ts';
import type { BundleModels } from './loader.ts';

/** Rewards (weighted sums of tower probabilities) closer than this rank as equal; float32 backends agree to ~1e-6. */
export const REWARD_TIE = 1e-5;

/** reward.onnx, run by onnxruntime or the runtime's wasm kernels. */
export interface RewardRunner {
  backend: 'onnx' | 'wasm-simd';
  H: number; // history_items [1, H]
  M: number; // session_items [N, M]
  /** Tower probabilities [n, towers] for history [H] and sessions [n, M] (item indices, −1 = padding). */
  towers(history: Int32Array, sessions: Int32Array, n: number): Promise<Float32Array>;
  release(): Promise<void>;
}

/** reward.onnx on an ORT session; its history and session lengths from the session's input metadata. */
function ortReward(ort: OrtModule, session: InferenceSession): RewardRunner {
  const dims = (name: string): readonly (number | string)[] => {
    const meta = session.inputMetadata.find((m) => m.name === name);
    if (!meta || !meta.isTensor) throw new BundleFormatError('reward.onnx', `has no tensor input "${name}"; re-export the bundle (onerec export)`);
    return meta.shape;
  };
  const [, H] = dims('history_items');
  const [, M] = dims('session_items');
  if (typeof H !== 'number' || typeof M !== 'number') throw new BundleFormatError('reward.onnx', `history_items [1, ${H}] and session_items [N, ${M}] must have static lengths; re-export the bundle`);
  return {
    backend: 'onnx',
    H,
    M,
    towers: async (history, sessions, n) => {
      const out = await session.run({
        history_items: new ort.Tensor('int64', toInt64(history), [1, H]),
        session_items: new ort.Tensor('int64', toInt64(sessions), [n, M]),
      });
      return (await tensorFloats(out.towers)).slice();
    },
    release: () => session.release(),
  };
}

/** reward.onnx on the wasm kernels, or null (the reason added to `reasons` as `[wasm-simd] …`) when they cannot run it. */
async function kernelReward(models: BundleModels, reasons: string[]): Promise<RewardRunner | null> {
  try {
    const model = await WasmReward.create(models.reward!, models.towers);
    return { backend: 'wasm-simd', H: model.historyLength, M: model.sessionLength, towers: async (history, sessions, n) => model.towers(history, sessions, n), release: async () => undefined };
  } catch (err) {
    if (!(err instanceof WasmRewardError)) throw err;
    reasons.push(`[wasm-simd] ${err.message}`);
    return null;
  }
}

/**
 * The bundle's reward runner, or null without a reward model: on the wasm kernels when `onKernels` (the runtime's own
 * engines run the seed model, so onnxruntime-web's wasm need not be fetched) and they can read the graph, else an ORT
 * session on `ep`. Why the kernels could not is added to `reasons`.
 */
export async function createRewardRunner(ort: OrtModule, models: BundleModels, ep: string, sessionOptions: InferenceSession.SessionOptions, onKernels: boolean, reasons: string[]): Promise<RewardRunner | null> {
  if (!models.reward) return null;
  const kernels = onKernels ? await kernelReward(models, reasons) : null;
  return kernels ?? ortReward(ort, await ort.InferenceSession.create(models.reward, ortSessionOptions(ep, sessionOptions, [])));
}

/**
 * reward.onnx on `sessions` ([n, m] item indices): tower probabilities [n, towers] and weighted sums [n].
 * The graph's history length H and session length M are its static input shapes: the history is
 * right-aligned into H slots and sessions padded to M with −1 (longer sessions: the first M items).
 */
export async function rewardTowers(runner: RewardRunner, weights: number[], history: Int32Array, sessions: Int32Array, n: number, m: number): Promise<{ towers: Float32Array; reward: Float32Array }> {
  const { H, M } = runner;
  const recent = history.subarray(Math.max(0, history.length - H));
  const historyItems = new Int32Array(H).fill(-1); // [H] right-aligned, −1 = padding
  historyItems.set(recent, H - recent.length);
  const padded = new Int32Array(n * M).fill(-1); // [n, M]
  for (let s = 0; s < n; s++) padded.set(sessions.subarray(s * m, s * m + Math.min(m, M)), s * M);
  const towers = await runner.towers(historyItems, padded, n); // [n, T]
  const T = weights.length;
  const reward = new Float32Array(n); // [n]
  for (let s = 0; s < n; s++) for (let t = 0; t < T; t++) reward[s] += weights[t] * towers[s * T + t];
  return { towers, reward };
}
