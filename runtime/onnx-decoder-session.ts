// The bundle's seed graphs (encoder.onnx, decoder_step.onnx) on ONNX Runtime: their sessions on one execution provider,
// one request's encoder run, and decoder_step.onnx as the beam search's DecoderSession. It never imports an ONNX Runtime
// package: the `ort` module is a parameter, so Node (onnxruntime-web's Node build, models/onnx-runtime.ts, or
// onnxruntime-node where a caller passes it) and the browser (onnxruntime-web, runtime/onnx.ts) run this same code.
import type { InferenceSession, Tensor } from 'onnxruntime-common';
import { codeLogProbs, type DecoderSession } from './beam-search.ts';
import type { BundleModels, ModelShape } from './loader.ts';

/** The parts of an ONNX Runtime JS package (onnxruntime-web or onnxruntime-node) that the runtime uses. */
export interface OrtModule {
  InferenceSession: { create(model: Uint8Array, options?: InferenceSession.SessionOptions): Promise<InferenceSession> };
  Tensor: typeof Tensor;
}

export const toInt64 = (values: ArrayLike<number>): BigInt64Array => {
  const out = new BigInt64Array(values.length);
  for (let i = 0; i < values.length; i++) out[i] = BigInt(values[i]);
  return out;
};

export async function tensorFloats(t: Tensor): Promise<Float32Array> {
  // CPU tensors expose .data; a GPU-resident output must be downloaded first.
  const data = t.location === 'cpu' ? t.data : await t.getData(true);
  return data as Float32Array;
}

/** Session options for a graph on `ep`: on WebGPU the outputs named in `outputsOnGpu` stay there (the caches between steps). */
export function ortSessionOptions(ep: string, base: InferenceSession.SessionOptions, outputsOnGpu: string[]): InferenceSession.SessionOptions {
  return {
    graphOptimizationLevel: 'all',
    logSeverityLevel: 3, // errors only: ORT's node-placement warnings are expected on WebGPU (shape ops run on CPU)
    ...base,
    executionProviders: [ep],
    // On WebGPU the caches stay on the GPU between decoder steps instead of a round trip per step.
    ...(ep === 'webgpu' && outputsOnGpu.length > 0
      ? { preferredOutputLocation: Object.fromEntries(outputsOnGpu.map((name) => [name, 'gpu-buffer' as const])) }
      : {}),
  };
}

/** encoder.onnx and decoder_step.onnx as ORT sessions. */
export interface SeedGraphs {
  encoder: InferenceSession;
  decoder: InferenceSession;
}

/** The seed graphs' sessions on `ep` (the encoder's released again if the decoder's fails). */
export async function createSeedGraphs(ort: OrtModule, models: BundleModels, ep: string, sessionOptions: InferenceSession.SessionOptions): Promise<SeedGraphs> {
  const encoder = await ort.InferenceSession.create(models.encoder, ortSessionOptions(ep, sessionOptions, ['cross_k', 'cross_v', 'memory_bias']));
  try {
    return { encoder, decoder: await ort.InferenceSession.create(models.decoderStep, ortSessionOptions(ep, sessionOptions, ['present_k', 'present_v'])) };
  } catch (err) {
    await encoder.release().catch(() => undefined);
    throw err;
  }
}

/**
 * One request on the seed graphs: encoder.onnx over `historyTokens` [maxHistory · levels] once, then decoder_step.onnx as
 * the DecoderSession; `release` frees the encoder's outputs.
 */
export async function onnxRequest(ort: OrtModule, graphs: SeedGraphs, historyTokens: Int32Array, shape: ModelShape): Promise<{ decoder: DecoderSession; release: () => void }> {
  const out = await graphs.encoder.run({ history_tokens: new ort.Tensor('int64', toInt64(historyTokens), [1, historyTokens.length]) });
  const cross = { cross_k: out.cross_k, cross_v: out.cross_v, memory_bias: out.memory_bias };
  return { decoder: new OnnxDecoderSession(ort, graphs.decoder, cross, shape), release: () => { for (const t of Object.values(cross)) t.dispose(); } };
}

/**
 * decoder_step.onnx as the beam search's DecoderSession; the KV cache stays in ORT tensors between steps.
 * The runtime's and Node's (runtime-node/node-session.ts) decoder: one implementation of the graph contract.
 */
export class OnnxDecoderSession implements DecoderSession {
  private position = 0; // decoder sequence position of the next token fed
  private pastK: Tensor; // [decoderLayers, Bprev, heads, P, dh]
  private pastV: Tensor;
  /** The graph's `code_scores [rows, K + 2]` as the beam search's code log-probabilities [rows, K]. */
  readonly stepCodeLogProbs: (tokens: Int32Array, parents: Int32Array) => Promise<Float64Array>;
  /** Two tokens per row in one call (contract 3's `token [B, T]`): an item's last code and the next BOS. */
  readonly twoTokenSteps: boolean;

  /**
   * `options.twoTokenSteps` (default true) lets the beam search send an item's last code and the next BOS in one call;
   * false keeps one token per call.
   */
  constructor(
    private readonly ort: OrtModule,
    private readonly session: InferenceSession,
    private readonly cross: Record<'cross_k' | 'cross_v' | 'memory_bias', Tensor>,
    shape: Pick<ModelShape, 'decoderLayers' | 'heads' | 'headDim' | 'codebookSize'>,
    options: { twoTokenSteps?: boolean } = {},
  ) {
    const empty = [shape.decoderLayers, 1, shape.heads, 0, shape.headDim]; // P = 0 before the first step
    this.pastK = new ort.Tensor('float32', new Float32Array(0), empty);
    this.pastV = new ort.Tensor('float32', new Float32Array(0), empty);
    this.twoTokenSteps = options.twoTokenSteps ?? true;
    const K = shape.codebookSize;
    this.stepCodeLogProbs = async (tokens, parents) => codeLogProbs((await this.run(tokens, parents, ['code_scores']))[0], K);
  }

  async step(tokens: Int32Array /* [rows] */, parents: Int32Array /* [rows] */): Promise<Float32Array> /* [rows, vocab] */ {
    return (await this.run(tokens, parents, ['logits']))[0];
  }

  /** One decoder call; only `outputs` and the cache are fetched. */
  private async run(tokens: Int32Array /* [rows, T] */, parents: Int32Array /* [rows] */, outputs: string[]): Promise<Float32Array[]> {
    const rows = parents.length;
    const perRow = tokens.length / rows; // T
    const { Tensor } = this.ort;
    const feeds = {
      token: new Tensor('int64', toInt64(tokens), [rows, perRow]),
      position: new Tensor('int64', toInt64([this.position]), [1]),
      beam_parent: new Tensor('int64', toInt64(parents), [rows]),
      past_k: this.pastK,
      past_v: this.pastV,
      ...this.cross,
    };
    const out = await this.session.run(feeds, [...outputs, 'present_k', 'present_v']);
    this.pastK.dispose();
    this.pastV.dispose();
    this.pastK = out.present_k;
    this.pastV = out.present_v;
    this.position += perRow;
    return Promise.all(outputs.map((name) => tensorFloats(out[name])));
  }

  dispose(): void {
    this.pastK.dispose();
    this.pastV.dispose();
  }
}
