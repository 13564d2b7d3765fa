// The exported seed graphs on ONNX Runtime in Node: a `DecoderSession` for runtime/beam-search.ts, used by the parity
// tests and `onerec eval --bundle`'s greedy check (the full logits). By default onnxruntime-web's wasm backend
// (models/onnx-runtime.ts); `onnxRuntime` runs them on another ONNX Runtime module (onnxruntime-node's CPU EP, the tests'
// native reference). The decoder step is the runtime's own (runtime/onnx-decoder-session.ts OnnxDecoderSession, which
// the browser runs over onnxruntime-web); the graph contract is in docs/architecture.md.
import type { InferenceSession, Tensor } from 'onnxruntime-common';
import type { DecoderSession } from '../runtime/beam-search.ts';
import { OnnxDecoderSession, type OrtModule } from '../runtime/onnx-decoder-session.ts';
import type { SeedConfig } from '../models/seed/config.ts';
import { wasmOrt } from '../models/onnx-runtime.ts';

export interface EncoderResult {
  crossK: Tensor; // [decoderLayers, 1, heads, S, dh]
  crossV: Tensor;
  memoryBias: Tensor; // [1, S]
}

export interface DecoderSessionOptions {
  /**
   * Offer two-token steps (an item's last code with the next BOS in one call), as the runtime does, when the
   * graph takes them. Off by default: the scores then equal, to the last float32 bit, those of a session that
   * feeds one token per call.
   */
  twoTokenSteps?: boolean;
}

export interface OnnxSeedModelOptions extends InferenceSession.SessionOptions {
  /** The ONNX Runtime module to run on, e.g. `await import('onnxruntime-node')` (its 'cpu' EP unless `executionProviders` says otherwise); default onnxruntime-web's wasm backend, 1 thread. */
  onnxRuntime?: OrtModule;
}

export class OnnxSeedModel {
  private constructor(
    readonly config: SeedConfig,
    private readonly ort: OrtModule,
    private readonly encoder: InferenceSession,
    private readonly decoder: InferenceSession,
  ) {}

  static async create(config: SeedConfig, encoderOnnx: Uint8Array, decoderStepOnnx: Uint8Array, options: OnnxSeedModelOptions = {}): Promise<OnnxSeedModel> {
    const { onnxRuntime, ...sessionOptions } = options;
    const ort = onnxRuntime ?? wasmOrt().ort;
    // 'wasm' names onnxruntime-web's backend even where onnxruntime-node is loaded too: the two share onnxruntime-common's
    // backend registry, where 'cpu' is onnxruntime-node's once it is imported.
    const settings: InferenceSession.SessionOptions = { executionProviders: [onnxRuntime ? 'cpu' : 'wasm'], intraOpNumThreads: 1, interOpNumThreads: 1, ...sessionOptions };
    const [encoder, decoder] = await Promise.all([ort.InferenceSession.create(encoderOnnx, settings), ort.InferenceSession.create(decoderStepOnnx, settings)]);
    return new OnnxSeedModel(config, ort, encoder, decoder);
  }

  /** historyTokens [S] (runtime/tokens.ts encoderTokens) → cross-attention keys/values and memory bias */
  async encode(historyTokens: Int32Array): Promise<EncoderResult> {
    const tokens = new this.ort.Tensor('int64', BigInt64Array.from(historyTokens, (t) => BigInt(t)), [1, historyTokens.length]);
    const out = await this.encoder.run({ history_tokens: tokens });
    return { crossK: out.cross_k, crossV: out.cross_v, memoryBias: out.memory_bias };
  }

  /** One request: encodes the history, then steps the decoder with the cache kept as ort tensors. */
  async session(historyTokens: Int32Array, options: DecoderSessionOptions = {}): Promise<DecoderSession> {
    return this.decoderSession(await this.encode(historyTokens), options);
  }

  /** A decoder over an encoder result already computed (several searches for one history share it). */
  decoderSession(encoded: EncoderResult, options: DecoderSessionOptions = {}): DecoderSession {
    const { decoderLayers, heads, dModel, codebookSize } = this.config;
    const cross = { cross_k: encoded.crossK, cross_v: encoded.crossV, memory_bias: encoded.memoryBias };
    return new OnnxDecoderSession(this.ort, this.decoder, cross, { decoderLayers, heads, headDim: dModel / heads, codebookSize }, { twoTokenSteps: options.twoTokenSteps ?? false });
  }

  async release(): Promise<void> {
    await Promise.all([this.encoder.release(), this.decoder.release()]);
  }
}
