// reward.onnx, the reward model that reranks the candidate sessions: run in WGSL on the WGSL seed model's device
// (runtime/webgpu-reward.ts), by the runtime's wasm kernels (runtime/wasm-reward.ts) or by an ONNX Runtime session,
// behind one interface; and the rerank's inputs and scores.
import type { InferenceSession } from 'onnxruntime-common';
import { BundleFormatError } from './errors.ts';
import { WasmReward, WasmRewardError } from './wasm-reward.ts';
import { WebGpuReward, WebGpuRewardError } from './webgpu-reward.ts';
import { ortSessionOptions, tensorFloats, toInt64, type OrtModule } from './onnx-decoder-session.ts';
import type { BundleModels } from './loader.ts';
import type { SemanticIdTrie } from './semantic-id-trie.ts';

/** Rewards (weighted sums of tower probabilities) closer than this rank as equal; float32 backends agree to ~1e-6. */
export const REWARD_TIE = 1e-5;

/** reward.onnx, run by onnxruntime, the runtime's wasm kernels or its WGSL. */
export interface RewardRunner {
  readonly backend: 'onnx' | 'wasm-simd' | 'wgsl';
  H: number; // history_items [1, H]
  M: number; // session_items [N, M]
  /** Tower probabilities [n, towers] for history [H] and sessions [n, M] (item indices, −1 = padding). */
  towers(history: Int32Array, sessions: Int32Array, n: number): Promise<Float32Array>;
  release(): Promise<void>;
}

/**
 * reward.onnx on an ORT session; its history and session lengths from the session's input metadata. A graph of
 * itemRepresentation 'codes' takes the items' codes (history_codes [1, H, L], session_codes [N, M, L], −1 = padding),
 * looked up here in the bundle's trie.
 */
function ortReward(ort: OrtModule, session: InferenceSession, catalog: SemanticIdTrie): RewardRunner {
  const dims = (name: string): readonly (number | string)[] => {
    const meta = session.inputMetadata.find((m) => m.name === name);
    if (!meta || !meta.isTensor) throw new BundleFormatError('reward.onnx', `has no tensor input "${name}"; re-export the bundle (onerec export)`);
    return meta.shape;
  };
  const codeInputs = session.inputNames.includes('history_codes');
  const [, H] = dims(codeInputs ? 'history_codes' : 'history_items');
  const [, M] = dims(codeInputs ? 'session_codes' : 'session_items');
  if (typeof H !== 'number' || typeof M !== 'number') throw new BundleFormatError('reward.onnx', `history_items [1, ${H}] and session_items [N, ${M}] must have static lengths; re-export the bundle`);
  const L = catalog.levels;
  /** items [A·n] (−1 = padding) → their codes [A·n·L], −1 on every level of a padding slot */
  const codesOf = (items: Int32Array): BigInt64Array => {
    const out = new BigInt64Array(items.length * L).fill(-1n);
    items.forEach((item, s) => { if (item >= 0) catalog.itemCodes(item).forEach((code, l) => { out[s * L + l] = BigInt(code); }); });
    return out;
  };
  return {
    backend: 'onnx',
    H,
    M,
    towers: async (history, sessions, n) => {
      const out = await session.run(codeInputs ? {
        history_codes: new ort.Tensor('int64', codesOf(history), [1, H, L]),
        session_codes: new ort.Tensor('int64', codesOf(sessions), [n, M, L]),
      } : {
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
    const model = await WasmReward.create(models.reward!, models.towers, models.trie);
    return { backend: 'wasm-simd', H: model.historyLength, M: model.sessionLength, towers: async (history, sessions, n) => model.towers(history, sessions, n), release: async () => undefined };
  } catch (err) {
    if (!(err instanceof WasmRewardError)) throw err;
    reasons.push(`[wasm-simd] ${err.message}`);
    return null;
  }
}

/**
 * reward.onnx in WGSL on `device`, or null (the reason added to `reasons` as `[wgsl] …`) when it cannot run there. Once
 * the device is lost the next call makes `fallback()` and runs there from then on (saying so in `reasons`).
 */
async function gpuReward(models: BundleModels, device: GPUDevice, fallback: () => Promise<RewardRunner>, reasons: string[]): Promise<RewardRunner | null> {
  let model: WebGpuReward;
  try {
    model = await WebGpuReward.create(device, models.reward!, models.towers, { catalog: models.trie });
  } catch (err) {
    if (!(err instanceof WebGpuRewardError)) throw err;
    reasons.push(`[wgsl] ${err.message}`);
    return null;
  }
  let lost = false;
  void device.lost.then(() => { lost = true; });
  let replacement: Promise<RewardRunner> | null = null;
  let current: RewardRunner | null = null; // the fallback, once made
  const takeOver = (): Promise<RewardRunner> => {
    replacement ??= fallback().then((runner) => {
      current = runner;
      reasons.push(`[wgsl] the WebGPU device was lost; the reward model runs on ${runner.backend} now`);
      return runner;
    }, (err) => { replacement = null; throw err; });
    return replacement;
  };
  return {
    get backend() {
      return current?.backend ?? 'wgsl';
    },
    H: model.historyLength,
    M: model.sessionLength,
    towers: async (history, sessions, n) => (lost ? (await takeOver()).towers(history, sessions, n) : model.towers(history, sessions, n)),
    release: async () => {
      model.dispose();
      // A fallback still being made when the bundle is released is released once it exists.
      const runner = current ?? (replacement ? await replacement.catch(() => null) : null);
      await runner?.release();
    },
  };
}

/** Where reward.onnx may run before onnxruntime: in WGSL on `device`, then on the wasm kernels where `kernels`. */
export interface RewardEngines {
  device?: GPUDevice; // the WGSL seed model's device: the reward model runs there first
  kernels: boolean; // the runtime's own engines run the seed model, so onnxruntime-web's wasm need not be fetched
}

/**
 * The bundle's reward runner, or null without a reward model: in WGSL on `engines.device` where given and it can run
 * the graph, else on the wasm kernels when `engines.kernels` and they can read it, else an ORT session on `ep`. Why
 * an engine could not is added to `reasons`.
 */
export async function createRewardRunner(ort: OrtModule, models: BundleModels, ep: string, sessionOptions: InferenceSession.SessionOptions, engines: RewardEngines, reasons: string[]): Promise<RewardRunner | null> {
  if (!models.reward) return null;
  const onCpu = async (): Promise<RewardRunner> => {
    const kernels = engines.kernels ? await kernelReward(models, reasons) : null;
    return kernels ?? ortReward(ort, await ort.InferenceSession.create(models.reward!, ortSessionOptions(ep, sessionOptions, [])), models.trie);
  };
  const gpu = engines.device ? await gpuReward(models, engines.device, onCpu, reasons) : null;
  return gpu ?? onCpu();
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
